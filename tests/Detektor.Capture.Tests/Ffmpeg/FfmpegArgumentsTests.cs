using Detektor.Capture.Cameras;
using Detektor.Capture.Ffmpeg;

namespace Detektor.Capture.Tests.Ffmpeg;

public sealed class FfmpegArgumentsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private static string Line(CameraOptions camera) => string.Join(' ', FfmpegArguments.Build(camera, Timeout));

    [Theory]
    [InlineData("tcp")]
    [InlineData("udp")]
    public void Build_Rtsp_TransportTimeoutAndUrl(string transport)
    {
        var sut = Line(new CameraOptions { Name = "c", Url = "rtsp://u:p@10.0.0.5/s", Transport = transport });

        Assert.Contains($"-rtsp_transport {transport} -timeout 15000000 -i rtsp://u:p@10.0.0.5/s", sut, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_InputArgs_GoBeforeInput()
    {
        var sut = Line(new CameraOptions { Name = "c", Url = "rtsp://10.0.0.5/s", InputArgs = ["-hwaccel", "vaapi"] });

        Assert.Contains("-hwaccel vaapi -i rtsp://10.0.0.5/s", sut, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_Output_ScaledRawRgbAtCameraRateOnStdout()
    {
        var sut = FfmpegArguments.Build(new CameraOptions { Name = "c", Url = "testsrc2://", Width = 320, Height = 180, Fps = 7.5 }, Timeout);

        Assert.Equal(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf", "fps=7.5,scale=320:180", "-pix_fmt", "rgb24", "-f", "rawvideo", "-avioflags", "direct", "pipe:1"], sut.TakeLast(14));
    }

    [Fact]
    public void Build_LoopedFile_NativeRateAndEndlessLoop()
    {
        var sut = Line(new CameraOptions { Name = "c", Url = "file:///data/clip%20one.mp4", Loop = true });

        Assert.Contains("-re -stream_loop -1 -i /data/clip one.mp4", sut, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_FileNotLooped_NoLoopOption()
    {
        var sut = Line(new CameraOptions { Name = "c", Url = "/data/clip.mp4", Loop = false });

        Assert.DoesNotContain("-stream_loop", sut, StringComparison.Ordinal);
        Assert.Contains("-re -i /data/clip.mp4", sut, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_Http_ReadWriteTimeout()
    {
        var sut = Line(new CameraOptions { Name = "c", Url = "http://cam/video.mjpg" });

        Assert.Contains("-rw_timeout 15000000 -i http://cam/video.mjpg", sut, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_TestPattern_LavfiAtSizeAndRate()
    {
        var sut = Line(new CameraOptions { Name = "c", Url = "testsrc2://", Width = 320, Height = 240, Fps = 5 });

        Assert.Contains("-re -f lavfi -i testsrc2=size=320x240:rate=5", sut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rtsp://10.0.0.5:554/stream1", CameraUrlKind.Rtsp)]
    [InlineData("rtsps://user:pw@cam.local/s", CameraUrlKind.Rtsp)]
    [InlineData("http://cam.local/mjpg/video.mjpg", CameraUrlKind.Http)]
    [InlineData("https://cdn.example/live/index.m3u8?token=x", CameraUrlKind.Http)]
    [InlineData("file:///srv/clip.mp4", CameraUrlKind.File)]
    [InlineData("/srv/clip.mp4", CameraUrlKind.File)]
    [InlineData("testsrc2://", CameraUrlKind.TestPattern)]
    [InlineData("smptebars://", CameraUrlKind.TestPattern)]
    [InlineData("clip.mp4", CameraUrlKind.Unsupported)]
    [InlineData("file://relative.mp4", CameraUrlKind.Unsupported)]
    [InlineData("rtsp://", CameraUrlKind.Unsupported)]
    [InlineData("rtmp://cam/live", CameraUrlKind.Unsupported)]
    [InlineData("testsrc2://extra", CameraUrlKind.Unsupported)]
    [InlineData("rtsp://cam/with space", CameraUrlKind.Unsupported)]
    [InlineData("", CameraUrlKind.Unsupported)]
    public void KindOf_Urls_Classified(string url, CameraUrlKind expected) => Assert.Equal(expected, CameraUrl.KindOf(url));
}
