using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Detektor.Bus.Codecs;
using Detektor.Core.Buffers;
using Detektor.Core.Json;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Tracing;
using StackExchange.Redis;

namespace Detektor.Bus.Redis;

/// <summary>Field names of bus messages, schema version 1 (docs/bus.md).</summary>
public static class BusFields
{
    public const string SchemaVersion = "1";

    public const string Version = "v";
    public const string Kind = "kind";
    public const string FrameId = "frame_id";
    public const string CameraId = "camera_id";
    public const string TraceParent = TraceContextPropagation.TraceParentHeader;
    public const string TraceState = TraceContextPropagation.TraceStateHeader;
    public const string EnqueuedAt = "enqueued_at";
    public const string Producer = "producer";
    public const string Metadata = "meta";
    public const string Encoding = "encoding";
    public const string PixelFormat = "pixel_format";
    public const string Width = "width";
    public const string Height = "height";
    public const string Pixels = "pixels";
    public const string Body = "body";
    public const string EventType = "event_type";

    public const string DeadLetterReason = "dl_reason";
    public const string DeadLetterAttempts = "dl_attempts";
    public const string DeadLetterSourceId = "dl_source_id";
    public const string DeadLetterGroup = "dl_group";
    public const string DeadLetterAt = "dl_at";

    public const string FrameKind = "frame";
    public const string ResultKind = "result";
    public const string EventKind = "event";

    public static RedisValue Get(NameValueEntry[] fields, string name)
    {
        // Field names arrive as bytes: compare bytes with bytes, no string per comparison.
        Span<byte> utf8 = stackalloc byte[64];
        var length = System.Text.Encoding.UTF8.GetBytes(name, utf8);
        foreach (var field in fields)
        {
            var fieldName = field.Name;
            if (fieldName.Length() == length && ((ReadOnlyMemory<byte>)fieldName).Span.SequenceEqual(utf8[..length]))
            {
                return field.Value;
            }
        }

        return RedisValue.Null;
    }

    public static string? GetString(NameValueEntry[] fields, string name) => Get(fields, name) is { IsNull: false } v ? (string?)v : null;
}

/// <summary>Turns one message type into stream entry fields and back.</summary>
internal abstract class RedisMessageCodec<T>
    where T : class
{
    public abstract NameValueEntry[] Encode(T message, long enqueuedAtMs, string producer);

    public abstract T Decode(NameValueEntry[] fields);

    protected static DateTimeOffset FromUnixMs(RedisValue value) =>
        value.TryParse(out long ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : default;

    protected static string Ms(long value) => value.ToString(CultureInfo.InvariantCulture);

    protected static void AddTrace(List<NameValueEntry> fields, ActivityContext context)
    {
        if (context == default)
        {
            return;
        }

        TraceContextPropagation.Inject(context, fields, static (f, key, value) => f.Add(new NameValueEntry(key, value)));
    }

    /// <summary>The trace context of the headers when they carry one, else the one in the body.</summary>
    protected static TraceInfo TraceFrom(NameValueEntry[] fields, TraceInfo body)
    {
        var traceParent = BusFields.GetString(fields, BusFields.TraceParent);
        if (traceParent is null)
        {
            return body;
        }

        var context = TraceContextPropagation.FromTraceParent(traceParent, BusFields.GetString(fields, BusFields.TraceState));
        return context == default ? body : new TraceInfo(context.TraceId, context.SpanId, body.ParentSpanId, context.TraceFlags, context.TraceState);
    }

    protected static string Required(NameValueEntry[] fields, string name) =>
        BusFields.GetString(fields, name) ?? throw new InvalidDataException($"The message has no '{name}' field.");
}

/// <summary>Frames: metadata JSON, trace headers and the pixels (raw, JPEG or none).</summary>
internal sealed class FrameCodec(IPixelCodec? sendCodec, IReadOnlyDictionary<string, IPixelCodec> codecs, FrameBufferPool pool)
    : RedisMessageCodec<FrameMessage>
{
    public override NameValueEntry[] Encode(FrameMessage message, long enqueuedAtMs, string producer) =>
        Encode(message, enqueuedAtMs, producer, out _);

    /// <summary>Encodes a frame; <paramref name="size"/> is the bytes of the message, checked against the size limit.</summary>
    public NameValueEntry[] Encode(FrameMessage message, long enqueuedAtMs, string producer, out long size)
    {
        var metadata = message.Metadata;
        var meta = CoreJson.SerializeToUtf8(metadata);
        var fields = new List<NameValueEntry>(14)
        {
            new(BusFields.Version, BusFields.SchemaVersion),
            new(BusFields.Kind, BusFields.FrameKind),
            new(BusFields.FrameId, metadata.FrameId.ToString()),
            new(BusFields.CameraId, metadata.CameraId),
        };
        AddTrace(fields, metadata.Trace.ToActivityContext());
        fields.Add(new NameValueEntry(BusFields.EnqueuedAt, Ms(enqueuedAtMs)));
        fields.Add(new NameValueEntry(BusFields.Producer, producer));
        fields.Add(new NameValueEntry(BusFields.Metadata, meta));
        size = meta.Length;
        if (sendCodec is not null && message.Pixels is { } pixels)
        {
            var encoded = sendCodec.Encode(pixels, metadata);
            fields.Add(new NameValueEntry(BusFields.Encoding, sendCodec.Encoding));
            fields.Add(new NameValueEntry(BusFields.PixelFormat, metadata.PixelFormat));
            fields.Add(new NameValueEntry(BusFields.Width, metadata.Width));
            fields.Add(new NameValueEntry(BusFields.Height, metadata.Height));
            fields.Add(new NameValueEntry(BusFields.Pixels, encoded));
            size += encoded.Length;
        }
        else
        {
            fields.Add(new NameValueEntry(BusFields.Encoding, RedisBusOptions.NoPixels));
        }

        return [.. fields];
    }

    public override FrameMessage Decode(NameValueEntry[] fields)
    {
        var meta = BusFields.Get(fields, BusFields.Metadata);
        if (meta.IsNull)
        {
            throw new InvalidDataException($"The frame message has no '{BusFields.Metadata}' field.");
        }

        var metadata = CoreJson.DeserializeMetadata(((ReadOnlyMemory<byte>)meta).Span);
        metadata.Trace = TraceFrom(fields, metadata.Trace);
        FrameBuffer? pixels = null;
        var encoding = BusFields.GetString(fields, BusFields.Encoding) ?? RedisBusOptions.NoPixels;
        if (!string.Equals(encoding, RedisBusOptions.NoPixels, StringComparison.Ordinal))
        {
            if (!codecs.TryGetValue(encoding, out var codec))
            {
                throw new InvalidDataException($"The frame's pixel encoding '{encoding}' is not known here (known: {string.Join(", ", codecs.Keys)}).");
            }

            pixels = codec.Decode(((ReadOnlyMemory<byte>)BusFields.Get(fields, BusFields.Pixels)).Span, metadata, pool);
        }

        return new FrameMessage(metadata, pixels) { EnqueuedAt = FromUnixMs(BusFields.Get(fields, BusFields.EnqueuedAt)) };
    }
}

/// <summary>Results: the <see cref="FrameResult"/> as JSON in <c>body</c>, with the frame's trace headers.</summary>
internal sealed class ResultCodec : RedisMessageCodec<FrameResult>
{
    public override NameValueEntry[] Encode(FrameResult message, long enqueuedAtMs, string producer)
    {
        var fields = new List<NameValueEntry>(9)
        {
            new(BusFields.Version, BusFields.SchemaVersion),
            new(BusFields.Kind, BusFields.ResultKind),
            new(BusFields.FrameId, message.Metadata.FrameId.ToString()),
            new(BusFields.CameraId, message.Metadata.CameraId),
        };
        AddTrace(fields, message.Metadata.Trace.ToActivityContext());
        fields.Add(new NameValueEntry(BusFields.EnqueuedAt, Ms(enqueuedAtMs)));
        fields.Add(new NameValueEntry(BusFields.Producer, producer));
        fields.Add(new NameValueEntry(BusFields.Body, JsonSerializer.SerializeToUtf8Bytes(message, BusJsonContext.Default.FrameResult)));
        return [.. fields];
    }

    public override FrameResult Decode(NameValueEntry[] fields)
    {
        var body = BusFields.Get(fields, BusFields.Body);
        if (body.IsNull)
        {
            throw new InvalidDataException($"The result message has no '{BusFields.Body}' field.");
        }

        var result = JsonSerializer.Deserialize(((ReadOnlyMemory<byte>)body).Span, BusJsonContext.Default.FrameResult)
            ?? throw new InvalidDataException("The result body is null.");
        result.Metadata.Trace = TraceFrom(fields, result.Metadata.Trace);
        return result;
    }
}

/// <summary>Lifecycle events: the <see cref="FrameEvent"/> as JSON in <c>body</c>, its type and trace as headers.</summary>
internal sealed class EventCodec : RedisMessageCodec<FrameEvent>
{
    public override NameValueEntry[] Encode(FrameEvent message, long enqueuedAtMs, string producer)
    {
        var fields = new List<NameValueEntry>(10)
        {
            new(BusFields.Version, BusFields.SchemaVersion),
            new(BusFields.Kind, BusFields.EventKind),
            new(BusFields.FrameId, message.FrameId.ToString()),
            new(BusFields.CameraId, message.CameraId),
            new(BusFields.EventType, message.Type.ToWireName()),
        };
        if (message.TraceId != default && message.SpanId != default)
        {
            AddTrace(fields, new ActivityContext(message.TraceId, message.SpanId, ActivityTraceFlags.None));
        }

        fields.Add(new NameValueEntry(BusFields.EnqueuedAt, Ms(enqueuedAtMs)));
        fields.Add(new NameValueEntry(BusFields.Producer, producer));
        fields.Add(new NameValueEntry(BusFields.Body, CoreJson.Serialize(message)));
        return [.. fields];
    }

    public override FrameEvent Decode(NameValueEntry[] fields)
    {
        var body = BusFields.Get(fields, BusFields.Body);
        if (body.IsNull)
        {
            throw new InvalidDataException($"The event message has no '{BusFields.Body}' field.");
        }

        return CoreJson.DeserializeEvent(((ReadOnlyMemory<byte>)body).Span);
    }
}
