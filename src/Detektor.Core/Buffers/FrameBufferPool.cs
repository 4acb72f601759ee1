using System.Collections.Concurrent;

namespace Detektor.Core.Buffers;

/// <summary>
/// Pool of frame buffers, keyed by exact size (a camera's frames all have one size). In steady state renting allocates
/// nothing: buffers come back through <see cref="FrameBuffer.Release"/>. At most <see cref="MaxRetainedPerSize"/> idle
/// buffers per size are kept; beyond that a returned buffer is left to the GC (counted in <see cref="Discarded"/>).
/// The buffer returned last is rented first: it is the one most likely still in the CPU's cache, where the oldest idle
/// buffer (a queue, until 2026-11-25) is the least likely. Measured on capture (docs/performance.md, "Capture").
/// </summary>
public sealed class FrameBufferPool
{
    private readonly ConcurrentDictionary<int, SizeClass> _sizes = new();
    private long _allocated;
    private long _rented;
    private long _returned;
    private long _discarded;

    public FrameBufferPool(int maxRetainedPerSize = 16)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRetainedPerSize, 1);
        MaxRetainedPerSize = maxRetainedPerSize;
    }

    /// <summary>A process-wide pool for code without DI.</summary>
    public static FrameBufferPool Shared { get; } = new();

    public int MaxRetainedPerSize { get; }

    /// <summary>Buffers ever created (not reused).</summary>
    public long Allocated => Interlocked.Read(ref _allocated);

    public long Rented => Interlocked.Read(ref _rented);

    public long Returned => Interlocked.Read(ref _returned);

    public long Discarded => Interlocked.Read(ref _discarded);

    /// <summary>Buffers rented and not yet released by their last holder.</summary>
    public long Outstanding => Rented - Returned;

    /// <summary>Rents a buffer of exactly <paramref name="size"/> bytes with a reference count of one.</summary>
    public FrameBuffer Rent(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        Interlocked.Increment(ref _rented);
        if (_sizes.TryGetValue(size, out var sizeClass) && sizeClass.TryPop() is { } buffer)
        {
            buffer.Reset(size);
            return buffer;
        }

        Interlocked.Increment(ref _allocated);
        var created = new FrameBuffer(this, GC.AllocateUninitializedArray<byte>(size, pinned: false));
        created.Reset(size);
        return created;
    }

    internal void Return(FrameBuffer buffer)
    {
        Interlocked.Increment(ref _returned);
        var sizeClass = _sizes.GetOrAdd(buffer.Capacity, static (_, max) => new SizeClass(max), MaxRetainedPerSize);
        if (!sizeClass.TryPush(buffer))
        {
            Interlocked.Increment(ref _discarded);
        }
    }

    /// <summary>The idle buffers of one size, a stack of at most its capacity (allocated once).</summary>
    private sealed class SizeClass(int capacity)
    {
        private readonly FrameBuffer[] _idle = new FrameBuffer[capacity];
        private readonly Lock _lock = new();
        private int _count;

        public FrameBuffer? TryPop()
        {
            lock (_lock)
            {
                if (_count == 0)
                {
                    return null;
                }

                var buffer = _idle[--_count];
                _idle[_count] = null!;
                return buffer;
            }
        }

        public bool TryPush(FrameBuffer buffer)
        {
            lock (_lock)
            {
                if (_count == _idle.Length)
                {
                    return false;
                }

                _idle[_count++] = buffer;
                return true;
            }
        }
    }
}
