using Detektor.Capture.Cameras;
using Microsoft.Extensions.Logging;

namespace Detektor.Capture;

/// <summary>Every log message of the capture component (event ids 1000–1199). Text arguments are masked before they get here.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Camera {Camera}: {From} -> {To} ({Reason}) {Detail}")]
    public static partial void StateChanged(ILogger logger, string camera, CameraState from, CameraState to, string reason, string detail);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Camera {Camera}: {Error}; reconnecting in {DelaySeconds:0.0} s (attempt {Attempt})")]
    public static partial void Reconnecting(ILogger logger, string camera, string error, double delaySeconds, int attempt);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Camera {Camera}: streaming {Url} as {Width}x{Height} at {Fps} fps")]
    public static partial void Streaming(ILogger logger, string camera, string url, int width, int height, double fps);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "{Note}")]
    public static partial void DemoCamera(ILogger logger, string note);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "{Note}")]
    public static partial void DemoCameraWithoutFootage(ILogger logger, string note);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "Capture started: {Count} camera(s): {Cameras}")]
    public static partial void CaptureStarted(ILogger logger, int count, string cameras);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Error, Message = "Camera {Camera}: the worker failed unexpectedly ({Error}); restarting it")]
    public static partial void WorkerFailed(ILogger logger, string camera, string error);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "ffmpeg [{Camera}]: {Line}")]
    public static partial void FfmpegOutput(ILogger logger, string camera, string line);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "ffmpeg [{Camera}]: {Count} more lines suppressed (rate limit)")]
    public static partial void FfmpegSuppressed(ILogger logger, string camera, int count);
}
