using Detektor.Capture.Cameras;
using Detektor.Core.Buffers;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace Detektor.Capture.Tests.Cameras;

public sealed class CameraHealthTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private readonly FrameBufferPool _pool = new();

    private CameraStatus Streaming(double fps, int frames)
    {
        var status = new CameraStatus(new CameraOptions { Name = "cam", Url = "rtsp://u:secret@cam/s", Fps = fps }, _time);
        status.SetState(CameraState.Streaming, TransitionReasons.FirstFrame, null);
        for (var i = 0; i < frames; i++)
        {
            Frame(status);
            _time.Advance(TimeSpan.FromSeconds(1 / fps));
        }

        return status;
    }

    private void Frame(CameraStatus status)
    {
        var buffer = _pool.Rent(16);
        status.RecordFrame(buffer, new LatestFrameInfo(4, 4, _time.GetUtcNow(), status.FramesCaptured + 1, null, null));
        buffer.Release();
    }

    [Fact]
    public void Evaluate_NotStreaming_Unhealthy()
    {
        var sut = new CameraStatus(new CameraOptions { Name = "cam", Url = "rtsp://cam/s" }, _time);
        sut.SetState(CameraState.Reconnecting, TransitionReasons.FfmpegExited, "Connection refused");

        var result = CameraHealth.Evaluate(sut);

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Equal("reconnecting: Connection refused", result.Description);
    }

    [Fact]
    public void Evaluate_StreamingAtConfiguredRate_Healthy()
    {
        var sut = Streaming(fps: 5, frames: 40);

        var result = CameraHealth.Evaluate(sut);

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal(5, (double)result.Data["measured_fps"], 1);
    }

    [Fact]
    public void Evaluate_LastFrameTooOld_Degraded()
    {
        var sut = Streaming(fps: 5, frames: 40);

        _time.Advance(TimeSpan.FromSeconds(2.5));

        var result = CameraHealth.Evaluate(sut);
        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.StartsWith("last frame 2.", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_HalfTheConfiguredRate_Degraded()
    {
        var sut = Streaming(fps: 10, frames: 0);
        for (var i = 0; i < 60; i++)
        {
            Frame(sut);
            _time.Advance(TimeSpan.FromSeconds(0.2));
        }

        var result = CameraHealth.Evaluate(sut);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal("5.0 fps, configured 10", result.Description);
    }

    [Fact]
    public void Evaluate_ManyDecodeErrors_DegradedForAMinute()
    {
        var sut = Streaming(fps: 5, frames: 40);

        sut.RecordDecodeErrors(CameraHealth.MaxDecodeErrorsPerMinute + 1);
        var during = CameraHealth.Evaluate(sut);
        for (var i = 0; i < 5 * 61; i++)
        {
            Frame(sut);
            _time.Advance(TimeSpan.FromSeconds(0.2));
        }

        var after = CameraHealth.Evaluate(sut);

        Assert.Equal(HealthStatus.Degraded, during.Status);
        Assert.Contains("decode errors", during.Description, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Healthy, after.Status);
        Assert.Equal(11L, sut.DecodeErrors);
    }

    [Fact]
    public void Evaluate_Flapping_Degraded()
    {
        var sut = Streaming(fps: 5, frames: 40);
        for (var i = 0; i < CameraHealth.FlappingReconnects; i++)
        {
            sut.RecordReconnect();
        }

        var result = CameraHealth.Evaluate(sut);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("3 reconnects", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void SetState_Transitions_KeptWithTimesReasonsAndMaskedDetails()
    {
        var sut = new CameraStatus(new CameraOptions { Name = "cam", Url = "rtsp://u:pw@cam/s" }, _time);

        sut.SetState(CameraState.Reconnecting, TransitionReasons.FfmpegExited, "rtsp://u:topsecret@cam/s: Connection refused");
        _time.Advance(TimeSpan.FromSeconds(1));
        sut.SetState(CameraState.Connecting, TransitionReasons.Retry, null);
        var unchanged = sut.SetState(CameraState.Connecting, TransitionReasons.Retry, null);

        var transitions = sut.RecentTransitions;
        Assert.Null(unchanged);
        Assert.Equal(2, transitions.Count);
        Assert.Equal((CameraState.Connecting, CameraState.Reconnecting), (transitions[0].From, transitions[0].To));
        Assert.Equal("rtsp://u:***@cam/s: Connection refused", transitions[0].Detail);
        Assert.Equal(_time.GetUtcNow(), transitions[1].At);
        Assert.Equal("rtsp://u:***@cam/s", sut.MaskedUrl);
        Assert.Equal(transitions[0].Detail, sut.LastError);
    }

    [Fact]
    public void SetState_ManyTransitions_KeepsTheLatestOnly()
    {
        var sut = new CameraStatus(new CameraOptions { Name = "cam", Url = "rtsp://cam/s" }, _time);

        for (var i = 0; i < 50; i++)
        {
            sut.SetState(i % 2 == 0 ? CameraState.Reconnecting : CameraState.Connecting, TransitionReasons.Retry, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal(CameraStatus.TransitionHistory, sut.RecentTransitions.Count);
        Assert.Equal("49", sut.RecentTransitions[^1].Detail);
    }

    [Fact]
    public void RecordFrame_LatestFrameHeld_UntilReplacedOrDisposed()
    {
        var sut = new CameraStatus(new CameraOptions { Name = "cam", Url = "rtsp://cam/s" }, _time);
        var first = _pool.Rent(16);
        var second = _pool.Rent(16);

        sut.RecordFrame(first, new LatestFrameInfo(4, 4, _time.GetUtcNow(), 1, null, null));
        first.Release();
        Assert.Equal(1, first.RefCount);
        sut.RecordFrame(second, new LatestFrameInfo(4, 4, _time.GetUtcNow(), 2, null, null));
        second.Release();
        var (pixels, info) = sut.AcquireLatestFrame()!.Value;

        Assert.Equal(0, first.RefCount);
        Assert.Same(second, pixels);
        Assert.Equal(2, info.Sequence);
        pixels.Release();
        sut.Dispose();
        Assert.Equal(0, _pool.Outstanding);
        Assert.Null(sut.AcquireLatestFrame());
    }
}
