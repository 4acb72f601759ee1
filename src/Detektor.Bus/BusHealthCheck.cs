using Detektor.Bus.Abstractions;
using Detektor.Bus.Backpressure;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Bus;

/// <summary>
/// <c>queue:{topic}</c>: healthy below the warn watermark (default 80 % of the bound); degraded from it; for durable
/// topics unhealthy from the high watermark (default 95 %: the store is falling behind and publishers are about to
/// wait). A full perishable queue is only degraded: the breaker lowers the capture rate and what still overflows is
/// dropped oldest-first, counted, and the pipeline goes on. When the transport cannot be read the check is degraded
/// (the <c>redis</c> check says why).
/// </summary>
public sealed class BusHealthCheck(IFrameBus bus, string topic, BackpressureOptions? watermarks = null) : IHealthCheck
{
    private readonly BackpressureOptions _watermarks = watermarks ?? new BackpressureOptions();

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var all = bus.GetSnapshot();
        var snapshot = all.Topics.FirstOrDefault(t => string.Equals(t.Name, topic, StringComparison.Ordinal));
        if (!all.Available)
        {
            return Task.FromResult(HealthCheckResult.Degraded("the bus transport cannot be read now"));
        }

        if (snapshot is null || snapshot.Capacity <= 0)
        {
            return Task.FromResult(HealthCheckResult.Healthy("no messages yet"));
        }

        var fill = (double)snapshot.Depth / snapshot.Capacity;
        var data = new Dictionary<string, object>
        {
            ["depth"] = snapshot.Depth,
            ["capacity"] = snapshot.Capacity,
            ["pending"] = snapshot.InFlight,
            ["dropped"] = snapshot.DroppedByReason.Values.Sum(),
        };
        var description = $"{snapshot.Depth}/{snapshot.Capacity} queued";
        var result = fill switch
        {
            _ when fill >= _watermarks.HighWatermark && snapshot.Durability == TopicDurability.Durable => HealthCheckResult.Unhealthy(description, data: data),
            _ when fill >= _watermarks.WarnWatermark => HealthCheckResult.Degraded(description, data: data),
            _ => HealthCheckResult.Healthy(description, data: data),
        };
        return Task.FromResult(result);
    }
}
