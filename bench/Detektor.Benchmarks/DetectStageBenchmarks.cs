using BenchmarkDotNet.Attributes;
using Detektor.Core.Frames;
using Detektor.Detection.Detectors;
using Detektor.Detection.Inference;
using Detektor.Detection.Preprocessing;

namespace Detektor.Benchmarks;

/// <summary>
/// The detect stage (letterbox from the frame into the bound tensor, run, CenterNet decode, NMS, boxes back to frame
/// pixels) against bare <c>InferenceSession.Run</c> on the same input with the same session and threads: the Ratio
/// column is the cost of everything Detektor adds around the model (goal ≤ 1.10). <c>DetectStage</c> takes the frame in
/// yuv420p, as capture hands it over since ADR 0008 (the letterbox converts the rows it samples);
/// <c>DetectStageRgb24</c> the same picture in rgb24.
/// </summary>
[MemoryDiagnoser]
[WarmupCount(3)]
[IterationCount(15)]
public class DetectStageBenchmarks
{
    private ObjectDetector _detector = null!;
    private SessionBuffers _bare = null!;
    private byte[] _frame = [];
    private byte[] _yuv = [];
    private readonly List<Core.Messages.Detection> _found = [];

    [Params(2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _detector = DetectionBench.OpenCenterNet(Threads);
        _frame = DetectionBench.VtestFrame();
        _yuv = DetectionBench.VtestFrame(PixelFormats.Yuv420p);
        _bare = _detector.Session.CreateBuffers();
        new Letterbox(512, 512, TensorLayout.Nhwc, PixelNormalization.Raw).Fill(_frame, DetectionBench.Width, DetectionBench.Height, _bare.Inputs[0]);
    }

    [Benchmark(Baseline = true, Description = "bare InferenceSession.Run")]
    public void BareRun() => _detector.Session.Run(_bare);

    [Benchmark(Description = "detect stage, yuv420p frame (letterbox+run+decode+NMS)")]
    public int DetectStage()
    {
        _found.Clear();
        _detector.Detect(_yuv, PixelFormats.Yuv420p, DetectionBench.Width, DetectionBench.Height, DetectionBench.Request, _found);
        return _found.Count;
    }

    [Benchmark(Description = "detect stage, rgb24 frame")]
    public int DetectStageRgb24()
    {
        _found.Clear();
        _detector.Detect(_frame, DetectionBench.Width, DetectionBench.Height, DetectionBench.Request, _found);
        return _found.Count;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bare.Dispose();
        _detector.Dispose();
    }
}
