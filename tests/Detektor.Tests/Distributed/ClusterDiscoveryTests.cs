using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Detektor.Bus.Redis;
using Detektor.Bus.Registry;
using Detektor.Core;
using Detektor.Testing;
using Microsoft.Extensions.Options;
using CliProcess = Detektor.Tests.Cli.DetektorProcess;

namespace Detektor.Tests.Distributed;

/// <summary>
/// Discovery with real processes and a real Redis: every instance registers itself; <c>detektor cluster status</c> and
/// <c>detektor health --all</c> read the registry (from Redis or through an instance's API); a real Prometheus discovers
/// the instances through <c>GET /api/v1/discovery/prometheus</c>.
/// </summary>
public sealed class ClusterDiscoveryTests
{
    private static string[] Common(RedisServer redis) => ["--redis", redis.Endpoint, "--set", "Detektor:Bus:Registry:TtlSeconds=3"];

    [Fact]
    public async Task ClusterStatusAndHealthAll_TwoInstancesOverRedis_ListBothHealthyAndPrometheusScrapesBoth()
    {
        var prometheusBinary = RequiredTool.Find("prometheus");
        await using var redis = await RedisServer.StartAsync();
        await using var store = DetektorProcess.Start("store", ["--roles", "store,api", .. Common(redis)]);
        await using var processor = DetektorProcess.Start("process", ["--roles", "process", .. Common(redis)]);
        await Task.WhenAll(store.WaitReadyAsync(), processor.WaitReadyAsync());
        await WaitForInstancesAsync(store, 2);

        var (statusCode, status, statusErr) = await CliProcess.RunAsync("cluster", "status", "--redis", redis.Endpoint);
        Assert.True(statusCode == 0, statusErr);
        var storeRow = Assert.Single(status.Split('\n'), l => l.StartsWith(store.InstanceId + " ", StringComparison.Ordinal));
        Assert.Equal(["detektor-store-api", "store,api", $"http://127.0.0.1:{store.Port}"], storeRow.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..4]);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{processor.Port}"), status, StringComparison.Ordinal);
        Assert.Contains("2 instance(s)", status, StringComparison.Ordinal);

        foreach (var source in new[] { new[] { "--redis", redis.Endpoint }, ["--server", $"http://127.0.0.1:{store.Port}"] })
        {
            var (code, output, err) = await CliProcess.RunAsync(["health", "--all", .. source]);
            Assert.True(code == 0, output + err);
            Assert.Contains("2 instance(s), 0 unhealthy or unreachable", output, StringComparison.Ordinal);
            Assert.Contains(processor.InstanceId, output, StringComparison.Ordinal);
        }

        // Prometheus HTTP service discovery: the real Prometheus finds and scrapes both instances.
        using var sd = await store.GetJsonAsync("api/v1/discovery/prometheus");
        var targets = sd.RootElement.EnumerateArray().Select(g => g.GetProperty("targets")[0].GetString()).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(new[] { $"127.0.0.1:{processor.Port}", $"127.0.0.1:{store.Port}" }.Order(StringComparer.Ordinal), targets);
        await using var prometheus = await PrometheusProcess.StartAsync(prometheusBinary, $"http://127.0.0.1:{store.Port}/api/v1/discovery/prometheus");
        var up = await Eventually.WaitAsync(
            prometheus.UpTargetsAsync, t => t.Count == 2, TimeSpan.FromSeconds(90), "Prometheus to scrape both discovered instances");
        Assert.Equal(targets, up.Order(StringComparer.Ordinal));

        // kill -9: the instance stops heartbeating and leaves the registry after its TTL.
        await processor.KillAsync();
        await WaitForInstancesAsync(store, 1);
    }

    [Fact]
    public async Task HealthAll_ARegisteredInstanceDoesNotAnswer_ExitsOneAndNamesIt()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var store = DetektorProcess.Start("store", ["--roles", "store,api", .. Common(redis)]);
        await store.WaitReadyAsync();
        var redisOptions = Options.Create(new RedisBusOptions { Configuration = redis.Endpoint });
        await using var connection = new RedisConnection(redisOptions, new ServiceIdentity("test"));
        var registry = new RedisInstanceRegistry(connection, redisOptions, Options.Create(new RegistryOptions { TtlSeconds = 300 }));
        var gone = $"http://127.0.0.1:{FreePort.Next()}";
        await registry.RegisterAsync(new InstanceRegistration("ghost-1", "detektor-process", ["process"], gone, "0.1.0"), TestContext.Current.CancellationToken);
        await WaitForInstancesAsync(store, 2);

        var (code, output, err) = await CliProcess.RunAsync("health", "--all", "--redis", redis.Endpoint);

        Assert.True(code == 1, output + err);
        var ghost = Assert.Single(output.Split('\n'), l => l.StartsWith("ghost-1", StringComparison.Ordinal));
        Assert.Contains("unreachable", ghost, StringComparison.Ordinal);
        Assert.Contains(gone, ghost, StringComparison.Ordinal);
        Assert.Contains("2 instance(s), 1 unhealthy or unreachable", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthAll_RegistryUnreachable_ExitsTwo()
    {
        var (code, _, err) = await CliProcess.RunAsync("health", "--all", "--server", $"http://127.0.0.1:{FreePort.Next()}");

        Assert.Equal(2, code);
        Assert.Contains("cannot read the instance registry", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_AdvertiseUrlNotHttp_ExitsTwoNamingTheKey()
    {
        using var dir = new TempDirectory("detektor-advertise");

        var (code, _, err) = await CliProcess.RunAsync(
            "run", "--urls", $"http://127.0.0.1:{FreePort.Next()}", "--data-dir", dir.Path, "--set", "Detektor:Discovery:AdvertiseUrl=ftp://box");

        Assert.Equal(2, code);
        Assert.Contains("configuration error: Detektor:Discovery:AdvertiseUrl: 'ftp://box' is not an absolute http(s) URL", err, StringComparison.Ordinal);
    }

    private static Task<int> WaitForInstancesAsync(DetektorProcess api, int count) =>
        Eventually.WaitAsync(
            async () =>
            {
                using var doc = await api.GetJsonAsync("api/v1/discovery/instances");
                return doc.RootElement.GetProperty("instances").GetArrayLength();
            },
            n => n == count,
            TimeSpan.FromSeconds(60),
            $"{count} registered instance(s)");

    /// <summary>Debian's Prometheus with one http_sd_configs job, scraping every second, on a free port and a temp TSDB.</summary>
    private sealed class PrometheusProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly TempDirectory _dir;
        private readonly HttpClient _http;

        private PrometheusProcess(Process process, TempDirectory dir, int port)
        {
            _process = process;
            _dir = dir;
            _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        }

        public static async Task<PrometheusProcess> StartAsync(string binary, string sdUrl)
        {
            var dir = new TempDirectory("detektor-prometheus");
            var config = dir.Combine("prometheus.yml");
            await File.WriteAllTextAsync(config, $"""
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: detektor
                    http_sd_configs:
                      - url: {sdUrl}
                        refresh_interval: 1s
                """);
            var port = FreePort.Next();
            var start = new ProcessStartInfo(binary)
            {
                ArgumentList = { $"--config.file={config}", $"--storage.tsdb.path={dir.Combine("tsdb")}", $"--web.listen-address=127.0.0.1:{port}" },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            var process = Process.Start(start)!;
            process.ErrorDataReceived += (_, _) => { };
            process.OutputDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            return new PrometheusProcess(process, dir, port);
        }

        /// <summary>host:port of the active targets whose last scrape succeeded.</summary>
        public async Task<IReadOnlyList<string>> UpTargetsAsync()
        {
            try
            {
                using var doc = JsonDocument.Parse(await _http.GetStringAsync("/api/v1/targets"));
                return [.. doc.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray()
                    .Where(t => t.GetProperty("health").GetString() == "up")
                    .Select(t => t.GetProperty("labels").GetProperty("instance").GetString()!)];
            }
            catch (HttpRequestException)
            {
                return [];
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
            _http.Dispose();
            _dir.Dispose();
        }
    }
}
