using Detektor.Bus;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Routing;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Detection.Processors;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Tests.Processors;

/// <summary>Detection's gates at capture decide exactly as the chain's gates would, and are registered only when asked for.</summary>
public class DetectionCaptureGateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    private static readonly FrameIdGenerator Ids = new(TimeProvider.System);

    private static FrameMetadata Frame(string camera, long sequence, DateTimeOffset at, double? motion) => new()
    {
        FrameId = Ids.Next(camera, sequence),
        CameraId = camera,
        CaptureTime = at,
        Width = 64,
        Height = 48,
        SizeBytes = 64 * 48 * 3 / 2,
        Sequence = sequence,
        MotionScore = motion,
    };

    private static DetectionCaptureGate Gate(DetectionOptions detection, BusOptions? bus = null) =>
        new(Options.Create(detection), new FrameRouter(Options.Create(bus ?? new BusOptions())));

    [Fact]
    public void SkipReason_TheChainsFrames_SkipsWhatTheChainWouldAndPublishesOneStillFramePerInterval()
    {
        // The frames of DetectionProcessorsTests.Pipeline_NoMotionAndDetectFps_AreCountedSkipsInTheLifecycle (10 fps, 5
        // detect fps), which the chain decides as no_motion ×4, processed, then fps and processed in turn. Capture skips the
        // moving frames the chain skips fps, and publishes every other still frame, for the tracker's clock.
        var options = new DetectionOptions { MotionThreshold = 0.01 };
        options.Cameras["cam1"] = new CameraDetectionOptions { DetectFps = 5 };
        var sut = Gate(options);
        var decisions = DetectionProcessorsTests.GateFrames.Select((m, i) => sut.SkipReason(Frame("cam1", i, T0.AddMilliseconds(100 * i), m)) ?? "published").ToArray();

        Assert.Equal(["published", "no_motion", "published", "no_motion", "published", "fps", "published", "fps", "published", "fps"], decisions);
    }

    [Fact]
    public void SkipReason_NoDetectFps_PublishesEveryFrame()
    {
        var sut = Gate(new DetectionOptions { MotionThreshold = 0.01 });

        var published = Enumerable.Range(0, 30).Count(i => sut.SkipReason(Frame("cam", i, T0.AddMilliseconds(33 * i), i % 2 == 0 ? 0.0 : 0.5)) is null);

        Assert.Equal(30, published);
    }

    [Fact]
    public void SkipReason_CamerasKeepTheirOwnRateAndThreshold()
    {
        var options = new DetectionOptions { MotionThreshold = 0.01, DetectFps = 2 };
        options.Cameras["still-ok"] = new CameraDetectionOptions { MotionThreshold = 0 };
        options.Cameras["every"] = new CameraDetectionOptions { DetectFps = 0 };
        var sut = Gate(options);

        // 10 fps for one second each: the global 2 fps admits frames 0 and 5.
        var global = Enumerable.Range(0, 10).Count(i => sut.SkipReason(Frame("a", i, T0.AddMilliseconds(100 * i), 0.5)) is null);
        var every = Enumerable.Range(0, 10).Count(i => sut.SkipReason(Frame("every", i, T0.AddMilliseconds(100 * i), 0.5)) is null);
        // Threshold 0: a still frame counts as moving, so the second one within the interval is skipped fps, not no_motion.
        var stillOk = Enumerable.Range(0, 2).Select(i => sut.SkipReason(Frame("still-ok", i, T0.AddMilliseconds(100 * i), 0.0))).ToList();
        var stillElsewhere = Enumerable.Range(0, 2).Select(i => sut.SkipReason(Frame("b", i, T0.AddMilliseconds(100 * i), 0.0))).ToList();

        Assert.Equal(2, global);
        Assert.Equal(10, every);
        Assert.Equal([null, SkipReasons.Fps], stillOk);
        Assert.Equal([null, SkipReasons.NoMotion], stillElsewhere);
    }

    [Fact]
    public void SkipReason_CameraRoutedToACapability_IsLeftToItsProcessors()
    {
        var bus = new BusOptions();
        bus.Routes["lpr"] = "plates";
        var sut = Gate(new DetectionOptions { MotionThreshold = 0.01, DetectFps = 1 }, bus);

        var routed = Enumerable.Range(0, 10).Select(i => sut.SkipReason(Frame("lpr", i, T0.AddMilliseconds(100 * i), 0.0))).ToList();
        var other = Enumerable.Range(0, 10).Select(i => sut.SkipReason(Frame("yard", i, T0.AddMilliseconds(100 * i), 0.5))).ToList();

        Assert.All(routed, Assert.Null);
        Assert.Equal(9, other.Count(r => r == SkipReasons.Fps));
    }

    [Theory]
    [InlineData(null, null, true)]
    [InlineData("false", null, false)]
    [InlineData(null, "false", false)]
    [InlineData("true", "true", true)]
    public void AddDetectionCaptureGate_RegistersTheGateUnlessDetectionOrGateAtCaptureIsOff(string? enabled, string? atCapture, bool expected)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Detektor:Detection:Enabled"] = enabled,
            ["Detektor:Detection:GateAtCapture"] = atCapture,
        });
        builder.AddInProcessBus();

        builder.AddDetectionCaptureGate();
        using var host = builder.Build();

        Assert.Equal(expected, host.Services.GetService<ICaptureGate>() is DetectionCaptureGate);
    }

    [Fact]
    public void AddDetectionCaptureGate_WithTheRuntime_BindsTheOptionsOnce()
    {
        // Binding twice would append every list item twice (the configuration binder adds to a list it finds).
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Detektor:Detection:Labels:0"] = "person",
            ["Detektor:Detection:Labels:1"] = "car",
            ["Detektor:Detection:PullOnStart"] = "false",
        });
        builder.AddInProcessBus();

        builder.AddDetectionCaptureGate();
        builder.AddDetectionRuntime();
        using var host = builder.Build();

        Assert.Equal(["person", "car"], host.Services.GetRequiredService<IOptions<DetectionOptions>>().Value.Labels);
    }

    [Fact]
    public void AddDetectionCaptureGate_OutOfRangeDetectFps_FailsAtStartNamingTheKey()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Detektor:Detection:DetectFps"] = "500" });
        builder.AddInProcessBus();
        builder.AddDetectionCaptureGate();
        using var host = builder.Build();

        var ex = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<DetectionOptions>>().Value);

        Assert.Contains("Detektor:Detection:DetectFps: 500 is out of range", ex.Message, StringComparison.Ordinal);
    }
}
