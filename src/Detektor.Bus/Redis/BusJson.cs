using System.Text.Json;
using System.Text.Json.Serialization;
using Detektor.Core.Json;
using Detektor.Core.Messages;

namespace Detektor.Bus.Redis;

/// <summary>
/// JSON of the bus message bodies that Core does not already cover (results and their detections): snake_case, enums by
/// wire name, boxes as <c>{x, y, width, height}</c>, unknown fields ignored. See docs/bus.md.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(FrameIdJsonConverter), typeof(ActivityTraceIdJsonConverter), typeof(ActivitySpanIdJsonConverter), typeof(TraceInfoJsonConverter),
        typeof(BoundingBoxJsonConverter), typeof(FrameOutcomeJsonConverter), typeof(TrackEventTypeJsonConverter)])]
[JsonSerializable(typeof(FrameResult))]
internal sealed partial class BusJsonContext : JsonSerializerContext;

/// <summary>
/// <see cref="TrackEventType"/> as <c>entered</c>, <c>updated</c> or <c>left</c>. Numbers (0, 1, 2), which bodies written
/// before this converter carried, are still read.
/// </summary>
public sealed class TrackEventTypeJsonConverter() : JsonStringEnumConverter<TrackEventType>(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: true);

/// <summary>A box as <c>{"x":…,"y":…,"width":…,"height":…}</c> (without the derived right/bottom/area).</summary>
public sealed class BoundingBoxJsonConverter : JsonConverter<BoundingBox>
{
    public override BoundingBox Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("A box must be an object with x, y, width and height.");
        }

        float x = 0, y = 0, width = 0, height = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString();
            reader.Read();
            switch (name)
            {
                case "x": x = reader.GetSingle(); break;
                case "y": y = reader.GetSingle(); break;
                case "width": width = reader.GetSingle(); break;
                case "height": height = reader.GetSingle(); break;
                default: reader.Skip(); break;
            }
        }

        return new BoundingBox(x, y, width, height);
    }

    public override void Write(Utf8JsonWriter writer, BoundingBox value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber("x", value.X);
        writer.WriteNumber("y", value.Y);
        writer.WriteNumber("width", value.Width);
        writer.WriteNumber("height", value.Height);
        writer.WriteEndObject();
    }
}

/// <summary><see cref="FrameOutcome"/> as <c>processed</c>, <c>skipped</c> or <c>failed</c>.</summary>
public sealed class FrameOutcomeJsonConverter : JsonConverter<FrameOutcome>
{
    public static string ToWire(FrameOutcome outcome) => outcome switch
    {
        FrameOutcome.Processed => "processed",
        FrameOutcome.Skipped => "skipped",
        _ => "failed",
    };

    public static bool TryParse(string? text, out FrameOutcome outcome)
    {
        switch (text)
        {
            case "processed": outcome = FrameOutcome.Processed; return true;
            case "skipped": outcome = FrameOutcome.Skipped; return true;
            case "failed": outcome = FrameOutcome.Failed; return true;
            default: outcome = default; return false;
        }
    }

    public override FrameOutcome Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        TryParse(reader.GetString(), out var outcome) ? outcome : throw new JsonException("outcome must be processed, skipped or failed.");

    public override void Write(Utf8JsonWriter writer, FrameOutcome value, JsonSerializerOptions options) => writer.WriteStringValue(ToWire(value));
}
