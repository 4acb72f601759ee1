using Detektor.Core.Configuration;
using Microsoft.Extensions.Configuration;

namespace Detektor.Detection.Tests;

public class DetectionOptionsTests
{
    private static IReadOnlyList<string> Failures(DetectionOptions options)
    {
        var keyed = new KeyedDataAnnotationsValidator<DetectionOptions>(DetectionOptions.SectionName).Validate(null, options);
        var custom = new DetectionOptionsValidator().Validate(null, options);
        return [.. (keyed.Failures ?? []).Concat(custom.Failures ?? [])];
    }

    [Fact]
    public void Validate_Defaults_Pass()
    {
        Assert.Empty(Failures(new DetectionOptions()));
    }

    [Fact]
    public void Validate_BadValues_NameTheFullKeyAndWhatIsAllowed()
    {
        var options = new DetectionOptions
        {
            MinScore = 2,
            ObjectModelLayout = "yolov9",
            ObjectModel = "/nope/model.onnx",
            ExecutionProviders = ["cpu", "rocm"],
            InferenceMemory = "tiny",
            Labels = ["person", "unicorn"],
            MinScores = new Dictionary<string, double> { ["car"] = 1.5 },
            Cameras = new Dictionary<string, CameraDetectionOptions>
            {
                ["front"] = new() { DetectFps = 500, MotionThreshold = -1, Labels = ["dragon"] },
                ["bad name!"] = new(),
            },
        };

        var failures = Failures(options);

        Assert.Contains("Detektor:Detection:MinScore: 2 is out of range; allowed 0.01 to 1.", failures);
        Assert.Contains("Detektor:Detection:ObjectModelLayout: 'yolov9' is not allowed; use one of: auto, centernet, yolov5, yolov8.", failures);
        Assert.Contains(failures, f => f.StartsWith("Detektor:Detection:ObjectModel: '/nope/model.onnx' is not allowed; use 'centernet' or the path of an .onnx file", StringComparison.Ordinal));
        Assert.Contains("Detektor:Detection:InferenceMemory: 'tiny' is not allowed; use one of: arena, lean.", failures);
        Assert.Contains("Detektor:Detection:ExecutionProviders:1: 'rocm' is not allowed; use one of: cuda, tensorrt, openvino, cpu.", failures);
        Assert.Contains(failures, f => f.StartsWith("Detektor:Detection:Labels:1: 'unicorn' is not a label of the model", StringComparison.Ordinal));
        Assert.Contains("Detektor:Detection:MinScores:car: 1.5 is out of range; allowed 0.01 to 1.", failures);
        Assert.Contains("Detektor:Detection:Cameras:front:DetectFps: 500 is out of range; allowed 0 to 120.", failures);
        Assert.Contains("Detektor:Detection:Cameras:front:MotionThreshold: -1 is out of range; allowed 0 to 1.", failures);
        Assert.Contains(failures, f => f.StartsWith("Detektor:Detection:Cameras:front:Labels:0: 'dragon'", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Detektor:Detection:Cameras:bad name!: 'bad name!' is not a camera name", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0, 0, null, 2, 2, 1)]    // default: two lanes of one thread on two cores
    [InlineData(0, 0, "1", 2, 1, 2)]     // one consumer: one lane takes both cores
    [InlineData(0, 0, "8", 2, 2, 1)]     // more consumers than cores: still one lane per core
    [InlineData(0, 0, "2", 16, 2, 8)]
    [InlineData(3, 0, "2", 2, 1, 3)]     // threads set explicitly: as given, and the lanes they fit in
    [InlineData(1, 0, "4", 4, 4, 1)]
    [InlineData(0, 3, "8", 2, 3, 1)]     // lanes set explicitly: as given, never below one thread
    [InlineData(0, 0, null, 1, 1, 1)]
    public void ResolveParallelism_LanesPerCoreThreadsShared(int threads, int lanes, string? concurrency, int cores, int expectedLanes, int expectedThreads)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Detektor:Processing:Concurrency"] = concurrency })
            .Build();

        var sut = Detection.Detectors.DetectorRuntime.ResolveParallelism(
            new DetectionOptions { IntraOpThreads = threads, InferenceConcurrency = lanes }, configuration, cores);

        Assert.Equal((expectedLanes, expectedThreads), sut);
    }
}
