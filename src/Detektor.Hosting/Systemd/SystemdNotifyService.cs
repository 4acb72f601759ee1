using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Detektor.Core.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Detektor.Hosting.Systemd;

/// <summary>
/// The systemd notify protocol (<c>Type=notify</c>, <c>WatchdogSec=</c>) without a library: when systemd starts Detektor it
/// sets <c>NOTIFY_SOCKET</c>; this sends <c>READY=1</c> once the application has started, <c>STOPPING=1</c> when it stops,
/// and — when <c>WATCHDOG_USEC</c> is set — <c>WATCHDOG=1</c> every half watchdog interval while the live health checks
/// pass. A process whose live checks fail (or that hangs) stops pinging and systemd restarts it. Outside systemd
/// (no <c>NOTIFY_SOCKET</c>) it does nothing.
/// </summary>
public sealed partial class SystemdNotifyService(
    IHostApplicationLifetime lifetime, HealthCheckService health, TimeProvider time, ILogger<SystemdNotifyService> logger) : BackgroundService
{
    public const string SocketVariable = "NOTIFY_SOCKET";
    public const string WatchdogVariable = "WATCHDOG_USEC";

    /// <summary>The watchdog interval systemd asked for (<c>WATCHDOG_USEC</c>), or null.</summary>
    public static TimeSpan? WatchdogInterval(string? usec) =>
        long.TryParse(usec, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? TimeSpan.FromMicroseconds(value) : null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var path = Environment.GetEnvironmentVariable(SocketVariable);
        if (string.IsNullOrEmpty(path))
        {
            return;
        }

        // Abstract socket names start with '@' (a NUL byte on the wire).
        var endpoint = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onStarted = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        // STOPPING=1 is the last word: a watchdog ping whose health check was under way when stopping began is not sent.
        var gate = new Lock();
        var stopping = false;
        using var onStopping = lifetime.ApplicationStopping.Register(() =>
        {
            lock (gate)
            {
                stopping = true;
                Send(socket, endpoint, "STOPPING=1");
            }
        });
        try
        {
            await started.Task.WaitAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        Send(socket, endpoint, "READY=1\nSTATUS=running");
        Log.Ready(logger, path);

        if (WatchdogInterval(Environment.GetEnvironmentVariable(WatchdogVariable)) is not { } interval)
        {
            return;
        }

        using var timer = new PeriodicTimer(interval / 2, time);
        try
        {
            do
            {
                var report = await health.CheckHealthAsync(c => c.Tags.Contains(HealthTags.Live), stoppingToken);
                if (report.Status == HealthStatus.Unhealthy)
                {
                    Log.WatchdogWithheld(logger, string.Join(", ", report.Entries.Where(e => e.Value.Status == HealthStatus.Unhealthy).Select(e => e.Key)));
                    continue;
                }

                lock (gate)
                {
                    if (stopping)
                    {
                        return;
                    }

                    Send(socket, endpoint, "WATCHDOG=1");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Send(Socket socket, UnixDomainSocketEndPoint endpoint, string message)
    {
        try
        {
            socket.SendTo(Encoding.ASCII.GetBytes(message), endpoint);
        }
        catch (SocketException ex)
        {
            Log.SendFailed(logger, message, ex.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 9101, Level = LogLevel.Information, Message = "systemd notified: ready (socket {Socket})")]
        public static partial void Ready(ILogger logger, string socket);

        [LoggerMessage(EventId = 9102, Level = LogLevel.Warning, Message = "systemd watchdog ping withheld: live checks unhealthy: {Checks}")]
        public static partial void WatchdogWithheld(ILogger logger, string checks);

        [LoggerMessage(EventId = 9103, Level = LogLevel.Warning, Message = "systemd notification {Message} could not be sent: {Error}")]
        public static partial void SendFailed(ILogger logger, string message, string error);
    }
}

public static class SystemdExtensions
{
    /// <summary>Adds <see cref="SystemdNotifyService"/> (a no-op unless systemd started the process with <c>Type=notify</c>).</summary>
    public static IServiceCollection AddSystemdNotify(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddHostedService<SystemdNotifyService>();
        return services;
    }
}
