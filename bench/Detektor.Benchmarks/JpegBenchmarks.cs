using BenchmarkDotNet.Attributes;
using Detektor.Core.Frames;
using Detektor.Imaging;

namespace Detektor.Benchmarks;

/// <summary>
/// JPEG of a real yuv420p frame (vtest.mp4, 768×576, as capture hands it over since ADR 0008): what the Redis bus's JPEG
/// encoding, the camera snapshot endpoint and the lease API's JPEG pay per frame. The route used now converts yuv420p
/// straight into the encoder's rgba32; the route before it went through rgb24 first (two conversions). Both are here, and
/// the first conversion step of each alone; and the way back, a JPEG from the bus into a yuv420p frame.
/// </summary>
[MemoryDiagnoser]
public class JpegBenchmarks
{
    private byte[] _yuv = [];
    private byte[] _rgb = [];
    private byte[] _rgba = [];
    private MemoryStream _output = new();
    private byte[] _jpeg = [];
    private byte[] _frame = [];

    [GlobalSetup]
    public void Setup()
    {
        _yuv = DetectionBench.VtestFrame(PixelFormats.Yuv420p);
        _rgb = new byte[DetectionBench.Width * DetectionBench.Height * 3];
        _rgba = new byte[DetectionBench.Width * DetectionBench.Height * 4];
        _output = new MemoryStream(256 * 1024);
        _jpeg = ImageCodec.EncodeJpeg(_yuv, PixelFormats.Yuv420p, DetectionBench.Width, DetectionBench.Height, 85);
        _frame = new byte[_yuv.Length];
        Yuv420p.ToRgb24(_yuv, DetectionBench.Width, DetectionBench.Height, _rgb);
        Yuv420p.ToRgba32(_yuv, DetectionBench.Width, DetectionBench.Height, _rgba);
    }

    [Benchmark(Baseline = true, Description = "JPEG q85 via rgb24 (yuv420p → rgb24 → rgba32 → encode; the route before)")]
    public long ViaRgb24()
    {
        _output.Position = 0;
        Yuv420p.ToRgb24(_yuv, DetectionBench.Width, DetectionBench.Height, _rgb);
        ImageCodec.EncodeJpeg(_rgb, DetectionBench.Width, DetectionBench.Height, _output, 85);
        return _output.Position;
    }

    [Benchmark(Description = "JPEG q85 from yuv420p (yuv420p → rgba32 → encode; the route now)")]
    public long FromYuv420p()
    {
        _output.Position = 0;
        ImageCodec.EncodeJpeg(_yuv, PixelFormats.Yuv420p, DetectionBench.Width, DetectionBench.Height, _output, 85);
        return _output.Position;
    }

    [Benchmark(Description = "JPEG → yuv420p frame via rgb24 (decode → rgba32 → rgb24 → yuv420p; the bus's route before)")]
    public void DecodeViaRgb24()
    {
        var image = ImageCodec.Decode(_jpeg);
        Yuv420p.FromRgb24(image.Pixels, image.Width, image.Height, _frame);
    }

    [Benchmark(Description = "JPEG → yuv420p frame (decode → rgba32 → yuv420p; the bus's route now)")]
    public void DecodeInto() => ImageCodec.DecodeInto(_jpeg, PixelFormats.Yuv420p, DetectionBench.Width, DetectionBench.Height, _frame);

    [Benchmark(Description = "conversion alone: yuv420p → rgb24")]
    public void ToRgb24() => Yuv420p.ToRgb24(_yuv, DetectionBench.Width, DetectionBench.Height, _rgb);

    [Benchmark(Description = "conversion alone: yuv420p → rgba32")]
    public void ToRgba32() => Yuv420p.ToRgba32(_yuv, DetectionBench.Width, DetectionBench.Height, _rgba);

    [Benchmark(Description = "conversion alone: rgb24 → yuv420p (scalar)")]
    public void FromRgb24() => Yuv420p.FromRgb24(_rgb, DetectionBench.Width, DetectionBench.Height, _frame);

    [Benchmark(Description = "conversion alone: rgba32 → yuv420p")]
    public void FromRgba32() => Yuv420p.FromRgba32(_rgba, DetectionBench.Width, DetectionBench.Height, _frame);
}
