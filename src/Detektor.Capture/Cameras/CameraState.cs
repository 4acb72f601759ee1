using System.Text.Json.Serialization;

namespace Detektor.Capture.Cameras;

/// <summary>
/// Where a camera's connection is. Transitions:
/// <c>connecting → streaming → (stalled →) reconnecting → connecting …</c>; <c>connecting → (stalled →) reconnecting</c>
/// when ffmpeg exits or no first frame arrives; any state → <c>stopped</c> at shutdown (or at the end of a file that is not
/// looped).
/// </summary>
public enum CameraState
{
    [JsonStringEnumMemberName("connecting")]
    Connecting,

    [JsonStringEnumMemberName("streaming")]
    Streaming,

    [JsonStringEnumMemberName("stalled")]
    Stalled,

    [JsonStringEnumMemberName("reconnecting")]
    Reconnecting,

    [JsonStringEnumMemberName("stopped")]
    Stopped,
}

/// <summary>
/// Why a camera changed state: a small fixed set (used as a metric tag, so it must stay bounded). The free-text detail of a
/// transition (ffmpeg's last error line, masked) goes to logs and the API, never to metrics.
/// </summary>
public static class TransitionReasons
{
    /// <summary>The worker started (first connect).</summary>
    public const string Start = "start";

    /// <summary>The back-off delay is over; connecting again.</summary>
    public const string Retry = "retry";

    /// <summary>The first frame of a connection arrived.</summary>
    public const string FirstFrame = "first_frame";

    /// <summary>A streaming connection delivered no frame for the stall timeout: ffmpeg was killed.</summary>
    public const string Stall = "stall";

    /// <summary>A new connection delivered no first frame within the connect timeout: ffmpeg was killed.</summary>
    public const string NoFirstFrame = "no_first_frame";

    /// <summary>ffmpeg exited (connection refused, stream ended, no video track, invalid data, …).</summary>
    public const string FfmpegExited = "ffmpeg_exited";

    /// <summary>ffmpeg could not be started at all.</summary>
    public const string FfmpegStartFailed = "ffmpeg_start_failed";

    /// <summary>A file camera that does not loop reached its end.</summary>
    public const string EndOfFile = "end_of_file";

    /// <summary>The process is shutting down.</summary>
    public const string Shutdown = "shutdown";

    public static readonly IReadOnlyList<string> All = [Start, Retry, FirstFrame, Stall, NoFirstFrame, FfmpegExited, FfmpegStartFailed, EndOfFile, Shutdown];
}

/// <summary>One state change of a camera, as shown by <c>GET /api/v1/cameras/{name}</c>.</summary>
/// <param name="From">The state before.</param>
/// <param name="To">The state after.</param>
/// <param name="At">When it happened.</param>
/// <param name="Reason">One of <see cref="TransitionReasons"/>.</param>
/// <param name="Detail">What happened, in words (secrets masked); null when the reason says it all.</param>
public sealed record CameraTransition(CameraState From, CameraState To, DateTimeOffset At, string Reason, string? Detail);
