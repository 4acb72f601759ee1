using System.Collections.Concurrent;
using Detektor.Core.Health;
using Detektor.Core.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Detektor.Core.Hosting.Supervision;

/// <summary>
/// Runs long-running loops and keeps them alive (docs/adr/0004-supervisor.md):
/// <code>
/// running ──throws──▶ restarting ──back-off (initial · 2ⁿ, capped)──▶ running
///    │  └──busy, no progress for StallTimeout──▶ cancelled (abandoned if it does not return) ──▶ restarting
///    └──more than MaxRestarts restarts within Window──▶ failed (health unhealthy, metric, error log; stays failed)
/// </code>
/// A loop that returns on its own (its input ended) or because the host stops is not restarted. Each loop is a health
/// check <c>loop:NAME</c> (registered while it runs, tagged live) and a series of the supervisor's metrics.
/// </summary>
public sealed partial class LoopSupervisor
{
    public const string FaultReason = "fault";
    public const string StalledReason = "stalled";

    private readonly SupervisorOptions _options;
    private readonly SupervisorTelemetry _telemetry;
    private readonly HealthRegistry _health;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, LoopStatus> _loops = new(StringComparer.Ordinal);

    public LoopSupervisor(
        IOptions<SupervisorOptions> options,
        SupervisorTelemetry telemetry,
        HealthRegistry health,
        TimeProvider time,
        ILogger<LoopSupervisor>? logger = null)
    {
        _options = options.Value;
        _telemetry = telemetry;
        _health = health;
        _time = time;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _telemetry.Attach(() => [.. _loops.Values]);
    }

    /// <summary>The loops running under supervision now.</summary>
    public IReadOnlyCollection<LoopStatus> Loops => [.. _loops.Values];

    public LoopStatus? Find(string loop) => _loops.GetValueOrDefault(loop);

    /// <summary>
    /// Runs <paramref name="body"/> until it returns or <paramref name="stoppingToken"/> fires, restarting it as the
    /// options say. The body gets a fresh <see cref="LoopContext"/> and a token that fires on stop or when it stalled.
    /// </summary>
    public async Task RunAsync(string loop, Func<LoopContext, CancellationToken, Task> body, CancellationToken stoppingToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(loop);
        var status = new LoopStatus(loop);
        if (!_loops.TryAdd(loop, status))
        {
            throw new InvalidOperationException($"A loop named '{loop}' is already supervised; loop names must be unique.");
        }

        using var check = _health.Register("loop:" + loop, new LoopHealthCheck(status), HealthTags.Live);
        var restarts = new Queue<long>();
        try
        {
            while (true)
            {
                var context = new LoopContext(_time);
                status.Context = context;
                status.State = LoopState.Running;
                var (reason, error) = await RunOnceAsync(loop, body, context, stoppingToken);
                if (reason is null || stoppingToken.IsCancellationRequested)
                {
                    return;
                }

                status.LastError = error;
                var now = _time.GetTimestamp();
                while (restarts.Count > 0 && _time.GetElapsedTime(restarts.Peek(), now) > _options.Window)
                {
                    restarts.Dequeue();
                }

                if (restarts.Count >= _options.MaxRestarts)
                {
                    status.State = LoopState.Failed;
                    _telemetry.RecordFailure(loop);
                    Log.LoopFailed(_logger, loop, restarts.Count, _options.Window.TotalSeconds, reason, error ?? "");
                    await WaitForStopAsync(stoppingToken);
                    return;
                }

                restarts.Enqueue(now);
                status.State = LoopState.Restarting;
                status.CountRestart();
                _telemetry.RecordRestart(loop, reason);
                var delay = Backoff(restarts.Count);
                Log.Restarting(_logger, loop, reason, error ?? "", delay.TotalSeconds, restarts.Count, _options.MaxRestarts);
                try
                {
                    await Task.Delay(delay, _time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        finally
        {
            status.State = LoopState.Stopped;
            _loops.TryRemove(new KeyValuePair<string, LoopStatus>(loop, status));
        }
    }

    /// <summary>The delay before the <paramref name="restart"/>th restart in the window (1-based).</summary>
    public TimeSpan Backoff(int restart)
    {
        var factor = Math.Pow(2, Math.Clamp(restart - 1, 0, 30));
        var delay = TimeSpan.FromTicks((long)Math.Min(_options.BackoffInitial.Ticks * factor, _options.BackoffMax.Ticks));
        return delay < _options.BackoffMax ? delay : _options.BackoffMax;
    }

    /// <summary>One run: null reason when it returned normally (or the host stops), else why it must be restarted.</summary>
    private async Task<(string? Reason, string? Error)> RunOnceAsync(
        string loop, Func<LoopContext, CancellationToken, Task> body, LoopContext context, CancellationToken stoppingToken)
    {
        using var run = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var task = Task.Run(() => body(context, run.Token), CancellationToken.None);
        var interval = TimeSpan.FromTicks(Math.Clamp(_options.StallTimeout.Ticks / 4, TimeSpan.FromMilliseconds(25).Ticks, TimeSpan.FromSeconds(1).Ticks));
        while (!task.IsCompleted)
        {
            // Wakes at the next tick, when the run ends, or at once when the host stops.
            await Task.WhenAny(task, Task.Delay(interval, _time, stoppingToken));
            if (task.IsCompleted || stoppingToken.IsCancellationRequested)
            {
                break;
            }

            if (context.Busy && context.SinceProgress > _options.StallTimeout)
            {
                var stalledFor = context.SinceProgress;
                context.MarkStalled();
                await run.CancelAsync();
                var grace = _options.StallTimeout < TimeSpan.FromSeconds(5) ? _options.StallTimeout : TimeSpan.FromSeconds(5);
                using var graceTimeout = new CancellationTokenSource(grace, _time);
                await task.WaitAsync(graceTimeout.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (!task.IsCompleted)
                {
                    // It ignores cancellation: leave it behind and account for what it held.
                    Log.Abandoned(_logger, loop, grace.TotalSeconds);
                    if (await context.AbandonAsync() is { } abandonError)
                    {
                        Log.AbandonFailed(_logger, loop, Describe(abandonError));
                    }

                    _ = task.ContinueWith(
                        static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }

                return (StalledReason, $"no progress for {stalledFor.TotalSeconds:0.#} s");
            }
        }

        if (stoppingToken.IsCancellationRequested)
        {
            // Let it finish its shutdown path (drain, account) before the host goes on.
            await task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return (null, null);
        }

        if (task.IsFaulted)
        {
            return (FaultReason, Describe(task.Exception!.GetBaseException()));
        }

        if (task.IsCanceled)
        {
            return (FaultReason, "cancelled unexpectedly");
        }

        return (null, null);
    }

    private static async Task WaitForStopAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Type, masked message and where it was thrown (the first frames of the stack: method names, never data).</summary>
    private static string Describe(Exception ex)
    {
        var where = ex.StackTrace is { } stack
            ? string.Join(" ", stack.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(4))
            : "";
        return SecretMasker.MaskSecrets($"{ex.GetType().Name}: {ex.Message} {where}").TrimEnd();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 9001, Level = LogLevel.Warning,
            Message = "Loop {Loop} ended ({Reason}: {Error}); restarting in {DelaySeconds} s (restart {Restart} of {MaxRestarts} in the window)")]
        public static partial void Restarting(ILogger logger, string loop, string reason, string error, double delaySeconds, int restart, int maxRestarts);

        [LoggerMessage(EventId = 9002, Level = LogLevel.Error,
            Message = "Loop {Loop} failed: {Restarts} restarts within {WindowSeconds} s, last {Reason}: {Error}; it stays failed until the process restarts")]
        public static partial void LoopFailed(ILogger logger, string loop, int restarts, double windowSeconds, string reason, string error);

        [LoggerMessage(EventId = 9003, Level = LogLevel.Warning,
            Message = "Loop {Loop} stalled and did not return within {GraceSeconds} s of being cancelled; abandoned, its work in hand accounted")]
        public static partial void Abandoned(ILogger logger, string loop, double graceSeconds);

        [LoggerMessage(EventId = 9004, Level = LogLevel.Error, Message = "Loop {Loop}: accounting for the abandoned work failed: {Error}")]
        public static partial void AbandonFailed(ILogger logger, string loop, string error);
    }
}
