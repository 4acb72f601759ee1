using System.Text.Json;
using System.Text.Json.Serialization;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;

namespace Detektor.Core.Json;

/// <summary>
/// Source-generated JSON for the shapes every component shares: snake_case names, enums as their wire names, nulls left
/// out, unknown fields ignored (so older readers tolerate newer writers).
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true,
    Converters = [typeof(FrameIdJsonConverter), typeof(ActivityTraceIdJsonConverter), typeof(ActivitySpanIdJsonConverter), typeof(TraceInfoJsonConverter)])]
[JsonSerializable(typeof(FrameMetadata))]
[JsonSerializable(typeof(FrameEvent))]
[JsonSerializable(typeof(ProcessingStage))]
public sealed partial class CoreJsonContext : JsonSerializerContext;

public static class CoreJson
{
    public static JsonSerializerOptions Options => CoreJsonContext.Default.Options;

    public static string Serialize(FrameMetadata metadata) => JsonSerializer.Serialize(metadata, CoreJsonContext.Default.FrameMetadata);

    public static byte[] SerializeToUtf8(FrameMetadata metadata) => JsonSerializer.SerializeToUtf8Bytes(metadata, CoreJsonContext.Default.FrameMetadata);

    public static FrameMetadata DeserializeMetadata(ReadOnlySpan<byte> utf8) =>
        JsonSerializer.Deserialize(utf8, CoreJsonContext.Default.FrameMetadata) ?? throw new JsonException("Frame metadata is null.");

    public static FrameMetadata DeserializeMetadata(string json) =>
        JsonSerializer.Deserialize(json, CoreJsonContext.Default.FrameMetadata) ?? throw new JsonException("Frame metadata is null.");

    public static string Serialize(FrameEvent frameEvent) => JsonSerializer.Serialize(frameEvent, CoreJsonContext.Default.FrameEvent);

    public static FrameEvent DeserializeEvent(ReadOnlySpan<byte> utf8) =>
        JsonSerializer.Deserialize(utf8, CoreJsonContext.Default.FrameEvent) ?? throw new JsonException("Frame event is null.");
}
