namespace Detektor.Core.Buffers;

/// <summary>
/// The pixels of one frame, rented from a <see cref="FrameBufferPool"/>. Reference counted: whoever hands the buffer to
/// another consumer calls <see cref="AddRef"/> first; every holder calls <see cref="Release"/> exactly once when done.
/// When the count reaches zero the array goes back to the pool. Using a released buffer throws.
/// </summary>
public sealed class FrameBuffer
{
    private readonly FrameBufferPool? _pool;
    private readonly byte[] _array;
    private int _refCount;
    private int _length;

    internal FrameBuffer(FrameBufferPool? pool, byte[] array)
    {
        _pool = pool;
        _array = array;
    }

    /// <summary>Wraps an existing array (not pooled); releasing it just drops the reference.</summary>
    public static FrameBuffer Wrap(byte[] array)
    {
        var buffer = new FrameBuffer(null, array) { _refCount = 1, _length = array.Length };
        return buffer;
    }

    public int Length => _length;

    public int Capacity => _array.Length;

    public int RefCount => Volatile.Read(ref _refCount);

    public Span<byte> Span
    {
        get
        {
            ThrowIfReleased();
            return _array.AsSpan(0, _length);
        }
    }

    public Memory<byte> Memory
    {
        get
        {
            ThrowIfReleased();
            return _array.AsMemory(0, _length);
        }
    }

    /// <summary>Sets how many bytes of the buffer hold the frame (at most <see cref="Capacity"/>).</summary>
    public void SetLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _array.Length);
        ThrowIfReleased();
        _length = length;
    }

    public FrameBuffer AddRef()
    {
        while (true)
        {
            var current = Volatile.Read(ref _refCount);
            if (current <= 0)
            {
                throw new ObjectDisposedException(nameof(FrameBuffer), "The frame buffer was already released to its pool.");
            }

            if (Interlocked.CompareExchange(ref _refCount, current + 1, current) == current)
            {
                return this;
            }
        }
    }

    public void Release()
    {
        var remaining = Interlocked.Decrement(ref _refCount);
        if (remaining == 0)
        {
            _pool?.Return(this);
        }
        else if (remaining < 0)
        {
            Interlocked.Increment(ref _refCount);
            throw new InvalidOperationException("The frame buffer was released more times than it was referenced.");
        }
    }

    internal void Reset(int length)
    {
        _length = length;
        Volatile.Write(ref _refCount, 1);
    }

    private void ThrowIfReleased()
    {
        if (Volatile.Read(ref _refCount) <= 0)
        {
            throw new ObjectDisposedException(nameof(FrameBuffer), "The frame buffer was already released to its pool.");
        }
    }
}
