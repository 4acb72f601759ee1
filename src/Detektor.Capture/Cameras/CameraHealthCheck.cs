using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Detektor.Capture.Cameras;

/// <summary>
/// <c>camera:{name}</c>. Healthy: streaming, the last frame younger than max(2 s, 3 frame intervals) and the measured
/// rate at least 70 % of the configured one. Degraded: streaming but late or slow. Unhealthy: not streaming.
/// Carries no probe tag: a dead camera makes <c>/health</c> say <c>degraded</c> without restarting or unreadying anything.
/// </summary>
public sealed class CameraHealthCheck(CameraRegistry registry, string camera) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(registry.Find(camera) is { } status ? Evaluate(status) : HealthCheckResult.Unhealthy("not running in this process"));

    public static HealthCheckResult Evaluate(CameraStatus status)
    {
        var now = status.Time.GetUtcNow();
        var fps = status.MeasuredFps;
        var data = new Dictionary<string, object>
        {
            ["state"] = status.State.ToString().ToLowerInvariant(),
            ["measured_fps"] = Math.Round(fps, 2),
            ["configured_fps"] = status.Options.Fps,
            ["reconnects"] = status.Reconnects,
        };
        if (status.LastFrameAt is { } last)
        {
            data["last_frame_age_seconds"] = Math.Round((now - last).TotalSeconds, 2);
        }

        if (status.State != CameraState.Streaming)
        {
            return HealthCheckResult.Unhealthy($"{data["state"]}: {status.LastError ?? "no frames yet"}", data: data);
        }

        var maxAge = TimeSpan.FromSeconds(Math.Max(2, 3 / status.Options.Fps));
        var age = status.LastFrameAt is { } at ? now - at : TimeSpan.MaxValue;
        var warmingUp = now - status.StateSince < TimeSpan.FromSeconds(Math.Max(3, 5 / status.Options.Fps));
        if (age > maxAge)
        {
            return HealthCheckResult.Degraded($"last frame {age.TotalSeconds:0.0} s ago", data: data);
        }

        if (!warmingUp && fps < status.Options.Fps * 0.7)
        {
            return HealthCheckResult.Degraded($"{fps:0.0} fps, expected {status.Options.Fps:0.#}", data: data);
        }

        return HealthCheckResult.Healthy($"{fps:0.0} fps", data: data);
    }
}

/// <summary>Registers one <see cref="CameraHealthCheck"/> per camera that runs.</summary>
internal sealed class CameraHealthCheckRegistrations(IOptions<CaptureOptions> options) : IConfigureOptions<HealthCheckServiceOptions>
{
    public void Configure(HealthCheckServiceOptions health)
    {
        foreach (var camera in CaptureService.EffectiveCameras(options.Value))
        {
            var name = camera.Name;
            health.Registrations.Add(new HealthCheckRegistration(
                $"camera:{name}", sp => new CameraHealthCheck((CameraRegistry)sp.GetService(typeof(CameraRegistry))!, name), failureStatus: null, tags: ["camera"]));
        }
    }
}
