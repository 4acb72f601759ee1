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
    public async Task StartReading_OnLinux_ThePipeHoldsAFrameAndFramesArriveWholeAndInOrder(int width, int height, int expectedPipe)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "pipe sizes are Linux's");
        var frameSize = width * height * 3;
        var maxPipe = int.Parse(File.ReadAllText("/proc/sys/fs/pipe-max-size").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.SkipWhen(maxPipe < 1_048_576, "pipe-max-size was lowered below its 1 MiB default on this machine");
        var pool = new FrameBufferPool();
        string[] input = ["-hide_banner", "-nostdin", "-loglevel", "warning", "-f", "lavfi", "-i", $"testsrc=size={width}x{height}:rate=25", "-frames:v", "4", "-pix_fmt", "rgb24", "-f", "rawvideo"];

        // What ffmpeg writes for the same input into a file: the frames read from the pipe must be these bytes.
        var file = Path.Combine(Path.GetTempPath(), $"detektor-pipe-{Guid.NewGuid():N}.raw");
        try
        {
            await FfmpegToFileAsync([.. input, "-y", file]);
        }
        catch
        {
            File.Delete(file);
            throw;
        }

        var expected = await File.ReadAllBytesAsync(file, TestContext.Current.CancellationToken);
        File.Delete(file);
        Assert.Equal(4 * frameSize, expected.Length);

        // The output options capture uses (FfmpegArguments): one write per frame.
        await using var source = new FfmpegFrameSource(
            RequiredTool.Find("ffmpeg"),
            [.. input, "-avioflags", "direct", "pipe:1"],
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
        for (var i = 0; i < frames.Count; i++)
        {
            Assert.True(frames[i].Span.SequenceEqual(expected.AsSpan(i * frameSize, frameSize)), $"frame {i} differs from ffmpeg's file output");
        }

        frames.ForEach(f => f.Release());
    }

    [Theory]
    [InlineData(460_800, 1_000_000)] // a 640×480 yuv420p frame, the pipe holding more than it
    [InlineData(460_800, 50_000)] // the writer's pieces smaller than a chunk
    [InlineData(100, 1_000_000)] // a frame smaller than a chunk
    public void ReadFrame_ReadsInChunksOfAtMostTheChunkSize_UntilTheFrameIsFull(int frameSize, int piece)
    {
        var bytes = new byte[frameSize * 2];
        Random.Shared.NextBytes(bytes);
        var stream = new RecordingStream(bytes, piece);
        var frame = new byte[frameSize];

        FfmpegFrameSource.ReadFrame(stream, frame, FfmpegFrameSource.ReadChunkBytes);
        var firstReads = stream.Requested.Count;
        FfmpegFrameSource.ReadFrame(stream, frame, FfmpegFrameSource.ReadChunkBytes);

        Assert.Equal(bytes[frameSize..], frame); // the second frame, whole, nothing of the first left behind
        Assert.All(stream.Requested, r => Assert.InRange(r, 1, FfmpegFrameSource.ReadChunkBytes));
        var expectedReads = (frameSize + Math.Min(piece, FfmpegFrameSource.ReadChunkBytes) - 1) / Math.Min(piece, FfmpegFrameSource.ReadChunkBytes);
        Assert.Equal(expectedReads, firstReads);
    }

    [Theory]
    [InlineData(460_800, 1_048_576, 131_072)] // 640×480 yuv420p in the grown pipe: 128 KiB reads
    [InlineData(100, 65_536, 100)] // a frame smaller than a chunk: one read of it
    [InlineData(3_110_400, 1_048_576, 3_110_400)] // 1920×1080 yuv420p does not fit: ask for the whole frame
    [InlineData(460_800, 0, 460_800)] // the pipe's size unknown (not Linux): the whole frame
    public void ReadChunk_ChunkedOnlyWhenTheFrameFitsInThePipe(int frameSize, int pipeBytes, int expected)
    {
        Assert.Equal(expected, FfmpegFrameSource.ReadChunk(frameSize, pipeBytes));
    }

    [Fact]
    public void ReadFrame_StreamEndsMidFrame_EndOfStream()
    {
        var stream = new RecordingStream(new byte[1000], 300);

        Assert.Throws<EndOfStreamException>(() => FfmpegFrameSource.ReadFrame(stream, new byte[1500], FfmpegFrameSource.ReadChunkBytes));
    }

    private static async Task FfmpegToFileAsync(string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo(RequiredTool.Find("ffmpeg")) { RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        var stderr = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, $"ffmpeg failed: {stderr}");
    }

    /// <summary>A read-only stream that returns at most <paramref name="piece"/> bytes a read (as a pipe returns what is there) and records what each read asked for.</summary>
    private sealed class RecordingStream(byte[] data, int piece) : Stream
    {
        private int _position;

        public List<int> Requested { get; } = [];

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            Requested.Add(buffer.Length);
            var n = Math.Min(Math.Min(piece, buffer.Length), data.Length - _position);
            data.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
