using System.Text.Json;
using System.Text.Json.Serialization;
using Detektor.Core.Json;

namespace Detektor.Api.Http;

/// <summary>JSON conventions of the HTTP API: snake_case, enums by wire name, ids as strings, nulls left out.</summary>
public static class ApiJson
{
    public static void Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.Converters.Add(new JsonStringEnumConverter());
        options.Converters.Add(new FrameIdJsonConverter());
        options.Converters.Add(new ActivityTraceIdJsonConverter());
        options.Converters.Add(new ActivitySpanIdJsonConverter());
        options.Converters.Add(new TraceInfoJsonConverter());
    }
}
