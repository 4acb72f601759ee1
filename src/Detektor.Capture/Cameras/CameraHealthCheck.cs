using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Capture.Cameras;

/// <summary>
/// Stream health of one camera from what its status measured:
/// <list type="bullet">
/// <item><b>unhealthy</b> — not streaming (connecting, stalled, reconnecting, stopped).</item>
/// <item><b>degraded</b> — streaming, but the last frame is older than max(2 s, 3 frame intervals); or, once warmed up
/// (5 s or 5 frame intervals of streaming), the measured rate is below 70 % of the configured one; or more than
/// <see cref="MaxDecodeErrorsPerMinute"/> decode errors in the last minute; or at least <see cref="FlappingReconnects"/>
/// reconnects in the last 10 minutes.</item>
/// <item><b>healthy</b> — otherwise.</item>
/// </list>
/// </summary>
public static class CameraHealth
{
    public const double MinFpsRatio = 0.7;
    public const int MaxDecodeErrorsPerMinute = 10;
    public const int FlappingReconnects = 3;
    public static readonly TimeSpan FlappingWindow = TimeSpan.FromMinutes(10);

    public static HealthCheckResult Evaluate(CameraStatus status)
    {
        var now = status.Time.GetUtcNow();
        var fps = status.MeasuredFps;
        var configuredFps = status.Options.Fps;
        var decodeErrors = status.DecodeErrorsWithin(TimeSpan.FromMinutes(1));
        var recentReconnects = status.ReconnectsWithin(FlappingWindow);
        var state = status.State;
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["state"] = StateName(state),
            ["measured_fps"] = Math.Round(fps, 2),
            ["configured_fps"] = configuredFps,
            ["reconnects"] = status.Reconnects,
            ["decode_errors"] = status.DecodeErrors,
            ["decode_errors_last_minute"] = decodeErrors,
        };
        var age = status.LastFrameAt is { } last ? now - last : (TimeSpan?)null;
        if (age is { } a)
        {
            data["last_frame_age_seconds"] = Math.Round(a.TotalSeconds, 2);
        }

        if (state != CameraState.Streaming)
        {
            return HealthCheckResult.Unhealthy($"{StateName(state)}: {status.LastError ?? "no frames yet"}", data: data);
        }

        var maxAge = TimeSpan.FromSeconds(Math.Max(2, 3 / configuredFps));
        if (age is null || age > maxAge)
        {
            return HealthCheckResult.Degraded(Format($"last frame {(age ?? TimeSpan.Zero).TotalSeconds:0.0} s ago (allowed {maxAge.TotalSeconds:0.#} s)"), data: data);
        }

        var warmedUp = now - status.StateSince >= TimeSpan.FromSeconds(Math.Max(5, 5 / configuredFps));
        if (warmedUp && fps < configuredFps * MinFpsRatio)
        {
            return HealthCheckResult.Degraded(Format($"{fps:0.0} fps, configured {configuredFps:0.##}"), data: data);
        }

        if (decodeErrors > MaxDecodeErrorsPerMinute)
        {
            return HealthCheckResult.Degraded(Format($"{decodeErrors} decode errors in the last minute"), data: data);
        }

        if (recentReconnects >= FlappingReconnects)
        {
            return HealthCheckResult.Degraded(Format($"{recentReconnects} reconnects in the last {FlappingWindow.TotalMinutes:0} minutes"), data: data);
        }

        return HealthCheckResult.Healthy(Format($"{fps:0.0} fps"), data: data);
    }

    public static string StateName(CameraState state) => state switch
    {
        CameraState.Connecting => "connecting",
        CameraState.Streaming => "streaming",
        CameraState.Stalled => "stalled",
        CameraState.Reconnecting => "reconnecting",
        _ => "stopped",
    };

    public static string StatusName(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Health check <c>camera:{name}</c> (see <see cref="CameraHealth"/>). Carries no probe tag: a dead camera makes
/// <c>/health</c> say <c>degraded</c> without restarting or unreadying the process.
/// </summary>
public sealed class CameraHealthCheck(CameraRegistry registry, string camera) : IHealthCheck
{
    public const string NamePrefix = "camera:";

    /// <summary>The tag of camera checks (none of the probe tags: a camera down makes /health degraded, never 503).</summary>
    public const string Tag = "camera";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(registry.Find(camera) is { } status ? CameraHealth.Evaluate(status) : HealthCheckResult.Unhealthy("not running in this process"));
}
