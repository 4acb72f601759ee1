using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Detection.Detectors;

/// <summary>
/// <c>detector:objects</c> / <c>detector:faces</c>: healthy when ready (or disabled by configuration), degraded while
/// loading or when unavailable (frames are then skipped with <c>detector_unavailable</c>, the process keeps running).
/// </summary>
public sealed class DetectorHealthCheck(DetectorRuntime runtime, string detector) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = detector == DetectorRuntime.ObjectsName ? runtime.ObjectsStatus : runtime.FacesStatus;
        var data = new Dictionary<string, object> { ["state"] = status.State.ToString().ToLowerInvariant() };
        if (status.Model is not null)
        {
            data["model"] = status.Model;
        }

        if (status.Provider is not null)
        {
            data["provider"] = status.Provider;
        }

        return Task.FromResult(status.State switch
        {
            DetectorState.Ready => HealthCheckResult.Healthy($"{status.Model} on {status.Provider}", data),
            DetectorState.Disabled => HealthCheckResult.Healthy("disabled by configuration", data),
            DetectorState.Loading => HealthCheckResult.Degraded("loading the model", data: data),
            _ => HealthCheckResult.Degraded(status.Reason, data: data),
        });
    }
}
