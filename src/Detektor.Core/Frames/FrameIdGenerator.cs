using System.Security.Cryptography;

namespace Detektor.Core.Frames;

/// <summary>
/// Creates <see cref="FrameId"/>s. One instance per process (a DI singleton): its timestamps are strictly increasing across
/// all threads and cameras, so ids never repeat within the process and keep sorting in creation order even when the wall
/// clock steps back (the id then advances by one microsecond per frame until the clock catches up; the frame's real
/// capture time is kept in <see cref="FrameMetadata.CaptureTime"/>).
/// </summary>
public sealed class FrameIdGenerator
{
    private readonly TimeProvider _time;
    private long _lastMicros;

    public FrameIdGenerator(TimeProvider time)
        : this(time, (uint)RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue))
    {
    }

    public FrameIdGenerator(TimeProvider time, uint node)
    {
        _time = time;
        Node = node;
    }

    /// <summary>The random per-process component of every id this generator makes.</summary>
    public uint Node { get; }

    public FrameId Next(string cameraId, long sequence)
    {
        var now = (_time.GetUtcNow().UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;
        while (true)
        {
            var last = Volatile.Read(ref _lastMicros);
            var next = now > last ? now : last + 1;
            if (Interlocked.CompareExchange(ref _lastMicros, next, last) == last)
            {
                return new FrameId(next, cameraId, sequence, Node);
            }
        }
    }
}
