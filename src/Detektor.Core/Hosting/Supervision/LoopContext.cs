namespace Detektor.Core.Hosting.Supervision;

/// <summary>
/// What a supervised loop tells its supervisor, per run (a restart gets a fresh context). Call <see cref="WorkStarted"/>
/// when a piece of work is taken (a frame, a batch) and <see cref="WorkFinished"/> when it is done; a loop busy with one
/// piece for longer than <see cref="SupervisorOptions.StallTimeout"/> is stalled. <see cref="Progress"/> marks progress
/// inside long work. A loop that never calls <see cref="WorkStarted"/> is never considered stalled (it has no work in hand).
/// Cheap enough to call per frame: no allocation, no lock.
/// </summary>
public sealed class LoopContext
{
    private readonly TimeProvider _time;
    private readonly List<Func<ValueTask>> _onAbandoned = [];
    private long _lastProgress;
    private long _progress;
    private int _busy;
    private volatile bool _stallDetected;

    public LoopContext(TimeProvider time)
    {
        _time = time;
        _lastProgress = time.GetTimestamp();
    }

    /// <summary>Progress reports of this run (work finished plus explicit <see cref="Progress"/> calls).</summary>
    public long ProgressCount => Interlocked.Read(ref _progress);

    /// <summary>True while a piece of work is in hand.</summary>
    public bool Busy => Volatile.Read(ref _busy) == 1;

    /// <summary>True once the supervisor found this run stalled and cancelled it (so work in hand ends as stalled, not shutdown).</summary>
    public bool StallDetected => _stallDetected;

    public void WorkStarted()
    {
        Interlocked.Exchange(ref _lastProgress, _time.GetTimestamp());
        Volatile.Write(ref _busy, 1);
    }

    public void WorkFinished()
    {
        Volatile.Write(ref _busy, 0);
        Progress();
    }

    public void Progress()
    {
        Interlocked.Exchange(ref _lastProgress, _time.GetTimestamp());
        Interlocked.Increment(ref _progress);
    }

    /// <summary>
    /// Registers what must happen to the work in hand when this run is abandoned: it stalled and did not return after
    /// being cancelled. The callback accounts for it (records it dropped with a reason, or hands it back for redelivery).
    /// </summary>
    public void OnAbandoned(Func<ValueTask> callback)
    {
        lock (_onAbandoned)
        {
            _onAbandoned.Add(callback);
        }
    }

    internal void MarkStalled() => _stallDetected = true;

    internal TimeSpan SinceProgress => _time.GetElapsedTime(Interlocked.Read(ref _lastProgress));

    internal async Task<Exception?> AbandonAsync()
    {
        Func<ValueTask>[] callbacks;
        lock (_onAbandoned)
        {
            callbacks = [.. _onAbandoned];
        }

        Exception? first = null;
        foreach (var callback in callbacks)
        {
            try
            {
                await callback();
            }
            catch (Exception ex)
            {
                first ??= ex;
            }
        }

        return first;
    }
}
