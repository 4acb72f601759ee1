using System.Diagnostics.Metrics;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Resilience;
using Detektor.Core.Telemetry;
using Detektor.Detection.Models;
using Detektor.Detection.Processors;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Detektor.Detection.Tests.Processors;

/// <summary>
/// The object detector's circuit breaker in the real process role with the real ONNX session. The fault: frames whose
/// pixels are shorter than their size says, on which the detector throws; removing it means sending whole frames again.
/// </summary>
public sealed class DetectorBreakerTests(ModelsFixture models)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Pipeline_DetectorKeepsFailingFailOpen_FramesSkippedAsUnavailableUntilTheProbeSucceeds()
    {
        await using var sut = await StartAsync(policy: null);
        var meters = sut.Services.GetRequiredService<IMeterFactory>();
        using var state = new MetricCollector<int>(meters, TelemetryNames.Core, "detektor.circuit_breaker.state");
        using var transitions = new MetricCollector<long>(meters, TelemetryNames.Core, "detektor.circuit_breaker.transitions");
        var breaker = sut.Services.GetRequiredService<CircuitBreakers>().Get(ObjectDetectionProcessor.ProcessorName);
        Assert.Equal(BreakerState.Closed, breaker.State);

        // Two failures open the breaker (MinimumThroughput 2); the third broken frame is not even tried.
        for (var i = 0; i < 3; i++)
        {
            await PublishBrokenAsync(sut, i);
        }

        var results = await sut.WaitForResultsAsync(3);

        Assert.All(results.Take(2), r => Assert.Equal(FrameOutcome.Failed, r.Outcome));
        Assert.Equal((FrameOutcome.Skipped, SkipReasons.DetectorUnavailable), (results[2].Outcome, results[2].Reason));
        Assert.Contains(sut.Events, e => e.Type == FrameEventType.Skipped && e.Stage == ObjectDetectionProcessor.ProcessorName
            && e.Reason == SkipReasons.DetectorUnavailable && e.FrameId == results[2].Metadata.FrameId);
        Assert.Equal(BreakerState.Open, breaker.State);
        state.RecordObservableInstruments();
        Assert.Equal(2, Latest(state, "objects"));

        // The fault is gone: after the break one whole frame is let through as the probe, and it closes the breaker.
        await WaitUntilProcessedAsync(sut, from: 3);

        Assert.Equal(BreakerState.Closed, breaker.State);
        state.RecordObservableInstruments();
        Assert.Equal(0, Latest(state, "objects"));
        Assert.Equal(
            ["open", "half_open", "closed"],
            transitions.GetMeasurementSnapshot().Where(m => (string?)m.Tags["breaker"] == "objects").Select(m => (string)m.Tags["state"]!).ToArray());
    }

    [Fact]
    public async Task Pipeline_DetectorKeepsFailingFailClosed_RefusedFramesFailAsCircuitOpenWithoutRetry()
    {
        await using var sut = await StartAsync(policy: "FailClosed");
        var breaker = sut.Services.GetRequiredService<CircuitBreakers>().Get(ObjectDetectionProcessor.ProcessorName);

        // MaxAttempts 2: the first broken frame fails twice, which opens the breaker; the second is refused.
        await PublishBrokenAsync(sut, 0);
        await PublishBrokenAsync(sut, 1);
        var results = await sut.WaitForResultsAsync(2);

        Assert.Equal(FrameOutcome.Failed, results[0].Outcome);
        Assert.StartsWith("InvalidOperationException", results[0].Reason, StringComparison.Ordinal);
        Assert.Equal((FrameOutcome.Failed, "circuit_open"), (results[1].Outcome, results[1].Reason));
        var refused = results[1].Metadata.FrameId;
        Assert.Single(sut.Events, e => e.FrameId == refused && e.Type == FrameEventType.ProcessingStarted && e.Stage == ObjectDetectionProcessor.ProcessorName);
        Assert.Single(sut.Events, e => e.FrameId == refused && e.Type == FrameEventType.ProcessingFailed && e.Reason == "circuit_open");
        Assert.DoesNotContain(sut.Events, e => e.Type == FrameEventType.Dropped);
        Assert.Equal(BreakerState.Open, breaker.State);

        await WaitUntilProcessedAsync(sut, from: 2);
        Assert.Equal(BreakerState.Closed, breaker.State);
    }

    private async Task<PipelineHost> StartAsync(string? policy)
    {
        _ = models.OnnxPath(ModelCatalog.CenterNetModel);
        var settings = new Dictionary<string, string?>
        {
            ["Detektor:Detection:ModelsDirectory"] = models.Directory,
            ["Detektor:Detection:PullOnStart"] = "false",
            ["Detektor:Detection:FacesEnabled"] = "false",
            ["Detektor:Detection:Tracking:Enabled"] = "false",
            ["Detektor:Detection:MotionThreshold"] = "0",
            ["Detektor:Processing:Concurrency"] = "1",
            ["Detektor:Resilience:Breakers:objects:MinimumThroughput"] = "2",
            ["Detektor:Resilience:Breakers:objects:FailureRatio"] = "1",
            ["Detektor:Resilience:Breakers:objects:BreakDurationSeconds"] = "3",
        };
        if (policy is not null)
        {
            settings["Detektor:Processing:Processors:objects:OnBreakerOpen"] = policy;
        }
        else
        {
            settings["Detektor:Processing:MaxAttempts"] = "1";
        }

        var host = new PipelineHost(settings);
        await host.StartAsync();
        await host.WhenDetectorsLoaded;
        return host;
    }

    private static Task PublishBrokenAsync(PipelineHost sut, int sequence) =>
        sut.PublishAsync("cam1", sequence, T0.AddMilliseconds(200 * sequence), null, new byte[16], 64, 48);

    /// <summary>Sends whole frames, one at a time, until one is processed by the detector again.</summary>
    private static async Task WaitUntilProcessedAsync(PipelineHost sut, int from)
    {
        var sequence = from;
        await Eventually.WaitAsync(
            async () =>
            {
                await sut.PublishAsync("cam1", sequence, T0.AddMilliseconds(200 * sequence), null, PipelineHost.Gray(64, 48), 64, 48);
                sequence++;
                return (await sut.WaitForResultsAsync(sequence))[^1];
            },
            r => r.Outcome == FrameOutcome.Processed,
            TimeSpan.FromSeconds(60),
            "a whole frame processed once the break is over");
    }

    private static int Latest(MetricCollector<int> state, string breaker) =>
        state.GetMeasurementSnapshot().Last(m => (string?)m.Tags["breaker"] == breaker).Value;
}
