using System.Diagnostics;
using System.Text.Json.Serialization;
using Detektor.Core.Frames;
using Detektor.Core.Json;

namespace Detektor.Core.Lifecycle;

/// <summary>
/// One fact in a frame's life. Every frame leaves these independently of trace sampling; together they prove that no
/// frame was lost (see ../shared/ARCHITECTURE.md). Events are immutable and idempotent by <see cref="EventId"/>.
/// </summary>
public sealed record FrameEvent
{
    /// <summary>Unique and time-sortable (UUIDv7); a store ignores an event id it already has.</summary>
    public required Guid EventId { get; init; }

    public required FrameId FrameId { get; init; }

    public required string CameraId { get; init; }

    public required FrameEventType Type { get; init; }

    /// <summary>The pipeline stage (capture, bus, store) or the processor's name.</summary>
    public required string Stage { get; init; }

    /// <summary>The service (role instance) that recorded the event, e.g. <c>detektor</c> or <c>detektor-process</c>.</summary>
    public required string Service { get; init; }

    public required DateTimeOffset Timestamp { get; init; }

    public ActivityTraceId TraceId { get; init; }

    public ActivitySpanId SpanId { get; init; }

    /// <summary>How long the step took (queue wait for <c>dequeued</c>, processing time for <c>processing_completed</c>).</summary>
    [JsonPropertyName("duration_ms")]
    [JsonConverter(typeof(MillisecondsJsonConverter))]
    public TimeSpan? Duration { get; init; }

    /// <summary>Why the frame was skipped or dropped (required for those two types), or why processing failed.</summary>
    public string? Reason { get; init; }

    /// <summary>Extra facts as a JSON object text (detections count, queue name, …), or null.</summary>
    [JsonConverter(typeof(RawJsonTextConverter))]
    public string? Data { get; init; }

    /// <summary>
    /// The id of an event a frame has at most once (<c>stored</c>), derived from the frame: a result the bus delivers twice
    /// (at-least-once) makes the same event, which the store keeps once, with its detections. UUIDv7 layout with the
    /// frame's capture time in the time field, so it sorts and indexes like the other events' ids.
    /// </summary>
    public static Guid OncePerFrameId(FrameMetadata frame, FrameEventType type)
    {
        ArgumentNullException.ThrowIfNull(frame);
        Span<byte> key = stackalloc byte[256]; // a frame id is ASCII and at most 128 characters (the camera id at most 64)
        // Formatted straight into the span (FrameId is ISpanFormattable): no string per stored frame.
        if (!System.Text.Unicode.Utf8.TryWrite(key, $"{frame.FrameId}/{type.ToWireName()}", out var written))
        {
            throw new ArgumentException($"Frame id '{frame.FrameId}' is longer than a frame id can be.", nameof(frame));
        }

        Span<byte> hash = stackalloc byte[16];
        System.IO.Hashing.XxHash128.Hash(key[..written], hash);
        Span<byte> id = stackalloc byte[16];
        var ms = frame.CaptureTime.ToUnixTimeMilliseconds();
        for (var i = 0; i < 6; i++)
        {
            id[i] = (byte)(ms >> (8 * (5 - i)));
        }

        hash[6..].CopyTo(id[6..]);
        id[6] = (byte)(0x70 | (id[6] & 0x0F)); // version 7
        id[8] = (byte)(0x80 | (id[8] & 0x3F)); // RFC 9562 variant
        return new Guid(id, bigEndian: true);
    }

    /// <summary>Creates an event for a frame, taking trace and span ids from <paramref name="activity"/> or the metadata.</summary>
    public static FrameEvent Create(
        FrameEventType type,
        FrameMetadata frame,
        string stage,
        string service,
        DateTimeOffset timestamp,
        Activity? activity = null,
        TimeSpan? duration = null,
        string? reason = null,
        string? data = null)
    {
        if (type.RequiresReason() && string.IsNullOrEmpty(reason))
        {
            throw new ArgumentException($"A '{type.ToWireName()}' event needs a reason.", nameof(reason));
        }

        return new FrameEvent
        {
            EventId = Guid.CreateVersion7(timestamp),
            FrameId = frame.FrameId,
            CameraId = frame.CameraId,
            Type = type,
            Stage = stage,
            Service = service,
            Timestamp = timestamp,
            TraceId = activity?.TraceId ?? frame.Trace.TraceId,
            SpanId = activity?.SpanId ?? frame.Trace.SpanId,
            Duration = duration,
            Reason = reason,
            Data = data,
        };
    }
}
