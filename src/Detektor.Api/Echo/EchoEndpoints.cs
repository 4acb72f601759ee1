using System.Text.Json;
using Detektor.Api.Http;
using Detektor.Hosting.Correlation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Detektor.Api.Echo;

/// <summary>The service template's echo: proves tracing, correlation and ProblemDetails end to end.</summary>
public static class EchoEndpoints
{
    public const int MaxMessageLength = 4096;

    public static IEndpointRouteBuilder MapEcho(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/echo", EchoAsync)
            .WithName("Echo")
            .WithTags("Template")
            .WithSummary("Returns the message with the request's correlation id and the server time.")
            .Accepts<EchoRequest>("application/json")
            .Produces<EchoResponse>()
            .ProducesValidationProblem();
        return endpoints;
    }

    private static async Task<IResult> EchoAsync(HttpContext context, TimeProvider time)
    {
        var body = await JsonBody.ReadObjectAsync(context);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        using var doc = body.Document!;
        if (!doc.RootElement.TryGetProperty("message", out var message))
        {
            return ApiProblems.Field("message", "is required.");
        }

        if (message.ValueKind != JsonValueKind.String)
        {
            return ApiProblems.Field("message", "must be a string.");
        }

        var text = message.GetString()!;
        if (text.Length > MaxMessageLength)
        {
            return ApiProblems.Field("message", $"must be at most {MaxMessageLength} characters.");
        }

        return Results.Ok(new EchoResponse(text, CorrelationIdMiddleware.Get(context) ?? string.Empty, time.GetUtcNow()));
    }

    public sealed record EchoRequest(string Message);

    public sealed record EchoResponse(string Message, string CorrelationId, DateTimeOffset Timestamp);
}
