using Detektor.Capture.Ffmpeg;
using Detektor.Core.Buffers;
using Detektor.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detektor.Capture.Tests.Ffmpeg;

public sealed class FfmpegFrameSourceTests
{
    [Theory]
    [InlineData(320, 240)] // 225 KiB, several times the pipe
    [InlineData(1280, 720)] // 2.6 MiB
    [InlineData(16, 16)] // 768 bytes, many frames in the pipe at once
    public async Task StartReading_FramesArriveWholeAndInOrder_AsFfmpegWritesThemToAFile(int width, int height)
    {
        var frameSize = width * height * 3;
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

    [Fact]
    public async Task ReadFrameAsync_AWaitingReaderContinuesOnTheReaderThread_ButNotAtTheEndOfTheStream()
    {
        // Five frames in real time, 200 ms apart: a read made right after a frame waits for the next one.
        await using var source = new FfmpegFrameSource(
            RequiredTool.Find("ffmpeg"),
            ["-hide_banner", "-nostdin", "-loglevel", "warning", "-re", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=5", "-frames:v", "5", "-pix_fmt", "rgb24", "-f", "rawvideo", "-avioflags", "direct", "pipe:1"],
            new FfmpegStderr("thread-test", NullLogger.Instance, TimeProvider.System));
        source.Start();
        source.StartReading(new FrameBufferPool(), 32 * 32 * 3, "ffmpeg:thread-test");

        var threads = new List<string?>();
        var frames = 0;
        while (await source.ReadFrameAsync(TestContext.Current.CancellationToken) is { } frame)
        {
            threads.Add(Thread.CurrentThread.Name);
            frame.Release();
            frames++;
        }

        var atEnd = Thread.CurrentThread.Name;
        Assert.Equal(5, frames);
        Assert.Contains("ffmpeg:thread-test", threads); // at least one frame was handled without a hand-over
        Assert.NotEqual("ffmpeg:thread-test", atEnd); // the end goes on elsewhere: disposing joins the reader thread
    }

    [Theory]
    [InlineData(460_800, 1_000_000)] // a 640×480 yuv420p frame, there whole
    [InlineData(460_800, 65_536)] // the pipe's default size: a piece at a time
    [InlineData(100, 30)] // a frame in pieces that do not divide it
    public void ReadFrame_AsksForTheRestOfTheFrame_UntilItIsFull(int frameSize, int piece)
    {
        var bytes = new byte[frameSize * 2];
        Random.Shared.NextBytes(bytes);
        var stream = new RecordingStream(bytes, piece);
        var frame = new byte[frameSize];

        FfmpegFrameSource.ReadFrame(stream, frame);
        var firstReads = stream.Requested.ToList();
        FfmpegFrameSource.ReadFrame(stream, frame);

        Assert.Equal(bytes[frameSize..], frame); // the second frame, whole, nothing of the first left behind
        var expectedReads = (frameSize + Math.Min(piece, frameSize) - 1) / Math.Min(piece, frameSize);
        Assert.Equal(expectedReads, firstReads.Count);
        Assert.Equal(Enumerable.Range(0, expectedReads).Select(i => frameSize - (i * piece)), firstReads); // never past the frame's end
    }

    [Fact]
    public void ReadFrame_StreamEndsMidFrame_EndOfStream()
    {
        var stream = new RecordingStream(new byte[1000], 300);

        Assert.Throws<EndOfStreamException>(() => FfmpegFrameSource.ReadFrame(stream, new byte[1500]));
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
