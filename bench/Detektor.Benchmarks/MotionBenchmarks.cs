using BenchmarkDotNet.Attributes;
using Detektor.Capture.Motion;

namespace Detektor.Benchmarks;

/// <summary>
/// The capture role's per-frame motion work on a 640×480 rgb24 frame at the default analysis width (160): the downscale
/// alone, and all of it (downscale, background compare and update, boxes). Two frames alternate — a square moves — so
/// every call finds motion and boxes it, as on a busy camera.
/// </summary>
[MemoryDiagnoser]
public class MotionBenchmarks
{
    private const int Width = 640;
    private const int Height = 480;
    private const int Factor = 4;
    private readonly byte[][] _frames = [new byte[Width * Height * 3], new byte[Width * Height * 3]];
    private readonly ushort[] _rowSums = new ushort[Width / Factor * Factor * 3];
    private readonly byte[] _gray = new byte[Width / Factor * (Height / Factor)];
    private MotionDetector _detector = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        new Random(7).NextBytes(_frames[0]); // one still texture, so the downscale's sums are not all equal
        _frames[0].CopyTo(_frames[1]);

        for (var (i, x) = (0, 100); i < _frames.Length; i++, x += 40)
        {
            for (var row = 200; row < 300; row++)
            {
                _frames[i].AsSpan(((row * Width) + x) * 3, 100 * 3).Fill(250);
            }
        }

        _detector = new MotionDetector(Width, Height, new MotionOptions());
        _detector.Analyze(_frames[0]);
        for (var i = 0; i < _frames.Length; i++)
        {
            Imaging.Yuv420p.FromRgb24(_frames[i], Width, Height, _yuv[i]);
        }

        _yuvDetector = new MotionDetector(Width, Height, new MotionOptions(), Core.Frames.PixelFormats.Yuv420p);
        _yuvDetector.Analyze(_yuv[0]);
    }

    [Benchmark]
    public void Downscale() => MotionDetector.Downscale(_frames[_next++ & 1], Width, Factor, _rowSums, _gray, Width / Factor, Height / Factor);

    [Benchmark]
    public double? Analyze() => _detector.Analyze(_frames[_next++ & 1]);

    /// <summary>The same picture's Y plane (yuv420p, what capture hands over since ADR 0008).</summary>
    [Benchmark]
    public void DownscaleLuma() => MotionDetector.DownscaleLuma(_yuv[_next++ & 1].AsSpan(0, Width * Height), Width, Factor, _rowSums, _gray, Width / Factor, Height / Factor);

    [Benchmark]
    public double? AnalyzeYuv() => _yuvDetector.Analyze(_yuv[_next++ & 1]);

    private readonly byte[][] _yuv = [new byte[Width * Height * 3 / 2], new byte[Width * Height * 3 / 2]];
    private MotionDetector _yuvDetector = null!;
}
