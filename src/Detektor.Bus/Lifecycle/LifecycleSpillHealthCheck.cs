using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Bus.Lifecycle;

/// <summary>
/// <c>lifecycle-spill</c>: healthy while nothing is spilled, degraded while lifecycle events wait in the spill for Redis
/// (with the depth), unhealthy while the spill is at its bound (publishers wait, or events are dropped, per
/// <c>WhenFull</c>). Data: <c>events</c>, <c>bytes</c>, <c>max_bytes</c>, <c>dropped_when_full</c>.
/// </summary>
public sealed class LifecycleSpillHealthCheck(LifecycleSpill spill) : IHealthCheck
{
    public const string Name = "lifecycle-spill";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var events = spill.Events;
        var bytes = spill.Bytes;
        var dropped = spill.DroppedWhenFull;
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["events"] = events,
            ["bytes"] = bytes,
            ["max_bytes"] = spill.MaxBytes,
            ["dropped_when_full"] = dropped,
        };
        var lost = dropped > 0 ? string.Create(CultureInfo.InvariantCulture, $"; {dropped} lifecycle events dropped at the bound since start") : string.Empty;
        if (spill.IsFull)
        {
            var action = spill.DropWhenFull ? "new lifecycle events are dropped" : "lifecycle publishers wait (capture stalls)";
            return Task.FromResult(HealthCheckResult.Unhealthy(
                string.Create(CultureInfo.InvariantCulture, $"lifecycle spill full: {events} events, {bytes} of {spill.MaxBytes} bytes in {spill.DirectoryPath}; {action}{lost}"),
                data: data));
        }

        if (spill.IsSpilling)
        {
            return Task.FromResult(HealthCheckResult.Degraded(
                string.Create(CultureInfo.InvariantCulture, $"{events} lifecycle events ({bytes} bytes) spilled to disk while Redis cannot take them; replayed when it is back{lost}"),
                data: data));
        }

        return Task.FromResult(HealthCheckResult.Healthy(string.Create(CultureInfo.InvariantCulture, $"lifecycle spill empty{lost}"), data));
    }
}
