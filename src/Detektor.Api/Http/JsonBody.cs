using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Detektor.Api.Http;

/// <summary>Reads a JSON object body, turning every way it can be wrong into a 400 that says where.</summary>
public static class JsonBody
{
    public readonly record struct Result(JsonDocument? Document, IResult? Problem);

    public static async Task<Result> ReadObjectAsync(HttpContext context)
    {
        var contentType = context.Request.ContentType;
        if (contentType is null || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return new Result(null, Results.Problem(
                detail: "The body must be JSON (Content-Type: application/json).",
                statusCode: StatusCodes.Status415UnsupportedMediaType,
                title: "Unsupported media type."));
        }

        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(context.Request.Body, new JsonDocumentOptions { MaxDepth = 32 }, context.RequestAborted);
        }
        catch (JsonException ex)
        {
            var where = ex.LineNumber is { } line ? $" (line {line + 1}, byte {ex.BytePositionInLine + 1})" : string.Empty;
            return new Result(null, ApiProblems.Field("body", $"is not valid JSON{where}."));
        }

        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            return new Result(null, ApiProblems.Field("body", "must be a JSON object."));
        }

        return new Result(doc, null);
    }
}
