using System.Diagnostics;
using Detektor.Core.Frames;
using Detektor.Detection.Decoding;
using Detektor.Detection.Detectors;
using Detektor.Detection.Inference;
using Detektor.Detection.Models;

namespace Detektor.Benchmarks;

/// <summary>What the detection benchmarks share: the default model from the cache (pulled when missing) and a real frame.</summary>
public static class DetectionBench
{
    public const int Width = 768;
    public const int Height = 576;

    public static string ModelsDirectory =>
        Environment.GetEnvironmentVariable("DETEKTOR_MODELS") is { Length: > 0 } dir ? dir : Path.Combine(RepoRoot(), ".cache", "models");

    public static string FootageDirectory =>
        Environment.GetEnvironmentVariable("DETEKTOR_FOOTAGE") is { Length: > 0 } dir ? dir : Path.Combine(RepoRoot(), ".cache", "footage");

    public static string CenterNetPath()
    {
        var store = new ModelStore(ModelsDirectory);
        if (store.Verify(ModelCatalog.CenterNetModel) is null)
        {
            using var http = new HttpClient();
            new ModelPuller(http, store).PullAsync(ModelCatalog.CenterNetModel, null, false, CancellationToken.None).GetAwaiter().GetResult();
        }

        return store.OnnxPath(ModelCatalog.CenterNetModel);
    }

    public static ObjectDetector OpenCenterNet(int threads, bool spinning = false) =>
        ObjectDetector.Open(CenterNetPath(), ObjectModelKind.CenterNet, null, new InferenceSettings { IntraOpThreads = threads, WarmupRuns = 3, AllowSpinning = spinning });

    public static DetectRequest Request { get; } = new(new ClassFilter(LabelSet.Coco, 0.3f, null, null), 0.5f, 100, "objects");

    /// <summary>vtest.avi at 5 s (people, a car, a van), 768×576 in <paramref name="pixelFormat"/>, extracted with ffmpeg.</summary>
    public static byte[] VtestFrame(string pixelFormat = PixelFormats.Rgb24)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-hide_banner", "-loglevel", "error", "-ss", "5", "-i", Path.Combine(FootageDirectory, "vtest.avi"), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", pixelFormat, "pipe:1" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        using var output = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(output);
        process.WaitForExit();
        var bytes = output.ToArray();
        return bytes.Length == PixelFormats.FrameBytes(pixelFormat, Width, Height) ? bytes : throw new InvalidOperationException($"ffmpeg gave {bytes.Length} bytes: {process.StandardError.ReadToEnd()}");
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Detektor.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }
}
