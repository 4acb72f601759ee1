using System.Diagnostics.Metrics;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Telemetry;
using Detektor.Detection.Models;
using Detektor.Detection.Shedding;
using Detektor.Detection.Tests.Processors;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Detektor.Detection.Tests.Shedding;

/// <summary>
/// Load shedding in the real process role: three cameras send far more frames than the real ONNX detector can take on
/// one consumer. Shedding must start with the lowest priority, count every shed frame as skipped (load_shed), keep the
/// queue from overflowing (no frame dropped), and give the rate back once the load is gone.
/// </summary>
public sealed class LoadSheddingPipelineTests(ModelsFixture models)
{
    private static readonly string[] Cameras = ["low", "mid", "high"];

    [Fact]
    public async Task Pipeline_DetectorOverloaded_ShedsLowestPriorityFirstDropsNothingAndRecovers()
    {
        _ = models.OnnxPath(ModelCatalog.CenterNetModel);
        await using var sut = new PipelineHost(new()
        {
            ["Detektor:Detection:ModelsDirectory"] = models.Directory,
            ["Detektor:Detection:PullOnStart"] = "false",
            ["Detektor:Detection:FacesEnabled"] = "false",
            ["Detektor:Detection:Tracking:Enabled"] = "false",
            ["Detektor:Detection:MotionThreshold"] = "0",
            ["Detektor:Detection:IntraOpThreads"] = "1",
            ["Detektor:Detection:LoadShedding:Enabled"] = "true",
            ["Detektor:Detection:LoadShedding:MaxQueueWaitMs"] = "200",
            ["Detektor:Detection:LoadShedding:IntervalMs"] = "100",
            ["Detektor:Detection:LoadShedding:RecoverSeconds"] = "0.5",
            ["Detektor:Detection:Cameras:low:Priority"] = "0",
            ["Detektor:Detection:Cameras:mid:Priority"] = "5",
            ["Detektor:Detection:Cameras:high:Priority"] = "10",
            ["Detektor:Processing:Concurrency"] = "1",
            ["Detektor:Bus:FramesCapacity"] = "512",
        });
        await sut.StartAsync();
        await sut.WhenDetectorsLoaded;
        using var level = new MetricCollector<int>(sut.Services.GetRequiredService<IMeterFactory>(), TelemetryNames.Detection, "detektor.load_shed.level");
        var controller = sut.Services.GetRequiredService<LoadShedProcessor>().Controller;
        var frame = FrameSource.VideoFrame("vtest.avi", 5, 320, 240);
        var sequence = 0L;

        // Overload: 120 frames a second (40 per camera) for 6 s, against one consumer running the detector.
        var deepest = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var tick = 0; tick < 120; tick++)
        {
            foreach (var camera in Cameras)
            {
                for (var k = 0; k < 2; k++)
                {
                    await sut.PublishAsync(camera, sequence++, DateTimeOffset.UtcNow, 0.5, frame.Pixels, frame.Width, frame.Height);
                }
            }

            level.RecordObservableInstruments();
            foreach (var m in level.GetMeasurementSnapshot(clear: true))
            {
                var camera = (string)m.Tags[SemanticAttributes.CameraId]!;
                deepest[camera] = Math.Max(deepest.GetValueOrDefault(camera), m.Value);
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        List<FrameResult> results;
        try
        {
            results = await sut.WaitForResultsAsync((int)sequence);
        }
        catch (OperationCanceledException)
        {
            var got = sut.Results.GroupBy(r => (r.Metadata.CameraId, r.Outcome, r.Reason)).Select(g => $"{g.Key}={g.Count()}");
            Assert.Fail($"{sut.Results.Count} of {sequence} results after 2 min (level {controller.Level}): {string.Join(", ", got)}");
            throw;
        }

        var shed = results.Where(r => r.Outcome == FrameOutcome.Skipped && r.Reason == SkipReasons.LoadShed).ToList();
        var byCamera = Cameras.ToDictionary(c => c, c => shed.Count(r => r.Metadata.CameraId == c));
        Assert.True(byCamera["low"] > byCamera["high"], $"shed per camera: {string.Join(", ", byCamera)}");
        Assert.True(byCamera["low"] >= byCamera["mid"] && byCamera["mid"] >= byCamera["high"] - 1, $"shed per camera: {string.Join(", ", byCamera)}");
        Assert.Equal("low", shed.OrderBy(r => r.CompletedAt).First().Metadata.CameraId);
        Assert.True(deepest["low"] > 0, "the low camera's shed level was never above 0 in the metric");
        Assert.True(deepest["low"] >= deepest["high"]);
        Assert.Equal(shed.Count, sut.Events.Count(e => e.Type == FrameEventType.Skipped && e.Stage == LoadShedProcessor.ProcessorName && e.Reason == SkipReasons.LoadShed));
        Assert.DoesNotContain(sut.Events, e => e.Type == FrameEventType.Dropped);
        Assert.Equal(sequence, results.Count);
        Assert.Contains(results, r => r.Outcome == FrameOutcome.Processed && r.Metadata.CameraId == "low");

        // The load is gone: one frame per camera every 300 ms; the controller gives every step back.
        await Eventually.WaitAsync(
            async () =>
            {
                foreach (var camera in Cameras)
                {
                    await sut.PublishAsync(camera, sequence++, DateTimeOffset.UtcNow, 0.5, frame.Pixels, frame.Width, frame.Height);
                }

                await sut.WaitForResultsAsync((int)sequence);
                await Task.Delay(300, TestContext.Current.CancellationToken);
                return controller.Level;
            },
            l => l == 0,
            TimeSpan.FromSeconds(120),
            "the shed level back at 0");

        level.RecordObservableInstruments();
        Assert.All(level.GetMeasurementSnapshot(clear: true), m => Assert.Equal(0, m.Value));
        var after = results.Count;
        foreach (var camera in Cameras)
        {
            await sut.PublishAsync(camera, sequence++, DateTimeOffset.UtcNow, 0.5, frame.Pixels, frame.Width, frame.Height);
        }

        var last = (await sut.WaitForResultsAsync((int)sequence)).Skip(after).TakeLast(3).ToList();
        Assert.All(last, r => Assert.Equal(FrameOutcome.Processed, r.Outcome));
    }
}
