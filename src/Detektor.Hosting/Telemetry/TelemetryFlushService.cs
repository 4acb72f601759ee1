using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Trace;

namespace Detektor.Hosting.Telemetry;

/// <summary>
/// Exports the spans the batch processor still holds once every hosted service has stopped (<see cref="StoppedAsync"/>
/// runs after all of their <c>StopAsync</c>): those of the last frames a camera worker captured while stopping, for one.
/// The provider would flush on disposal too, but silently and after everything else is torn down; here a flush that
/// does not finish in time is logged, so lost spans at shutdown are visible in the process's output. Metrics are left
/// to the provider's disposal: the Prometheus exporter is pulled and cannot flush, so a forced flush always reports
/// failure (the first CI run of this logged a false warning at every stop).
/// </summary>
internal sealed partial class TelemetryFlushService(IServiceProvider services, ILogger<TelemetryFlushService> logger) : IHostedLifecycleService
{
    /// <summary>How long each provider's flush may take.</summary>
    internal static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(5);

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        var timeout = (int)FlushTimeout.TotalMilliseconds;
        if (services.GetService<TracerProvider>() is { } tracing && !tracing.ForceFlush(timeout))
        {
            Log.FlushIncomplete(logger, timeout);
        }

        return Task.CompletedTask;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Telemetry: exporting the last spans at shutdown did not finish within {TimeoutMs} ms (or an exporter failed); some may be lost")]
        public static partial void FlushIncomplete(ILogger logger, int timeoutMs);
    }
}
