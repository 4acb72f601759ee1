using System.Net;
using System.Text.Json;
using Detektor.Core.Health;
using Detektor.Core.Hosting.Supervision;
using Detektor.Hosting.Health;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Hosting.Tests;

/// <summary>Checks registered and unregistered at run time, seen on the probes and in the health metric; loop checks.</summary>
[Collection(DefaultsHost.Collection)]
public sealed class HealthRegistryEndpointTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private DefaultsHost? _host;

    private HttpClient Http => _host!.Http;

    private HealthRegistry Registry => _host!.Services.GetRequiredService<HealthRegistry>();

    public async ValueTask InitializeAsync() =>
        _host = await DefaultsHost.StartAsync(("Detektor:Supervisor:MaxRestarts", "1"), ("Detektor:Supervisor:BackoffInitial", "00:00:00.010"));

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }

    private sealed class Switchable(HealthStatus status) : IHealthCheck
    {
        public HealthStatus Status { get; set; } = status;

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(new HealthCheckResult(Status, "set by the test"));
    }

    private async Task<(HttpStatusCode Code, JsonElement Body)> GetAsync(string path)
    {
        using var response = await Http.GetAsync(path, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    private static string? CheckOf(JsonElement body, string name) =>
        body.GetProperty("checks").TryGetProperty(name, out var value) ? value.GetString() : null;

    private static string MetricLine(string check, string status, int value) => $"check=\"{check}\",health_status=\"{status}\"}} {value}";

    [Fact]
    public async Task Register_AtRunTime_ShowsOnProbesAndInTheMetricThenGoesAway()
    {
        var check = new Switchable(HealthStatus.Healthy);
        var handle = Registry.Register("queue:extra", check, HealthTags.Ready);

        var (_, body) = await GetAsync("ready");
        Assert.Equal("healthy", CheckOf(body, "queue:extra"));
        await Eventually.WaitAsync(
            () => Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => m.Contains(MetricLine("queue:extra", "healthy", 1), StringComparison.Ordinal),
            Wait,
            "the new check in detektor_health_check_status");

        check.Status = HealthStatus.Unhealthy;
        var (code, unready) = await GetAsync("ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, code);
        Assert.Equal("unhealthy", CheckOf(unready, "queue:extra"));
        var (liveCode, live) = await GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, liveCode); // a ready check never fails liveness
        Assert.Equal("degraded", live.GetProperty("status").GetString());
        await Eventually.WaitAsync(
            () => Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => m.Contains(MetricLine("queue:extra", "unhealthy", 1), StringComparison.Ordinal),
            Wait,
            "the state change in detektor_health_check_status");

        handle.Dispose();
        Assert.Null(CheckOf((await GetAsync("health")).Body, "queue:extra"));
        await Eventually.WaitAsync(
            () => Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => !m.Contains("check=\"queue:extra\"", StringComparison.Ordinal),
            Wait,
            "the removed check gone from detektor_health_check_status");
    }

    [Fact]
    public async Task Health_Defaults_IncludeDiskAndMemoryChecksWithDetails()
    {
        var (code, body) = await GetAsync("health");

        Assert.Equal(HttpStatusCode.OK, code);
        Assert.NotNull(CheckOf(body, DiskSpaceHealthCheck.Name));
        Assert.NotNull(CheckOf(body, MemoryHealthCheck.Name));
        var details = body.GetProperty("metadata").GetProperty("check_details");
        Assert.True(details.GetProperty(DiskSpaceHealthCheck.Name).GetProperty("data").GetProperty("total_bytes").GetInt64() > 0);
        Assert.True(details.GetProperty(MemoryHealthCheck.Name).GetProperty("data").GetProperty("working_set_bytes").GetInt64() > 0);
        var (_, ready) = await GetAsync("ready");
        Assert.NotNull(CheckOf(ready, DiskSpaceHealthCheck.Name)); // tagged ready
    }

    [Fact]
    public async Task SupervisedLoop_FailsAfterMaxRestarts_LivenessAnswers503NamingTheLoop()
    {
        var supervisor = _host!.Services.GetRequiredService<LoopSupervisor>();
        using var stop = new CancellationTokenSource();
        var run = supervisor.RunAsync("doomed", (_, _) => throw new InvalidOperationException("always"), stop.Token);

        var (code, body) = await Eventually.WaitAsync(
            () => GetAsync("health"), r => r.Code == HttpStatusCode.ServiceUnavailable, Wait, "/health 503 for the failed loop");
        Assert.Equal("unhealthy", body.GetProperty("status").GetString());
        Assert.Equal("unhealthy", CheckOf(body, "loop:doomed"));
        var detail = body.GetProperty("metadata").GetProperty("check_details").GetProperty("loop:doomed").GetProperty("data");
        Assert.Equal("failed", detail.GetProperty("state").GetString());
        Assert.Equal(1, detail.GetProperty("restarts").GetInt64());
        Assert.Contains("always", detail.GetProperty("last_error").GetString(), StringComparison.Ordinal);
        await Eventually.WaitAsync(
            () => Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => m.Contains("loop=\"doomed\",state=\"failed\"} 1", StringComparison.Ordinal)
                 && m.Contains("loop=\"doomed\",reason=\"fault\"} 1", StringComparison.Ordinal),
            Wait,
            "the failed state and the restart in /metrics");

        await stop.CancelAsync();
        await run.WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync("health")).Code);
    }
}
