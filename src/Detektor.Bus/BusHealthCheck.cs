using Detektor.Bus.Abstractions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Bus;

/// <summary>
/// <c>queue:{topic}</c>: healthy below 80 % of the bound; degraded from 80 %; for durable topics unhealthy from 95 %
/// (the store is falling behind and publishers are about to wait). A full perishable queue is only degraded: it drops the
/// oldest frames, counted, and the pipeline goes on.
/// </summary>
public sealed class BusHealthCheck(IFrameBus bus, string topic) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = bus.GetSnapshot().Topics.FirstOrDefault(t => string.Equals(t.Name, topic, StringComparison.Ordinal));
        if (snapshot is null || snapshot.Capacity <= 0)
        {
            return Task.FromResult(HealthCheckResult.Healthy("no messages yet"));
        }

        var fill = (double)snapshot.Depth / snapshot.Capacity;
        var data = new Dictionary<string, object>
        {
            ["depth"] = snapshot.Depth,
            ["capacity"] = snapshot.Capacity,
            ["dropped"] = snapshot.DroppedByReason.Values.Sum(),
        };
        var description = $"{snapshot.Depth}/{snapshot.Capacity} queued";
        var result = fill switch
        {
            >= 0.95 when snapshot.Durability == TopicDurability.Durable => HealthCheckResult.Unhealthy(description, data: data),
            >= 0.8 => HealthCheckResult.Degraded(description, data: data),
            _ => HealthCheckResult.Healthy(description, data: data),
        };
        return Task.FromResult(result);
    }
}
