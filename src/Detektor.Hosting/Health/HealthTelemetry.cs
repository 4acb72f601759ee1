using System.Diagnostics.Metrics;
using Detektor.Core.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Hosting.Health;

/// <summary>
/// Every health check as a metric: a health check publisher runs all registered checks every
/// <see cref="Period"/> and the gauge <c>detektor.health.check.status{check, health_status}</c> reports 1 for each check's
/// current status (healthy, degraded, unhealthy) and 0 for the others — so a state change shows in Prometheus within one
/// period plus one scrape, and alerts and dashboards see the same checks as <c>/health</c>.
/// </summary>
public sealed class HealthTelemetry : IHealthCheckPublisher, IDisposable
{
    public const string CheckTag = "check";
    public const string StatusTag = "health_status";

    /// <summary>How often every check runs for the metric (the bar: a state change is seen within 5 s).</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    private static readonly (HealthStatus Status, string Name)[] Statuses =
        [(HealthStatus.Healthy, "healthy"), (HealthStatus.Degraded, "degraded"), (HealthStatus.Unhealthy, "unhealthy")];

    private readonly Meter _meter;
    private volatile HealthReport? _last;

    public HealthTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(TelemetryNames.Hosting);
        _meter.CreateObservableGauge(
            "detektor.health.check.status", Observe, "1", "1 for each health check's current status (healthy, degraded, unhealthy), 0 for the others.");
        _meter.CreateObservableGauge(
            "detektor.process.memory", ObserveMemory, "By",
            "Resident memory of the process by kind: anonymous (heaps: GC, malloc, ONNX Runtime, SQLite; where a leak shows), file (mapped libraries and files), shmem. Linux only.");
    }

    private static IEnumerable<Measurement<long>> ObserveMemory()
    {
        if (ProcessMemory.ReadSelf() is not { } memory)
        {
            yield break;
        }

        yield return new Measurement<long>(memory.Anonymous, new KeyValuePair<string, object?>("kind", "anonymous"));
        yield return new Measurement<long>(memory.FileBacked, new KeyValuePair<string, object?>("kind", "file"));
        yield return new Measurement<long>(memory.Shared, new KeyValuePair<string, object?>("kind", "shmem"));
    }

    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        _last = report;
        return Task.CompletedTask;
    }

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<int>> Observe()
    {
        if (_last is not { } report)
        {
            yield break;
        }

        foreach (var (name, entry) in report.Entries)
        {
            foreach (var (status, statusName) in Statuses)
            {
                yield return new Measurement<int>(
                    entry.Status == status ? 1 : 0, new KeyValuePair<string, object?>(CheckTag, name), new KeyValuePair<string, object?>(StatusTag, statusName));
            }
        }
    }
}

public static class HealthTelemetryExtensions
{
    /// <summary>Publishes every health check as the <c>detektor.health.check.status</c> gauge, refreshed every 5 s.</summary>
    public static IServiceCollection AddHealthMetrics(this IServiceCollection services)
    {
        services.AddSingleton<HealthTelemetry>();
        services.AddSingleton<IHealthCheckPublisher>(sp => sp.GetRequiredService<HealthTelemetry>());
        services.Configure<HealthCheckPublisherOptions>(o =>
        {
            o.Delay = TimeSpan.FromSeconds(1);
            o.Period = HealthTelemetry.Period;
        });
        return services;
    }
}
