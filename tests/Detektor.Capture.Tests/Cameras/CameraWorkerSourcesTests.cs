using Detektor.Capture.Cameras;
using Detektor.Testing;

namespace Detektor.Capture.Tests.Cameras;

/// <summary>Files, HTTP (MJPEG, HLS), test patterns, and inputs that are not what they claim, through the real ffmpeg.</summary>
public sealed class CameraWorkerSourcesTests
{
    [Fact]
    public async Task File_ShortClipLooped_KeepsStreamingWithoutReconnects()
    {
        using var dir = new TempDirectory();
        var clip = dir.Combine("one-second.mp4");
        await FfmpegTool.RunAsync("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", clip);
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("clip", "file://" + clip)));

        // 5 fps from a 1 s clip: 15 frames are three passes through it.
        await sut.WaitForFramesAsync("clip", 15);

        Assert.Equal(0, sut.Camera("clip").Reconnects);
        Assert.Equal(CameraState.Streaming, sut.Camera("clip").State);
        Assert.All(sut.Frames.Of("clip"), f => Assert.Equal(320 * 240 * 3 / 2, f.SizeBytes));
    }

    [Fact]
    public async Task File_NotLooped_StopsAtEndOfFile()
    {
        using var dir = new TempDirectory();
        var clip = dir.Combine("two-seconds.mp4");
        await FfmpegTool.RunAsync("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", clip);
        var settings = CaptureHarness.Settings(("clip", clip));
        settings["Detektor:Cameras:0:Loop"] = "false";
        await using var sut = await CaptureHarness.StartAsync(settings);

        await Eventually.WaitAsync(() => sut.Camera("clip").State == CameraState.Stopped, TimeSpan.FromSeconds(60), "the end of the file");

        var last = sut.Camera("clip").RecentTransitions[^1];
        Assert.Equal(TransitionReasons.EndOfFile, last.Reason);
        Assert.Equal(0, sut.Camera("clip").Reconnects);
        Assert.InRange(sut.Camera("clip").FramesCaptured, 9, 11);
    }

    [Fact]
    public async Task File_RealFootage_FramesCarryMotionScoresAndBoxes()
    {
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("campus", Footage.Get("vtest.mp4"))));

        await sut.WaitForFramesAsync("campus", 12);

        var frames = sut.Frames.Of("campus");
        Assert.Null(frames[0].MotionScore);
        Assert.All(frames.Skip(1), f => Assert.InRange(f.MotionScore!.Value, 0, 1));

        // People walk through the whole clip: most frames after the first see motion somewhere.
        Assert.True(frames.Skip(1).Count(f => f.MotionBoxes is { Count: > 0 }) >= frames.Count / 2, "most frames have motion boxes");
        Assert.All(frames.Where(f => f.MotionBoxes is not null).SelectMany(f => f.MotionBoxes!), b =>
        {
            Assert.InRange(b.X, 0, 320);
            Assert.InRange(b.Right, 0, 320);
            Assert.InRange(b.Bottom, 0, 240);
        });
    }

    [Fact]
    public async Task TestPattern_Testsrc2_DeliversFrames()
    {
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("pattern", "testsrc2://")));

        await sut.WaitForFramesAsync("pattern", 5);

        Assert.Equal(CameraState.Streaming, sut.Camera("pattern").State);
    }

    [Fact]
    public async Task Http_MjpegStream_DeliversFramesOfConfiguredSize()
    {
        using var dir = new TempDirectory();
        await FfmpegTool.RunAsync("-i", Footage.Get("vtest.mp4"), "-frames:v", "20", "-q:v", "5", dir.Combine("f%03d.jpg"));
        var jpegs = Directory.GetFiles(dir.Path, "f*.jpg").Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
        await using var http = new LoopbackHttpServer();
        http.MapMjpeg("/video.mjpg", jpegs, fps: 10);
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("mjpeg", http.BaseUrl + "/video.mjpg")));

        await sut.WaitForFramesAsync("mjpeg", 10);

        Assert.All(sut.Frames.Of("mjpeg"), f => Assert.Equal(320 * 240 * 3 / 2, f.SizeBytes));
        Assert.Contains("/video.mjpg", http.Requests);
    }

    [Fact]
    public async Task Http_HlsPlaylist_DeliversFrames()
    {
        using var dir = new TempDirectory();
        await FfmpegTool.RunAsync(
            "-i", Footage.Get("vtest.mp4"), "-t", "6", "-c:v", "copy", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0", dir.Combine("index.m3u8"));
        await using var http = new LoopbackHttpServer();
        http.MapDirectory("/hls/", dir.Path);
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("hls", http.BaseUrl + "/hls/index.m3u8")));

        await sut.WaitForFramesAsync("hls", 10);

        Assert.All(sut.Frames.Of("hls"), f => Assert.Equal(320 * 240 * 3 / 2, f.SizeBytes));
        Assert.Contains(http.Requests, r => r.EndsWith(".ts", StringComparison.Ordinal));
    }

    [Fact]
    public async Task File_NoVideoTrack_ReconnectsAndSaysWhy()
    {
        using var dir = new TempDirectory();
        var audio = dir.Combine("audio-only.m4a");
        await FfmpegTool.RunAsync("-f", "lavfi", "-i", "sine=duration=2", audio);
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("mute", audio)));

        await sut.WaitForTransitionAsync("mute", t => t.To == CameraState.Reconnecting, "a reconnect");

        var failure = sut.Camera("mute").RecentTransitions.First(t => t.To == CameraState.Reconnecting);
        Assert.Equal(TransitionReasons.FfmpegExited, failure.Reason);
        Assert.Contains("matches no streams", failure.Detail, StringComparison.Ordinal);
        Assert.Equal(0, sut.Frames.Count("mute"));
    }

    [Fact]
    public async Task Http_GarbageBytes_ReconnectsAndSaysWhy()
    {
        await using var http = new LoopbackHttpServer();
        var garbage = new byte[200_000];
        new Random(7).NextBytes(garbage);
        http.MapBytes("/camera.mjpg", garbage, "video/x-motion-jpeg");
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("noise", http.BaseUrl + "/camera.mjpg")));

        await Eventually.WaitAsync(() => sut.Camera("noise").Reconnects >= 2, TimeSpan.FromSeconds(60), "two reconnects");

        var failure = sut.Camera("noise").RecentTransitions.First(t => t.To == CameraState.Reconnecting);
        Assert.Equal(TransitionReasons.FfmpegExited, failure.Reason);
        Assert.Contains("Invalid data", failure.Detail, StringComparison.Ordinal);
        Assert.True(http.Requests.Count >= 2, "ffmpeg was started again");
    }

    [Fact]
    public async Task File_CorruptedH264_CountsDecodeErrorsAndKeepsStreaming()
    {
        using var dir = new TempDirectory();
        var clean = dir.Combine("clean.h264");
        await FfmpegTool.RunAsync("-i", Footage.Get("vtest.mp4"), "-t", "4", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", clean);
        var bytes = await File.ReadAllBytesAsync(clean, TestContext.Current.CancellationToken);
        var random = new Random(1);
        for (var i = 0; i < 200; i++)
        {
            bytes[random.Next(bytes.Length / 4, bytes.Length)] = (byte)random.Next(256);
        }

        var corrupt = dir.Combine("corrupt.h264");
        await File.WriteAllBytesAsync(corrupt, bytes, TestContext.Current.CancellationToken);
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("damaged", corrupt)));

        await Eventually.WaitAsync(() => sut.Camera("damaged").DecodeErrors > 0, TimeSpan.FromSeconds(60), "decode errors");
        await sut.WaitForFramesAsync("damaged", 10);

        Assert.True(sut.Camera("damaged").DecodeErrorsWithin(TimeSpan.FromMinutes(1)) > 0);
    }
}
