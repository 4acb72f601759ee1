using BenchmarkDotNet.Attributes;
using Detektor.Core.Frames;
using Detektor.Detection.Decoding;
using Detektor.Detection.Preprocessing;
using Detektor.Imaging;

namespace Detektor.Benchmarks;

/// <summary>The steps around the model alone: letterbox 768×576 → 512×512, and CenterNet decode + NMS of a real output.</summary>
[MemoryDiagnoser]
[WarmupCount(3)]
[IterationCount(15)]
public class PrePostBenchmarks
{
    private readonly Letterbox _letterbox = new(512, 512, TensorLayout.Nhwc, PixelNormalization.Raw);
    private readonly CandidateBuffer _candidates = new();
    private byte[] _frame = [];
    private byte[] _yuvFrame = [];
    private float[] _tensor = [];
    private float[] _heat = [];
    private float[] _wh = [];

    [GlobalSetup]
    public void Setup()
    {
        _frame = DetectionBench.VtestFrame();
        _yuvFrame = DetectionBench.VtestFrame(PixelFormats.Yuv420p);
        _tensor = new float[_letterbox.TensorLength];
        using var detector = DetectionBench.OpenCenterNet(2);
        using var buffers = detector.Session.CreateBuffers();
        _letterbox.Fill(_frame, DetectionBench.Width, DetectionBench.Height, buffers.Inputs[0]);
        detector.Session.Run(buffers);
        var heatIndex = detector.Session.Outputs.ToList().FindIndex(o => o.Shape[3] == 80);
        _heat = buffers.Outputs[heatIndex];
        _wh = buffers.Outputs[1 - heatIndex];
    }

    [Benchmark(Description = "letterbox 768x576 -> 512x512 NHWC")]
    public LetterboxTransform Letterbox() => _letterbox.Fill(_frame, DetectionBench.Width, DetectionBench.Height, _tensor);

    [Benchmark(Description = "letterbox 768x576 yuv420p -> 512x512 NHWC")]
    public LetterboxTransform LetterboxYuv() =>
        _letterbox.Fill(_yuvFrame, PixelFormats.Yuv420p, DetectionBench.Width, DetectionBench.Height, new PixelRect(0, 0, DetectionBench.Width, DetectionBench.Height), _tensor);

    [Benchmark(Description = "yuv420p -> rgb24, 768x576, whole frame")]
    public byte[] ToRgb24()
    {
        Yuv420p.ToRgb24(_yuvFrame, DetectionBench.Width, DetectionBench.Height, _rgb);
        return _rgb;
    }

    private readonly byte[] _rgb = new byte[DetectionBench.Width * DetectionBench.Height * 3];

    [Benchmark(Description = "CenterNet decode + NMS")]
    public int Decode()
    {
        _candidates.Clear();
        CenterNetDecoder.Decode(_heat, _wh, 128, 128, 80, 4, DetectionBench.Request.Filter, _candidates);
        Nms.Apply(_candidates, 0.5f, 100);
        return _candidates.Count;
    }
}
