using System.Diagnostics;
using System.Globalization;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;

namespace Detektor.StoreBench;

/// <summary>
/// A deterministic lifecycle event stream shaped like the pipeline's: 4 cameras at 10 fps, per frame captured → queued →
/// dequeued → processing_started → processing_completed → stored (40 ms after capture, with detections in its data),
/// emitted in time order, so the events of neighbouring frames interleave as they do live.
/// </summary>
internal static class Workload
{
    private static readonly string[] Cameras = ["front", "back", "yard", "gate"];

    public static IEnumerable<FrameEvent> Events(long total, DateTimeOffset start)
    {
        var random = new Random(1234);
        var pending = new PriorityQueue<FrameEvent, long>();
        long emitted = 0;
        for (long frame = 0; emitted < total; frame++)
        {
            var camera = Cameras[frame % Cameras.Length];
            var captured = start.AddTicks(frame * TimeSpan.TicksPerSecond / (10 * Cameras.Length));
            var micros = (captured.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;
            var id = new FrameId(micros, camera, (frame / Cameras.Length) + 1, 0x3f9a1c2d);
            var trace = RandomTrace(random);
            foreach (var e in Frame(id, camera, trace, random))
            {
                pending.Enqueue(e, e.Timestamp.UtcTicks);
            }

            // Everything earlier than this frame's capture is final: emit it in time order.
            while (pending.TryPeek(out var next, out var at) && at < id.Timestamp.UtcTicks && emitted < total)
            {
                pending.Dequeue();
                emitted++;
                yield return next;
            }
        }
    }

    private static IEnumerable<FrameEvent> Frame(FrameId id, string camera, ActivityTraceId trace, Random random)
    {
        var t0 = id.Timestamp;
        var detections = random.Next(0, 4);
        (FrameEventType Type, int Ms, string Stage, int? DurationMs, string? Data)[] steps =
        [
            (FrameEventType.Captured, 0, "capture", null, null),
            (FrameEventType.Queued, 1, "bus", null, null),
            (FrameEventType.Dequeued, 5, "bus", 4, null),
            (FrameEventType.ProcessingStarted, 6, "detector", null, null),
            (FrameEventType.ProcessingCompleted, 26, "detector", 20, null),
            (FrameEventType.Stored, 40, "store", 1, string.Create(CultureInfo.InvariantCulture, $"{{\"outcome\":\"processed\",\"detections\":{detections},\"latency_ms\":40}}")),
        ];
        foreach (var (type, ms, stage, duration, data) in steps)
        {
            var at = t0.AddMilliseconds(ms);
            yield return new FrameEvent
            {
                EventId = NewV7(at, random),
                FrameId = id,
                CameraId = camera,
                Type = type,
                Stage = stage,
                Service = "detektor",
                Timestamp = at,
                TraceId = trace,
                SpanId = RandomSpan(random),
                Duration = duration is { } d ? TimeSpan.FromMilliseconds(d) : null,
                Data = data,
            };
        }
    }

    /// <summary>A UUIDv7 for <paramref name="at"/> with seeded random bits, so runs write identical rows.</summary>
    private static Guid NewV7(DateTimeOffset at, Random random)
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        var ms = at.ToUnixTimeMilliseconds();
        for (var i = 5; i >= 0; i--)
        {
            bytes[i] = (byte)(ms & 0xFF);
            ms >>= 8;
        }

        bytes[6] = (byte)(0x70 | (bytes[6] & 0x0F));
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F));
        return new Guid(bytes, bigEndian: true);
    }

    private static ActivityTraceId RandomTrace(Random random)
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        return ActivityTraceId.CreateFromBytes(bytes);
    }

    private static ActivitySpanId RandomSpan(Random random)
    {
        Span<byte> bytes = stackalloc byte[8];
        random.NextBytes(bytes);
        return ActivitySpanId.CreateFromBytes(bytes);
    }
}
