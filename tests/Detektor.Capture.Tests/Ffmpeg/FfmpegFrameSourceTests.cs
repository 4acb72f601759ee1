using Detektor.Capture.Ffmpeg;
using Detektor.Core.Buffers;
using Detektor.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detektor.Capture.Tests.Ffmpeg;

public sealed class FfmpegFrameSourceTests
{
    [Theory]
    [InlineData(320, 240, 262_144)] // a 225 KiB frame: the pipe grows to the next power of two
    [InlineData(1280, 720, 1_048_576)] // 2.6 MiB: at most 1 MiB
    public async Task StartReading_OnLinux_ThePipeHoldsAFrameAndFramesArriveWhole(int width, int height, int expectedPipe)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "pipe sizes are Linux's");
        var frameSize = width * height * 3;
        var maxPipe = int.Parse(File.ReadAllText("/proc/sys/fs/pipe-max-size").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.SkipWhen(maxPipe < 1_048_576, "pipe-max-size was lowered below its 1 MiB default on this machine");
        var pool = new FrameBufferPool();
        await using var source = new FfmpegFrameSource(
            RequiredTool.Find("ffmpeg"),
            ["-hide_banner", "-nostdin", "-loglevel", "warning", "-f", "lavfi", "-i", $"testsrc=size={width}x{height}:rate=25", "-frames:v", "4", "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"],
            new FfmpegStderr("pipe-test", NullLogger.Instance, TimeProvider.System));
        source.Start();

        source.StartReading(pool, frameSize, "pipe-test");

        Assert.Equal(expectedPipe, source.PipeBytes);
        var frames = new List<FrameBuffer>();
        while (await source.ReadFrameAsync(TestContext.Current.CancellationToken) is { } frame)
        {
            frames.Add(frame);
        }

        Assert.Equal(4, frames.Count);
        Assert.All(frames, f => Assert.Equal(frameSize, f.Length));
        Assert.All(frames, f => Assert.True(f.Span.IndexOfAnyExcept((byte)0) >= 0, "an empty buffer, not the test pattern"));
        frames.ForEach(f => f.Release());
    }
}
