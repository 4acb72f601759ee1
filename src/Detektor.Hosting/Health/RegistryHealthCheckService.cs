using Detektor.Core.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Detektor.Hosting.Health;

/// <summary>
/// The health check service of every role: runs the checks registered at startup (<c>AddHealthChecks()</c>) and those in
/// the <see cref="HealthRegistry"/> now, concurrently, each within its timeout; a check that throws or times out reports its
/// failure status. Replaces the framework's service so the probes and the <see cref="HealthTelemetry"/> publisher see
/// run-time registrations without a restart. A run-time check with the name of a startup one replaces it.
/// </summary>
public sealed class RegistryHealthCheckService(
    IOptions<HealthCheckServiceOptions> options, HealthRegistry registry, IServiceScopeFactory scopes, TimeProvider time) : HealthCheckService
{
    public override async Task<HealthReport> CheckHealthAsync(Func<HealthCheckRegistration, bool>? predicate, CancellationToken cancellationToken = default)
    {
        var selected = new Dictionary<string, HealthCheckRegistration>(StringComparer.OrdinalIgnoreCase);
        foreach (var registration in options.Value.Registrations)
        {
            if (predicate is null || predicate(registration))
            {
                selected[registration.Name] = registration;
            }
        }

        foreach (var registration in registry.Snapshot())
        {
            if (predicate is null || predicate(registration))
            {
                selected[registration.Name] = registration;
            }
            else
            {
                selected.Remove(registration.Name);
            }
        }

        var started = time.GetTimestamp();
        await using var scope = scopes.CreateAsyncScope();
        var tasks = new Task<HealthReportEntry>[selected.Count];
        var names = new string[selected.Count];
        var i = 0;
        foreach (var (name, registration) in selected)
        {
            names[i] = name;
            tasks[i] = RunAsync(registration, scope.ServiceProvider, cancellationToken);
            i++;
        }

        var entries = await Task.WhenAll(tasks);
        var report = new Dictionary<string, HealthReportEntry>(entries.Length, StringComparer.OrdinalIgnoreCase);
        for (var j = 0; j < entries.Length; j++)
        {
            report[names[j]] = entries[j];
        }

        return new HealthReport(report, time.GetElapsedTime(started));
    }

    private async Task<HealthReportEntry> RunAsync(HealthCheckRegistration registration, IServiceProvider services, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var started = time.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (registration.Timeout > TimeSpan.Zero && registration.Timeout != Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(registration.Timeout);
        }

        try
        {
            var check = registration.Factory(services);
            var result = await check.CheckHealthAsync(new HealthCheckContext { Registration = registration }, timeout.Token);
            return new HealthReportEntry(result.Status, result.Description, time.GetElapsedTime(started), result.Exception, result.Data, registration.Tags);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new HealthReportEntry(
                registration.FailureStatus, $"timed out after {registration.Timeout.TotalSeconds:0.#} s", time.GetElapsedTime(started), null, null, registration.Tags);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            return new HealthReportEntry(registration.FailureStatus, ex.Message, time.GetElapsedTime(started), ex, null, registration.Tags);
        }
    }
}
