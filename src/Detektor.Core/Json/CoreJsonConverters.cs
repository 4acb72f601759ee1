using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Detektor.Core.Frames;
using Detektor.Core.Tracing;

namespace Detektor.Core.Json;

/// <summary>A <see cref="FrameId"/> as its canonical string.</summary>
public sealed class FrameIdJsonConverter : JsonConverter<FrameId>
{
    public override FrameId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.GetString();
        return FrameId.TryParse(text, out var id, out var error) ? id : throw new JsonException(error);
    }

    public override void Write(Utf8JsonWriter writer, FrameId value, JsonSerializerOptions options)
    {
        Span<char> buffer = stackalloc char[FrameId.TimestampLength + CameraId.MaxLength + 32 + FrameId.NodeLength];
        if (value.TryFormat(buffer, out var written, default, null))
        {
            writer.WriteStringValue(buffer[..written]);
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}

/// <summary>Trace ids as 32 lowercase hex characters; the all-zero id as null.</summary>
public sealed class ActivityTraceIdJsonConverter : JsonConverter<ActivityTraceId>
{
    public override ActivityTraceId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return default;
        }

        var s = reader.GetString();
        if (string.IsNullOrEmpty(s))
        {
            return default;
        }

        if (s.Length != 32 || !IsLowerHex(s))
        {
            throw new JsonException("A trace id must be 32 lowercase hex characters.");
        }

        return ActivityTraceId.CreateFromString(s);
    }

    public override void Write(Utf8JsonWriter writer, ActivityTraceId value, JsonSerializerOptions options)
    {
        if (value == default)
        {
            writer.WriteNullValue();
            return;
        }

        Span<byte> bytes = stackalloc byte[16];
        Span<char> hex = stackalloc char[32];
        value.CopyTo(bytes);
        _ = Convert.TryToHexStringLower(bytes, hex, out _);
        writer.WriteStringValue(hex);
    }

    internal static bool IsLowerHex(string s)
    {
        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>Span ids as 16 lowercase hex characters; the all-zero id as null.</summary>
public sealed class ActivitySpanIdJsonConverter : JsonConverter<ActivitySpanId>
{
    public override ActivitySpanId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return default;
        }

        var s = reader.GetString();
        if (string.IsNullOrEmpty(s))
        {
            return default;
        }

        if (s.Length != 16 || !ActivityTraceIdJsonConverter.IsLowerHex(s))
        {
            throw new JsonException("A span id must be 16 lowercase hex characters.");
        }

        return ActivitySpanId.CreateFromString(s);
    }

    public override void Write(Utf8JsonWriter writer, ActivitySpanId value, JsonSerializerOptions options)
    {
        if (value == default)
        {
            writer.WriteNullValue();
            return;
        }

        Span<byte> bytes = stackalloc byte[8];
        Span<char> hex = stackalloc char[16];
        value.CopyTo(bytes);
        _ = Convert.TryToHexStringLower(bytes, hex, out _);
        writer.WriteStringValue(hex);
    }
}

/// <summary>The trace context object of <see cref="FrameMetadata"/>: trace_id, span_id, parent_span_id, flags, trace_state.</summary>
public sealed class TraceInfoJsonConverter : JsonConverter<TraceInfo>
{
    private static readonly ActivityTraceIdJsonConverter TraceIds = new();
    private static readonly ActivitySpanIdJsonConverter SpanIds = new();

    public override TraceInfo Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return default;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("The trace context must be an object.");
        }

        ActivityTraceId traceId = default;
        ActivitySpanId spanId = default, parent = default;
        var flags = ActivityTraceFlags.None;
        string? state = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString();
            reader.Read();
            switch (name)
            {
                case "trace_id": traceId = TraceIds.Read(ref reader, typeof(ActivityTraceId), options); break;
                case "span_id": spanId = SpanIds.Read(ref reader, typeof(ActivitySpanId), options); break;
                case "parent_span_id": parent = SpanIds.Read(ref reader, typeof(ActivitySpanId), options); break;
                case "flags": flags = (ActivityTraceFlags)reader.GetInt32(); break;
                case "trace_state": state = reader.TokenType == JsonTokenType.Null ? null : reader.GetString(); break;
                default: reader.Skip(); break;
            }
        }

        return new TraceInfo(traceId, spanId, parent, flags, state);
    }

    public override void Write(Utf8JsonWriter writer, TraceInfo value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WritePropertyName("trace_id");
        TraceIds.Write(writer, value.TraceId, options);
        writer.WritePropertyName("span_id");
        SpanIds.Write(writer, value.SpanId, options);
        writer.WritePropertyName("parent_span_id");
        SpanIds.Write(writer, value.ParentSpanId, options);
        writer.WriteNumber("flags", (int)value.Flags);
        if (value.TraceState is not null)
        {
            writer.WriteString("trace_state", value.TraceState);
        }

        writer.WriteEndObject();
    }
}

/// <summary>A duration as fractional milliseconds (<c>12.345</c>), which round-trips to the tick.</summary>
public sealed class MillisecondsJsonConverter : JsonConverter<TimeSpan>
{
    public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        TimeSpan.FromTicks((long)Math.Round(reader.GetDouble() * TimeSpan.TicksPerMillisecond));

    public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
        writer.WriteNumberValue(value.Ticks / (double)TimeSpan.TicksPerMillisecond);
}

/// <summary>A string property that holds JSON text, written as the embedded JSON value rather than a quoted string.</summary>
public sealed class RawJsonTextConverter : JsonConverter<string>
{
    public override bool HandleNull => true;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        using var doc = JsonDocument.ParseValue(ref reader);
        return doc.RootElement.GetRawText();
    }

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteRawValue(value, skipInputValidation: false);
        }
    }
}
