using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Core.Hosting.Supervision;

/// <summary>The states of a supervised loop.</summary>
public enum LoopState
{
    Running,
    Restarting,
    Failed,
    Stopped,
}

/// <summary>One supervised loop as seen from outside: state, restarts, the last error.</summary>
public sealed class LoopStatus(string name)
{
    private long _restarts;
    private volatile string? _lastError;
    private volatile LoopContext? _context;
    private int _state = (int)LoopState.Running;

    public string Name { get; } = name;

    public LoopState State
    {
        get => (LoopState)Volatile.Read(ref _state);
        internal set => Volatile.Write(ref _state, (int)value);
    }

    /// <summary>Restarts since the loop was first started (all windows).</summary>
    public long Restarts => Interlocked.Read(ref _restarts);

    /// <summary>Why the last run ended abnormally (masked), or null.</summary>
    public string? LastError
    {
        get => _lastError;
        internal set => _lastError = value;
    }

    /// <summary>Progress reports of the current run.</summary>
    public long Progress => _context?.ProgressCount ?? 0;

    internal LoopContext? Context
    {
        get => _context;
        set => _context = value;
    }

    internal void CountRestart() => Interlocked.Increment(ref _restarts);

    public static string StateName(LoopState state) => state switch
    {
        LoopState.Running => "running",
        LoopState.Restarting => "restarting",
        LoopState.Failed => "failed",
        _ => "stopped",
    };
}

/// <summary>A supervised loop's health: running is healthy, restarting degraded, failed unhealthy.</summary>
internal sealed class LoopHealthCheck(LoopStatus loop) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["state"] = LoopStatus.StateName(loop.State),
            ["restarts"] = loop.Restarts,
        };
        if (loop.LastError is { } error)
        {
            data["last_error"] = error;
        }

        var result = loop.State switch
        {
            LoopState.Running => HealthCheckResult.Healthy("running", data),
            LoopState.Restarting => HealthCheckResult.Degraded("restarting after an error", data: data),
            LoopState.Failed => HealthCheckResult.Unhealthy("failed: too many restarts, given up", data: data),
            _ => HealthCheckResult.Healthy("stopped", data),
        };
        return Task.FromResult(result);
    }
}
