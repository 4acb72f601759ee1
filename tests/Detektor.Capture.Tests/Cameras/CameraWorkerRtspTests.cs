using System.Diagnostics;
using Detektor.Capture.Cameras;
using Detektor.Core.Frames;
using Detektor.Testing;

namespace Detektor.Capture.Tests.Cameras;

/// <summary>Cameras against a real RTSP server (Debian gst-rtsp-server on loopback) that the tests start, stop and freeze.</summary>
public sealed class CameraWorkerRtspTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("tcp", "yuv420p", 320 * 240 * 3 / 2)] // the default
    [InlineData("udp", "yuv420p", 320 * 240 * 3 / 2)]
    [InlineData("tcp", "rgb24", 320 * 240 * 3)]
    public async Task Rtsp_ServerStreaming_DeliversFramesOfConfiguredSize(string transport, string pixelFormat, int frameBytes)
    {
        await using var server = RtspServer.Create(new RtspSource.Mp4File(Footage.Get("vtest.mp4")));
        await server.StartAsync();
        var settings = CaptureHarness.Settings(("cam", server.Url));
        settings["Detektor:Cameras:0:Transport"] = transport;
        if (pixelFormat != PixelFormats.Yuv420p)
        {
            settings["Detektor:Capture:PixelFormat"] = pixelFormat;
        }

        await using var sut = await CaptureHarness.StartAsync(settings);

        await sut.WaitForFramesAsync("cam", 10);

        var frames = sut.Frames.Of("cam");
        Assert.All(frames, f =>
        {
            Assert.Equal(320, f.Width);
            Assert.Equal(240, f.Height);
            Assert.Equal(pixelFormat, f.PixelFormat);
            Assert.Equal(frameBytes, f.SizeBytes);
        });
        Assert.Equal(Enumerable.Range(1, frames.Count).Select(i => (long)i), frames.Select(f => f.Sequence));
        Assert.Equal(CameraState.Streaming, sut.Camera("cam").State);
        Assert.Equal(0, sut.Camera("cam").Reconnects);
    }

    [Fact]
    public async Task Rtsp_ServerDownAtStart_FramesArriveOnceItIsUp()
    {
        await using var server = RtspServer.Create(new RtspSource.TestPattern());
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("cam", server.Url)));

        // Down at start: the camera fails and keeps retrying.
        await Eventually.WaitAsync(() => sut.Camera("cam").Reconnects >= 2, TimeSpan.FromSeconds(60), "two failed attempts while the server is down");
        Assert.Equal(0, sut.Frames.Count("cam"));
        Assert.Contains(sut.Camera("cam").RecentTransitions, t => t.To == CameraState.Reconnecting && t.Reason == TransitionReasons.FfmpegExited);

        await server.StartAsync();
        var up = Stopwatch.StartNew();
        await sut.WaitForFramesAsync("cam", 1, TimeSpan.FromSeconds(90));
        output.WriteLine($"server up -> first frame: {up.Elapsed.TotalSeconds:0.0} s (back-off after {sut.Camera("cam").Reconnects} failed attempts)");
        await sut.WaitForFramesAsync("cam", 5);

        Assert.Equal(CameraState.Streaming, sut.Camera("cam").State);
    }

    [Fact]
    public async Task Rtsp_ServerKilledMidStreamAndRestarted_ReconnectsAndResumes()
    {
        await using var server = RtspServer.Create(new RtspSource.TestPattern());
        await server.StartAsync();
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("cam", server.Url)));
        await sut.WaitForFramesAsync("cam", 5);

        await server.StopAsync();
        await Eventually.WaitAsync(() => sut.Camera("cam").State != CameraState.Streaming, TimeSpan.FromSeconds(60), "the camera to notice the server is gone");
        var before = sut.Frames.Count("cam");
        await server.StartAsync();
        var up = Stopwatch.StartNew();
        await sut.WaitForFramesAsync("cam", before + 5);
        output.WriteLine($"server back -> frames again: {up.Elapsed.TotalSeconds:0.0} s; transitions: {CaptureHarness.Describe(sut.Camera("cam").RecentTransitions)}");

        var transitions = sut.Camera("cam").RecentTransitions;
        Assert.Contains(transitions, t => t.From == CameraState.Streaming && t.To is CameraState.Stalled or CameraState.Reconnecting);
        Assert.Contains(transitions, t => t.To == CameraState.Reconnecting);
        Assert.Equal(CameraState.Streaming, transitions[^1].To);
        Assert.True(sut.Camera("cam").Reconnects >= 1);
    }

    [Fact]
    public async Task Rtsp_ServerFrozenMidStream_StallsKillsFfmpegAndRecovers()
    {
        await using var server = RtspServer.Create(new RtspSource.TestPattern());
        await server.StartAsync();
        await using var sut = await CaptureHarness.StartAsync(CaptureHarness.Settings(("cam", server.Url)));
        await sut.WaitForFramesAsync("cam", 5);

        // The server keeps the connection open but sends nothing: only the stall watchdog can notice.
        await server.PauseAsync();
        await sut.WaitForTransitionAsync("cam", t => t.From == CameraState.Streaming && t.To == CameraState.Stalled, "streaming -> stalled");
        await server.ResumeAsync();
        var before = sut.Frames.Count("cam");
        await sut.WaitForFramesAsync("cam", before + 5);

        var transitions = sut.Camera("cam").RecentTransitions;
        var stall = transitions.First(t => t.To == CameraState.Stalled);
        Assert.Equal(TransitionReasons.Stall, stall.Reason);
        Assert.Contains("no frame for 3 s", stall.Detail, StringComparison.Ordinal);
        Assert.Contains(transitions, t => t.From == CameraState.Stalled && t.To == CameraState.Reconnecting);
        Assert.Equal(CameraState.Streaming, sut.Camera("cam").State);
    }

    [Fact]
    public async Task Rtsp_ServerAcceptsButSendsNothing_StalledAndFfmpegRestarted()
    {
        await using var silent = new SilentTcpServer();
        var settings = CaptureHarness.Settings(("cam", $"rtsp://127.0.0.1:{silent.Port}/stream"));
        settings["Detektor:Capture:ConnectTimeoutSeconds"] = "2";
        settings["Detektor:Capture:StallTimeoutSeconds"] = "2";
        await using var sut = await CaptureHarness.StartAsync(settings);

        await Eventually.WaitAsync(
            () => sut.Camera("cam").RecentTransitions.Count(t => t.To == CameraState.Stalled) >= 2 && silent.Accepted >= 2,
            TimeSpan.FromSeconds(60),
            "two stalls, each followed by a fresh ffmpeg connecting again");

        var transitions = sut.Camera("cam").RecentTransitions;
        Assert.All(transitions.Where(t => t.To == CameraState.Stalled), t =>
        {
            Assert.Equal(CameraState.Connecting, t.From);
            Assert.Equal(TransitionReasons.NoFirstFrame, t.Reason);
        });
        Assert.Contains(transitions, t => t.From == CameraState.Reconnecting && t.To == CameraState.Connecting && t.Reason == TransitionReasons.Retry);
        Assert.Equal(0, sut.Frames.Count("cam"));
    }
}
