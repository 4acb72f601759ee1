using System.Diagnostics;
using System.Threading.Channels;

namespace Detektor.Detection.Inference;

/// <summary>
/// Runs inferences on a fixed number of dedicated threads (the lanes), never on the thread pool. ONNX Runtime's
/// <c>Run</c> blocks its caller for the whole inference; run on pool threads by every processing consumer at once, it
/// would take the pool's threads (two on a 2-core box) from the bus, the store writer and Kestrel, and let more
/// inferences compete for the cores than there are cores. With the lanes, a processing consumer awaits its inference
/// without holding a thread, so more consumers than lanes keep the cheap frames (skipped by motion or detect fps) moving
/// while the lanes are busy, and the cores are shared by at most <see cref="Count"/> inferences (ADR 0007). The queue is
/// bounded; a caller waits for room.
/// </summary>
public sealed partial class InferenceLanes : IDisposable
{
    private readonly Channel<Work> _queue;
    private readonly Thread[] _threads;
    private int _waiting;
    private int _niced;
    private int _niceFailed;
    private readonly Action? _niceRefused;
    private readonly Func<int, bool> _setNice;
    private readonly Lock _lifecycle = new();
    private bool _started;
    private bool _disposed;

    /// <param name="count">Lanes: inferences run at once.</param>
    /// <param name="nice">
    /// Linux scheduling niceness of the lane threads (0–19; 0 = as the rest of the process). Above 0, the pipeline's own
    /// work (capture, cheap frames, the store) takes the cores first and inference gets what is left.
    /// </param>
    /// <param name="capacity">Inferences queued at most; a caller waits for room.</param>
    /// <param name="niceRefused">Called once, on a lane thread, when the OS does not take <paramref name="nice"/> (not Linux, no <c>setpriority</c>).</param>
    public InferenceLanes(int count, int nice = 0, int capacity = 256, Action? niceRefused = null)
        : this(count, nice, capacity, niceRefused, SetNice)
    {
    }

    /// <summary>With the call that sets a thread's niceness given (tests: an OS that refuses it).</summary>
    internal InferenceLanes(int count, int nice, int capacity, Action? niceRefused, Func<int, bool> setNice)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(nice);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nice, 19);
        Count = count;
        Nice = nice;
        _niceRefused = niceRefused;
        _setNice = setNice;
        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(capacity) { SingleWriter = false, SingleReader = false });
        _threads = new Thread[count];
        for (var i = 0; i < count; i++)
        {
            _threads[i] = new Thread(Drain) { IsBackground = true, Name = $"detektor-inference-{i}" };
        }
    }

    /// <summary>How many inferences may run at once.</summary>
    public int Count { get; }

    /// <summary>The lane threads' niceness as asked; <see cref="NiceApplied"/> says whether the OS took it.</summary>
    public int Nice { get; }

    /// <summary>True once every lane thread runs at <see cref="Nice"/> (always true for 0; false off Linux).</summary>
    public bool NiceApplied => Nice == 0 || Volatile.Read(ref _niced) == Count;

    /// <summary>Inferences queued or running now.</summary>
    public int Pending => Volatile.Read(ref _waiting);

    /// <summary>
    /// Runs <paramref name="work"/> with <paramref name="state"/> on a lane and completes with its result and how long it
    /// waited for the lane. The continuation does not run on the lane. Cancelled while queued: it never runs.
    /// </summary>
    public async Task<(T Result, TimeSpan Wait)> RunAsync<TState, T>(Func<TState, T> work, TState state, CancellationToken cancellationToken = default)
    {
        if (!Volatile.Read(ref _started))
        {
            Start();
        }

        var item = new Work<TState, T>(work, state, cancellationToken);
        Interlocked.Increment(ref _waiting);
        try
        {
            await _queue.Writer.WriteAsync(item, cancellationToken);
        }
        catch
        {
            Interlocked.Decrement(ref _waiting);
            throw;
        }

        return await item.Completion.Task;
    }

    /// <summary>The threads start with the first inference: a process that never detects (the api role, detection off) has none.</summary>
    private void Start()
    {
        lock (_lifecycle)
        {
            if (_started || _disposed)
            {
                return; // disposed: RunAsync's write to the completed queue throws
            }

            foreach (var thread in _threads)
            {
                thread.Start();
            }

            Volatile.Write(ref _started, true);
        }
    }

    private void Drain()
    {
        if (Nice > 0)
        {
            if (_setNice(Nice))
            {
                Interlocked.Increment(ref _niced);
            }
            else if (Interlocked.Exchange(ref _niceFailed, 1) == 0)
            {
                _niceRefused?.Invoke();
            }
        }

        var reader = _queue.Reader;
        while (true)
        {
            while (reader.TryRead(out var item))
            {
                try
                {
                    item.Execute();
                }
                finally
                {
                    Interlocked.Decrement(ref _waiting);
                }
            }

            // Blocks this dedicated thread only; false once the queue is completed (Dispose).
            if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                return;
            }
        }
    }

    /// <summary>Lets queued work finish, then ends the lanes.</summary>
    public void Dispose()
    {
        bool started;
        lock (_lifecycle)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            started = _started;
            _queue.Writer.TryComplete();
        }

        if (started)
        {
            foreach (var thread in _threads)
            {
                thread.Join(TimeSpan.FromSeconds(30));
            }
        }
    }

    /// <summary>Sets the calling thread's niceness (Linux applies PRIO_PROCESS with a thread id to that thread alone).</summary>
    private static bool SetNice(int nice)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            return NativeMethods.SetPriority(0, NativeMethods.GetTid(), nice) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    private static partial class NativeMethods
    {
        [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "gettid")]
        public static partial int GetTid();

        [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "setpriority")]
        public static partial int SetPriority(int which, int who, int priority);
    }

    private abstract class Work
    {
        /// <summary>Runs the work unless it was cancelled while queued.</summary>
        public abstract void Execute();
    }

    private sealed class Work<TState, T>(Func<TState, T> work, TState state, CancellationToken cancellationToken) : Work
    {
        private readonly long _queuedAt = Stopwatch.GetTimestamp();

        public TaskCompletionSource<(T, TimeSpan)> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Execute()
        {
            var wait = Stopwatch.GetElapsedTime(_queuedAt);
            if (cancellationToken.IsCancellationRequested)
            {
                Completion.TrySetCanceled(cancellationToken);
                return;
            }

            try
            {
                Completion.TrySetResult((work(state), wait));
            }
            catch (Exception ex)
            {
                Completion.TrySetException(ex);
            }
        }
    }
}
