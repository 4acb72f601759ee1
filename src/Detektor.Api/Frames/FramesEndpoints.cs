using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Detektor.Api.Http;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Storage.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Detektor.Api.Frames;

/// <summary>
/// The frame-tracking service: record external frame events, read a frame's journey, list frames.
/// Every bad input answers 400 ProblemDetails naming the field; an unknown frame 404.
/// </summary>
public static class FramesEndpoints
{
    public const int DefaultLimit = 50;
    public const int MaxBodyBytes = 64 * 1024;
    public const int MaxTextLength = 128;

    public static IEndpointRouteBuilder MapFrames(this IEndpointRouteBuilder endpoints)
    {
        var frames = endpoints.MapGroup("/api/v1/frames").WithTags("Frames");
        frames.MapPost("/", RecordAsync)
            .WithName("RecordFrameEvent")
            .WithSummary("Records an external frame lifecycle event.")
            .WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(MaxBodyBytes))
            .Accepts<FrameEventRequest>("application/json")
            .Produces<FrameEvent>(StatusCodes.Status201Created)
            .ProducesValidationProblem();
        frames.MapGet("/{id}", GetJourneyAsync)
            .WithName("GetFrameJourney")
            .WithSummary("A frame's journey: its events in order, per-stage durations, state and trace id.")
            .Produces<FrameJourneyResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        frames.MapGet("/", ListAsync)
            .WithName("ListFrames")
            .WithSummary("Frames matching camera, trace and time, newest first, paged with next_cursor.")
            .Produces<FramePageResponse>()
            .ProducesValidationProblem();
        return endpoints;
    }

    private static async Task<IResult> GetJourneyAsync(string id, IEventStore store, CancellationToken cancellationToken)
    {
        if (!FrameId.TryParse(id, out _, out var error))
        {
            return ApiProblems.Field("id", error);
        }

        var journey = await store.GetJourneyAsync(id, cancellationToken);
        return journey is null
            ? ApiProblems.NotFound($"No frame '{id}' is in the event store.")
            : Results.Ok(FrameJourneyResponse.From(journey));
    }

    private static async Task<IResult> ListAsync(HttpContext context, IEventStore store, CancellationToken cancellationToken)
    {
        var q = context.Request.Query;
        var errors = new FieldErrors();
        string? camera = QueryParameters.One(q, "camera_id", errors);
        if (camera is not null && !CameraId.IsValid(camera))
        {
            errors.Add("camera_id", $"must be {CameraId.Rule}.");
        }

        string? trace = QueryParameters.One(q, "trace_id", errors);
        if (trace is not null && (trace.Length != 32 || !trace.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f')))
        {
            errors.Add("trace_id", "must be 32 lowercase hex characters.");
        }

        var from = QueryParameters.Time(QueryParameters.One(q, "from", errors), "from", errors);
        var to = QueryParameters.Time(QueryParameters.One(q, "to", errors), "to", errors);
        if (from is not null && to is not null && from >= to)
        {
            errors.Add("to", "must be later than from.");
        }

        var limit = QueryParameters.WholeNumber(q, "limit", DefaultLimit, 1, FrameQuery.MaxLimit, errors);

        var cursor = QueryParameters.One(q, "cursor", errors);
        if (cursor is not null && !FrameId.TryParse(cursor, out _, out var cursorError))
        {
            errors.Add("cursor", cursorError);
        }

        if (errors.Any)
        {
            return errors.ToResult();
        }

        var page = await store.QueryFramesAsync(new FrameQuery(camera, trace, from, to, limit, cursor), cancellationToken);
        return Results.Ok(new FramePageResponse(page.Items, page.NextCursor, limit));
    }

    private static async Task<IResult> RecordAsync(HttpContext context, IEventStore store, TimeProvider time)
    {
        var body = await JsonBody.ReadObjectAsync(context);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        using var doc = body.Document!;
        var root = doc.RootElement;
        var errors = new FieldErrors();

        var frameIdText = RequiredString(root, "frame_id", errors);
        FrameId frameId = default;
        if (frameIdText is not null && !FrameId.TryParse(frameIdText, out frameId, out var idError))
        {
            errors.Add("frame_id", idError);
        }

        var camera = RequiredString(root, "camera_id", errors);
        if (camera is not null && !CameraId.IsValid(camera))
        {
            errors.Add("camera_id", $"must be {CameraId.Rule}.");
        }
        else if (camera is not null && !frameId.IsEmpty && !string.Equals(camera, frameId.CameraId, StringComparison.Ordinal))
        {
            errors.Add("camera_id", $"must match the camera of the frame id ('{frameId.CameraId}').");
        }

        DateTimeOffset timestamp = default;
        if (RequiredString(root, "timestamp", errors) is { } timeText &&
            !DateTimeOffset.TryParse(timeText, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out timestamp))
        {
            errors.Add("timestamp", "must be an ISO 8601 date and time, e.g. 2026-11-23T14:40:12.123Z.");
        }

        FrameEventType type = default;
        if (RequiredString(root, "event_type", errors) is { } typeText && !FrameEventTypes.TryParse(typeText, out type))
        {
            errors.Add("event_type", $"'{Clip(typeText)}' is not an event type; allowed: {string.Join(", ", FrameEventTypes.All)}.");
        }

        var stage = OptionalText(root, "stage", errors) ?? Stages.Api;
        var service = OptionalText(root, "service", errors) ?? "external";
        var reason = OptionalText(root, "reason", errors);
        if (reason is null && type.RequiresReason() && !errors.Any)
        {
            errors.Add("reason", $"is required for '{type.ToWireName()}' events.");
        }

        TimeSpan? duration = null;
        if (root.TryGetProperty("duration_ms", out var durationElement) && durationElement.ValueKind != JsonValueKind.Null)
        {
            if (durationElement.ValueKind != JsonValueKind.Number || !durationElement.TryGetDouble(out var ms) || ms < 0 || ms > TimeSpan.FromDays(1).TotalMilliseconds)
            {
                errors.Add("duration_ms", "must be a number of milliseconds from 0 to 86400000.");
            }
            else
            {
                duration = TimeSpan.FromTicks((long)(ms * TimeSpan.TicksPerMillisecond));
            }
        }

        var traceId = ParseTraceId(OptionalText(root, "trace_id", errors), errors);
        var spanId = ParseSpanId(OptionalText(root, "span_id", errors), errors);
        var eventId = Guid.CreateVersion7(timestamp == default ? time.GetUtcNow() : timestamp);
        if (OptionalText(root, "event_id", errors) is { } eventIdText && !Guid.TryParse(eventIdText, out eventId))
        {
            errors.Add("event_id", "must be a UUID.");
        }

        string? data = null;
        if (root.TryGetProperty("data", out var dataElement) && dataElement.ValueKind != JsonValueKind.Null)
        {
            if (dataElement.ValueKind != JsonValueKind.Object)
            {
                errors.Add("data", "must be a JSON object.");
            }
            else
            {
                data = dataElement.GetRawText();
            }
        }

        if (errors.Any)
        {
            return errors.ToResult();
        }

        var frameEvent = new FrameEvent
        {
            EventId = eventId,
            FrameId = frameId,
            CameraId = camera!,
            Type = type,
            Stage = stage,
            Service = service,
            Timestamp = timestamp,
            TraceId = traceId,
            SpanId = spanId,
            Duration = duration,
            Reason = reason,
            Data = data,
        };
        await store.WriteAsync(StoreBatch.Of(frameEvent), CancellationToken.None);
        return Results.Created($"/api/v1/frames/{frameIdText}", frameEvent);
    }

    private static string? RequiredString(JsonElement root, string name, FieldErrors errors)
    {
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            errors.Add(name, "is required.");
            return null;
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            errors.Add(name, "must be a string.");
            return null;
        }

        var value = element.GetString();
        if (string.IsNullOrEmpty(value))
        {
            errors.Add(name, "is required.");
            return null;
        }

        return value;
    }

    private static string? OptionalText(JsonElement root, string name, FieldErrors errors)
    {
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (element.ValueKind != JsonValueKind.String)
        {
            errors.Add(name, "must be a string.");
            return null;
        }

        var value = element.GetString();
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (value.Length > MaxTextLength || value.Any(char.IsControl))
        {
            errors.Add(name, $"must be at most {MaxTextLength} printable characters.");
            return null;
        }

        return value;
    }

    private static ActivityTraceId ParseTraceId(string? text, FieldErrors errors)
    {
        if (text is null)
        {
            return default;
        }

        if (text.Length != 32 || !text.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f') || text.All(c => c == '0'))
        {
            errors.Add("trace_id", "must be 32 lowercase hex characters, not all zero.");
            return default;
        }

        return ActivityTraceId.CreateFromString(text);
    }

    private static ActivitySpanId ParseSpanId(string? text, FieldErrors errors)
    {
        if (text is null)
        {
            return default;
        }

        if (text.Length != 16 || !text.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f') || text.All(c => c == '0'))
        {
            errors.Add("span_id", "must be 16 lowercase hex characters, not all zero.");
            return default;
        }

        return ActivitySpanId.CreateFromString(text);
    }

    private static string Clip(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 37), "...");
}
