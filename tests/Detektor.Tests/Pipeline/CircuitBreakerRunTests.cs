using System.Text.Json;
using Detektor.Core.Lifecycle;
using Detektor.Processing;
using Detektor.Processing.Pipeline;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Tests.Pipeline;

/// <summary>
/// A processor's circuit breaker in a whole <c>detektor run</c>: its state in <c>GET /api/v1/bus</c> and on <c>/metrics</c>,
/// frames passed on as skipped (detector_unavailable) while it is open, closed again once the fault is gone.
/// </summary>
[Collection(nameof(SerialMetricsCollection))]
public sealed class CircuitBreakerRunTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Run_ProcessorKeepsFailing_BreakerOpenInApiAndMetricsFramesSkippedThenClosesWhenFixed()
    {
        RequiredTool.Find("ffmpeg");
        var settings = new Dictionary<string, string?>
        {
            ["Detektor:CommandLineCameras:0:Fps"] = "10",
            ["Detektor:CommandLineCameras:0:Width"] = "64",
            ["Detektor:CommandLineCameras:0:Height"] = "48",
            ["Detektor:Hosting:JsonLogs"] = "false",
            ["Detektor:Processing:MaxAttempts"] = "1",
            ["Detektor:Resilience:Breakers:flaky:MinimumThroughput"] = "2",
            ["Detektor:Resilience:Breakers:flaky:FailureRatio"] = "1",
            ["Detektor:Resilience:Breakers:flaky:BreakDurationSeconds"] = "1",
        };
        await using var host = new PipelineHost(settings, [("cam1", "testsrc://")], b => b.AddFrameProcessor<FlakyProcessor>());
        await host.StartAsync();
        var flaky = host.App.Services.GetRequiredService<FlakyProcessor>();

        var open = await Eventually.WaitAsync(GetBusAsync, bus => Breaker(bus, "flaky") is ("open", _), TimeSpan.FromSeconds(60), "the flaky breaker open");

        Assert.Equal(("closed", true), Breaker(open, "store"));
        var metrics = await host.Http.GetStringAsync("metrics", Ct);
        Assert.Equal(2, State(metrics, "flaky"));
        // Not the store breaker's metric: every host in this test process has a "store" breaker, and OpenTelemetry's
        // listener reports the meters of hosts running in parallel too; /api/v1/bus (above) is this host's alone.
        Assert.Contains("detektor_circuit_breaker_state{", metrics, StringComparison.Ordinal);
        await Eventually.WaitAsync(
            GetBusAsync,
            bus => bus.GetProperty("skips").EnumerateArray().Any(s => s.GetProperty("reason").GetString() == SkipReasons.DetectorUnavailable && s.GetProperty("count").GetInt64() > 0),
            TimeSpan.FromSeconds(60),
            "frames skipped as detector_unavailable while open");

        flaky.Failing = false;
        await Eventually.WaitAsync(GetBusAsync, bus => Breaker(bus, "flaky") is ("closed", _), TimeSpan.FromSeconds(60), "the flaky breaker closed");
        Assert.Equal(0, State(await host.Http.GetStringAsync("metrics", Ct), "flaky"));

        async Task<JsonElement> GetBusAsync() => JsonDocument.Parse(await host.Http.GetStringAsync("api/v1/bus", Ct)).RootElement.Clone();
    }

    private static (string? State, bool Enabled)? Breaker(JsonElement bus, string name) =>
        bus.GetProperty("circuit_breakers").EnumerateArray()
            .Where(b => b.GetProperty("name").GetString() == name)
            .Select(b => ((string? State, bool Enabled)?)(b.GetProperty("state").GetString(), b.GetProperty("enabled").GetBoolean()))
            .FirstOrDefault();

    /// <summary>The value of <c>detektor_circuit_breaker_state{breaker="name"}</c> in the Prometheus text.</summary>
    private static int State(string metrics, string breaker)
    {
        var line = metrics.Split('\n').Single(l => l.StartsWith("detektor_circuit_breaker_state{", StringComparison.Ordinal) && l.Contains($"breaker=\"{breaker}\"", StringComparison.Ordinal));
        return int.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A processor behind a circuit breaker that throws until told to stop.</summary>
    public sealed class FlakyProcessor : FrameProcessor
    {
        private volatile bool _failing = true;

        public bool Failing
        {
            get => _failing;
            set => _failing = value;
        }

        public override string Name => "flaky";

        public override bool UsesCircuitBreaker => true;

        public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken) =>
            Failing ? throw new InvalidOperationException("the remote service is down") : ValueTask.FromResult(ProcessorResult.Continue);
    }
}

/// <summary>
/// Tests that read a metric every host exports (a breaker named "store", "flaky"): OpenTelemetry's listener sees the meters
/// of every host in the test process, and same-named instruments of parallel hosts collide, so these run alone.
/// </summary>
[CollectionDefinition(nameof(SerialMetricsCollection), DisableParallelization = true)]
public sealed class SerialMetricsCollection;
