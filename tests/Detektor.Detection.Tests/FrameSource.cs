using System.Diagnostics;
using Detektor.Imaging;
using Detektor.Testing;

namespace Detektor.Detection.Tests;

/// <summary>Real pictures for detector tests: a video frame extracted by ffmpeg, an image decoded by ImageCodec.</summary>
public static class FrameSource
{
    /// <summary>The frame of <paramref name="footage"/> at <paramref name="seconds"/>, as rgb24 at the video's size.</summary>
    public static RgbImage VideoFrame(string footage, double seconds, int width, int height) =>
        Ffmpeg(width, height, "-ss", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", Footage.Get(footage));

    /// <summary><paramref name="count"/> consecutive frames of <paramref name="footage"/> from <paramref name="seconds"/> on, rgb24.</summary>
    public static List<RgbImage> VideoFrames(string footage, double seconds, int count, int width, int height)
    {
        var bytes = Run(count, width, height, "-ss", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", Footage.Get(footage));
        var size = width * height * 3;
        Assert.True(bytes.Length == size * count, $"ffmpeg gave {bytes.Length} bytes for {count} frames of {size}");
        return [.. Enumerable.Range(0, count).Select(i => new RgbImage(width, height, bytes.AsSpan(i * size, size).ToArray()))];
    }

    /// <summary>One frame of ffmpeg's <c>testsrc2</c> pattern (colour bars, a counter, no objects).</summary>
    public static RgbImage TestPattern(int width, int height) =>
        Ffmpeg(width, height, "-f", "lavfi", "-i", $"testsrc2=size={width}x{height}:rate=10");

    public static RgbImage Image(string footage) => ImageCodec.Decode(File.ReadAllBytes(Footage.Get(footage)));

    private static RgbImage Ffmpeg(int width, int height, params string[] input)
    {
        var bytes = Run(1, width, height, input);
        Assert.True(bytes.Length == width * height * 3, $"ffmpeg gave {bytes.Length} bytes");
        return new RgbImage(width, height, bytes);
    }

    /// <summary>One frame of <paramref name="footage"/> as capture hands it over by default: yuv420p.</summary>
    public static byte[] VideoFrameYuv(string footage, double seconds, int width, int height)
    {
        var bytes = RunAs("yuv420p", 1, width, height, "-ss", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", Footage.Get(footage));
        Assert.True(bytes.Length == width * height * 3 / 2, $"ffmpeg gave {bytes.Length} bytes");
        return bytes;
    }

    private static byte[] Run(int frames, int width, int height, params string[] input) => RunAs("rgb24", frames, width, height, input);

    private static byte[] RunAs(string pixelFormat, int frames, int width, int height, params string[] input)
    {
        var ffmpeg = RequiredTool.Find("ffmpeg");
        var start = new ProcessStartInfo(ffmpeg) { RedirectStandardOutput = true, RedirectStandardError = true };
        var output = new[] { "-frames:v", frames.ToString(System.Globalization.CultureInfo.InvariantCulture), "-s", $"{width}x{height}", "-f", "rawvideo", "-pix_fmt", pixelFormat, "pipe:1" };
        foreach (var arg in new[] { "-hide_banner", "-loglevel", "error" }.Concat(input).Concat(output))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        using var buffer = new MemoryStream();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.BaseStream.CopyTo(buffer);
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"ffmpeg failed: {stderr.Result}");
        return buffer.ToArray();
    }
}
