using Detektor.Capture.Ffmpeg;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Detektor.Capture.Tests.Ffmpeg;

public sealed class FfmpegStderrTests
{
    [Theory]
    [InlineData("[h264 @ 0x55d0c1c2b3c0] error while decoding MB 9 0, bytestream 102669", true)]
    [InlineData("[h264 @ 0x55d0c1c2b3c0] cabac decode of qscale diff failed at 4 3", true)]
    [InlineData("[mjpeg @ 0x5581] error count: 64", true)]
    [InlineData("bad.h264: corrupt decoded frame in stream 0", true)]
    [InlineData("Error while decoding stream #0:0: Invalid data found when processing input", true)]
    [InlineData("[rtsp @ 0x55e9e609d940] method DESCRIBE failed: 401 Unauthorized", false)]
    [InlineData("rtsp://u:***@127.0.0.1:8554/stream: Connection refused", false)]
    [InlineData("Stream map '0:v:0' matches no streams.", false)]
    public void IsDecodeError_FfmpegLines_Classified(string line, bool expected) =>
        Assert.Equal(expected, FfmpegStderr.IsDecodeError(line));

    [Fact]
    public void OnLine_RepeatOfDecodeError_CountsEveryRepeat()
    {
        var counted = 0;
        var sut = new FfmpegStderr("cam", new FakeLogger(), new FakeTimeProvider(), n => counted += n);

        sut.OnLine("[h264 @ 0x1] error while decoding MB 1 2, bytestream 3");
        sut.OnLine("    Last message repeated 3 times");
        sut.OnLine("[rtsp @ 0x2] something else");
        sut.OnLine("    Last message repeated 5 times");

        Assert.Equal(4, counted);
        Assert.Equal(4, sut.DecodeErrors);
        Assert.Equal("[rtsp @ 0x2] something else", sut.LastError);
    }

    [Fact]
    public void OnLine_PasswordAndToken_MaskedInLogAndLastError()
    {
        var logger = new FakeLogger();
        var sut = new FfmpegStderr("cam", logger, new FakeTimeProvider());

        sut.OnLine("rtsp://admin:hunter2@10.0.0.5:554/live: Server returned 401 Unauthorized (authorization failed)");
        sut.OnLine("http://cam.local/video.mjpg?token=abc123secret: Server returned 404 Not Found");

        var logged = string.Join('\n', logger.Collector.GetSnapshot().Select(r => r.Message + " " + string.Join(',', r.StructuredState!.Select(kv => kv.Value))));
        Assert.DoesNotContain("hunter2", logged, StringComparison.Ordinal);
        Assert.DoesNotContain("abc123secret", logged, StringComparison.Ordinal);
        Assert.Contains("rtsp://admin:***@10.0.0.5:554/live", logged, StringComparison.Ordinal);
        Assert.StartsWith("http://cam.local/video.mjpg?token=***", sut.LastError, StringComparison.Ordinal);
        Assert.DoesNotContain("abc123secret", sut.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public void OnLine_Flood_LogsAtMostTheLimitPerWindowAndSummarisesTheRest()
    {
        var logger = new FakeLogger();
        var time = new FakeTimeProvider();
        var sut = new FfmpegStderr("cam", logger, time);

        for (var i = 0; i < 100; i++)
        {
            sut.OnLine($"[h264 @ 0x1] error while decoding MB {i} 0, bytestream 1");
        }

        Assert.Equal(FfmpegStderr.MaxLinesPerWindow, logger.Collector.Count);
        time.Advance(FfmpegStderr.Window);
        sut.OnLine("[h264 @ 0x1] error while decoding MB 0 1, bytestream 1");

        var records = logger.Collector.GetSnapshot();
        Assert.Equal(FfmpegStderr.MaxLinesPerWindow + 2, records.Count);
        Assert.Contains("80 more lines suppressed", records[^2].Message, StringComparison.Ordinal);
        Assert.All(records, r => Assert.Equal(LogLevel.Warning, r.Level));
        Assert.Equal(101, sut.DecodeErrors);
        Assert.Equal(80, sut.Suppressed);
    }

    [Fact]
    public void OnLine_Epilogue_DoesNotHideTheCause()
    {
        var sut = new FfmpegStderr("cam", new FakeLogger(), new FakeTimeProvider());

        sut.OnLine("Stream map '0:v:0' matches no streams.");
        sut.OnLine("To ignore this, add a trailing '?' to the map.");

        Assert.Equal("Stream map '0:v:0' matches no streams.", sut.LastError);
    }

    [Theory]
    [InlineData("    Last message repeated 12 times", 12)]
    [InlineData("Last message repeated 1 times", 1)]
    [InlineData("Last message was fine", null)]
    public void RepeatCount_Lines_Parsed(string line, int? expected) => Assert.Equal(expected, FfmpegStderr.RepeatCount(line));
}
