using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Detektor.Api.Discovery;
using Detektor.Bus.Redis;
using Detektor.Bus.Registry;
using Detektor.Core;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Detektor.Cli;

/// <summary><c>detektor cluster status</c>: every registered instance with its roles, address, version, heartbeat and health.</summary>
internal static class ClusterCommand
{
    public static Command Create()
    {
        var server = ServerOption.Create();
        var redis = Cluster.RedisOption();
        var status = new Command("status", "List every registered Detektor instance (the discovery registry) with its health; exits 2 when the registry cannot be read.")
        {
            server, redis,
        };
        status.SetAction(async (parse, ct) =>
        {
            if (await Cluster.TryListAsync(parse.GetValue(redis), parse.GetValue(server)!, ct) is not { } instances)
            {
                return 2;
            }

            var now = DateTimeOffset.UtcNow;
            var health = await Cluster.ProbeAllAsync(instances, "health", ct);
            var rows = instances.Zip(health, (i, h) => new[]
            {
                i.Id, i.Service, string.Join(',', i.Roles), i.Url, i.Version,
                string.Create(CultureInfo.InvariantCulture, $"{Math.Max(0, (now - i.LastHeartbeat).TotalSeconds):0}s ago"), h.Status,
            });
            await Console.Out.WriteAsync(Cluster.Table(["INSTANCE", "SERVICE", "ROLES", "URL", "VERSION", "HEARTBEAT", "HEALTH"], rows));
            await Console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{instances.Count} instance(s)"));
            return 0;
        });
        return new Command("cluster", "The Detektor instances of this installation.") { status };
    }
}

/// <summary>Reading the instance registry (through Redis or an instance's discovery API) and probing every instance.</summary>
internal static class Cluster
{
    public static Option<string> RedisOption() => new("--redis")
    {
        Description = "Read the instance registry straight from Redis (HOST:PORT, key prefix detektor:) instead of asking --server.",
    };

    /// <summary>The registered instances, or null (after printing why) when the registry cannot be read.</summary>
    public static async Task<IReadOnlyList<InstanceResponse>?> TryListAsync(string? redis, string server, CancellationToken ct)
    {
        try
        {
            if (!string.IsNullOrWhiteSpace(redis))
            {
                var redisOptions = Options.Create(new RedisBusOptions { Configuration = redis });
                await using var connection = new RedisConnection(redisOptions, new ServiceIdentity("detektor-cli"));
                var registry = new RedisInstanceRegistry(connection, redisOptions, Options.Create(new RegistryOptions()));
                return [.. (await registry.ListAsync(ct)).Select(InstanceResponse.From)];
            }

            using var client = ServerOption.Client(server);
            var list = await client.GetFromJsonAsync<InstanceListResponse>("api/v1/discovery/instances", ct);
            return list?.Instances ?? [];
        }
        catch (Exception ex) when (ex is RedisException or HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
        {
            await Console.Error.WriteLineAsync($"detektor: cannot read the instance registry from {(string.IsNullOrWhiteSpace(redis) ? server : "Redis " + redis)}: {ex.Message}");
            return null;
        }
    }

    /// <summary>Every instance's probe, in parallel, 5 s each: status healthy/degraded/unhealthy or unreachable, and the checks that are not healthy.</summary>
    public static async Task<IReadOnlyList<(string Status, string Detail)>> ProbeAllAsync(IReadOnlyList<InstanceResponse> instances, string probe, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        return await Task.WhenAll(instances.Select(i => ProbeAsync(http, i.Url, probe, ct)));
    }

    private static async Task<(string Status, string Detail)> ProbeAsync(HttpClient http, string url, string probe, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(url.TrimEnd('/') + "/" + probe, ct);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
            var status = doc.RootElement.GetProperty("status").GetString() ?? "unknown";
            var bad = doc.RootElement.GetProperty("checks").EnumerateObject()
                .Where(c => c.Value.GetString() != "healthy")
                .Select(c => $"{c.Name}={c.Value.GetString()}");
            // A 503 from the probe means unhealthy for that probe, whatever the body's overall status says.
            return (response.IsSuccessStatusCode ? status : "unhealthy", string.Join(' ', bad));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return ("unreachable", ex.Message);
        }
    }

    public static string Table(string[] header, IEnumerable<string[]> rows)
    {
        var all = new List<string[]> { header };
        all.AddRange(rows);
        var widths = Enumerable.Range(0, header.Length).Select(c => all.Max(r => r[c].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in all)
        {
            text.AppendLine(string.Join("  ", row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
        }

        return text.ToString();
    }
}
