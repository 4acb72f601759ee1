using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Detection.Detectors;
using Detektor.Detection.Models;
using Detektor.Detection.Processors;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Detection.Tests.Processors;

public class DetectionProcessorsTests(ModelsFixture models)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    /// <summary>The gates' frames at 10 fps: four still frames, one without a score (counts as motion), then five moving frames.</summary>
    internal static readonly double?[] GateFrames = [0.0, 0.001, 0.005, 0.009, null, 0.5, 0.5, 0.5, 0.5, 0.5];

    /// <summary>How the chain ends <see cref="GateFrames"/> with <see cref="GatesSettings"/>.</summary>
    internal static readonly string[] ChainOutcomes = ["no_motion", "no_motion", "no_motion", "no_motion", "processed", "fps", "processed", "fps", "processed", "fps"];

    /// <summary>The gates' tests: no faces, motion threshold 0.01, cam1 at 5 detect fps, one consumer (outcomes in order).</summary>
    private Dictionary<string, string?> GatesSettings() => new()
    {
        ["Detektor:Detection:ModelsDirectory"] = models.Directory,
        ["Detektor:Detection:PullOnStart"] = "false",
        ["Detektor:Detection:FacesEnabled"] = "false",
        ["Detektor:Detection:MotionThreshold"] = "0.01",
        ["Detektor:Detection:Cameras:cam1:DetectFps"] = "5",
        ["Detektor:Processing:Concurrency"] = "1",
    };

    [Fact]
    public async Task Pipeline_NoMotionAndDetectFps_AreCountedSkipsInTheLifecycle()
    {
        _ = models.OnnxPath(ModelCatalog.CenterNetModel);
        await using var sut = new PipelineHost(GatesSettings());
        await sut.StartAsync();
        await sut.WhenDetectorsLoaded;
        var pixels = PipelineHost.Gray(64, 48);

        var motion = GateFrames;
        for (var i = 0; i < motion.Length; i++)
        {
            await sut.PublishAsync("cam1", i, T0.AddMilliseconds(100 * i), motion[i], pixels, 64, 48);
        }

        var results = await sut.WaitForResultsAsync(motion.Length);

        var bySequence = results.OrderBy(r => r.Metadata.Sequence).Select(r => r.Outcome == FrameOutcome.Processed ? "processed" : r.Reason).ToArray();
        Assert.Equal(ChainOutcomes, bySequence);
        var skipped = sut.Events.Where(e => e.Type == FrameEventType.Skipped).ToList();
        Assert.Equal(4, skipped.Count(e => e.Reason == SkipReasons.NoMotion && e.Stage == MotionGateProcessor.ProcessorName));
        Assert.Equal(3, skipped.Count(e => e.Reason == SkipReasons.Fps && e.Stage == DetectFpsProcessor.ProcessorName));
        Assert.Equal(7, skipped.Count);
    }

    [Fact]
    public async Task Pipeline_FramesGatedAtCapture_SameOutcomesAsTheChainAloneWithFewerFramesPublished()
    {
        // The frames of the test above. Capture's gate decides first; only what it lets through reaches the chain. Every
        // frame must end as it does when the chain sees them all: the same frames detected, the same skip reasons.
        _ = models.OnnxPath(ModelCatalog.CenterNetModel);
        await using var sut = new PipelineHost(GatesSettings());
        await sut.StartAsync();
        await sut.WhenDetectorsLoaded;
        var gate = ActivatorUtilities.CreateInstance<DetectionCaptureGate>(sut.Services);
        var pixels = PipelineHost.Gray(64, 48);
        var motion = GateFrames;

        var outcomes = new string?[motion.Length];
        var published = 0;
        for (var i = 0; i < motion.Length; i++)
        {
            var at = T0.AddMilliseconds(100 * i);
            outcomes[i] = gate.SkipReason(new Core.Frames.FrameMetadata
            {
                FrameId = new Core.Frames.FrameIdGenerator(TimeProvider.System).Next("cam1", i),
                CameraId = "cam1",
                CaptureTime = at,
                MotionScore = motion[i],
            });
            if (outcomes[i] is null)
            {
                await sut.PublishAsync("cam1", i, at, motion[i], pixels, 64, 48);
                published++;
            }
        }

        foreach (var result in await sut.WaitForResultsAsync(published))
        {
            outcomes[result.Metadata.Sequence] = result.Outcome == FrameOutcome.Processed ? "processed" : result.Reason;
        }

        Assert.Equal(ChainOutcomes, outcomes);
        Assert.Equal(5, published);
    }

    [Fact]
    public async Task Pipeline_VtestFrame_AddsPersonAndCarDetectionsToTheResult()
    {
        await using var sut = new PipelineHost(new()
        {
            ["Detektor:Detection:ModelsDirectory"] = models.Directory,
            ["Detektor:Detection:PullOnStart"] = "false",
        });
        _ = models.OnnxPath(ModelCatalog.CenterNetModel);
        await sut.StartAsync();
        await sut.WhenDetectorsLoaded;
        var frame = FrameSource.VideoFrame("vtest.avi", 5, 768, 576);

        await sut.PublishAsync("front", 1, T0, 0.2, frame.Pixels, frame.Width, frame.Height);
        var result = Assert.Single(await sut.WaitForResultsAsync(1));

        Assert.Equal(FrameOutcome.Processed, result.Outcome);
        Assert.True(result.Detections.Count(d => d.Label == "person" && d.Source == "objects") >= 4, string.Join("; ", result.Detections));
        Assert.Contains(result.Detections, d => d.Label == "car");
        var detected = Assert.Single(sut.Events, e => e.Type == FrameEventType.Detected && e.Stage == ObjectDetectionProcessor.ProcessorName);
        Assert.Contains("\"person\":", detected.Data, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pipeline_Messi_FindsTheFaceInsideThePersonBox()
    {
        await using var sut = new PipelineHost(new()
        {
            ["Detektor:Detection:ModelsDirectory"] = models.Directory,
            ["Detektor:Detection:PullOnStart"] = "false",
        });
        _ = models.OnnxPath(ModelCatalog.BlazeFaceModel);
        await sut.StartAsync();
        await sut.WhenDetectorsLoaded;
        var image = FrameSource.Image("messi5.jpg");

        await sut.PublishAsync("pitch", 1, T0, null, image.Pixels, image.Width, image.Height);
        var result = Assert.Single(await sut.WaitForResultsAsync(1));

        Assert.Equal(FrameOutcome.Processed, result.Outcome);
        var faces = result.Detections.Where(d => d.Source == FaceDetectionProcessor.ProcessorName).ToList();
        Assert.NotEmpty(faces);
        var persons = result.Detections.Where(d => d.Label == "person").ToList();
        Assert.All(faces, f => Assert.Contains(persons, p => p.Box.IoU(f.Box) > 0 && f.Box.Area < p.Box.Area));
        Assert.Contains(sut.Events, e => e.Type == FrameEventType.Detected && e.Stage == FaceDetectionProcessor.ProcessorName);
    }

    [Fact]
    public async Task Pipeline_RegistryUnreachable_DetectorDisabledAndFramesSkippedAsUnavailable()
    {
        using var empty = new TempDirectory();
        await using var sut = new PipelineHost(new()
        {
            ["Detektor:Detection:ModelsDirectory"] = empty.Path,
            ["Detektor:Detection:RegistryUrl"] = PipelineHost.ClosedPortUrl(),
        });
        await sut.StartAsync();
        await sut.WhenDetectorsLoaded;

        for (var i = 0; i < 3; i++)
        {
            await sut.PublishAsync("cam1", i, T0.AddSeconds(i), 0.5, PipelineHost.Gray(64, 48), 64, 48);
        }

        var results = await sut.WaitForResultsAsync(3);

        Assert.All(results, r => Assert.Equal((FrameOutcome.Skipped, SkipReasons.DetectorUnavailable), (r.Outcome, r.Reason)));
        Assert.Equal(3, sut.Events.Count(e => e.Type == FrameEventType.Skipped && e.Reason == SkipReasons.DetectorUnavailable));
        var runtime = sut.Services.GetRequiredService<DetectorRuntime>();
        Assert.Equal(DetectorState.Unavailable, runtime.ObjectsStatus.State);
        var log = Assert.Single(sut.Logs.GetSnapshot(), r => r.Message.Contains("Detector objects is unavailable", StringComparison.Ordinal));
        Assert.Contains("could not be pulled", log.Message, StringComparison.Ordinal);
        var health = await sut.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == "detector:objects", TestContext.Current.CancellationToken);
        Assert.Equal(HealthStatus.Degraded, health.Entries["detector:objects"].Status);
    }
}
