using System.Text.Json;
using System.Text.Json.Serialization;
using Detektor.Api.Http;
using Detektor.Core.Frames;
using Detektor.Detection.Tracking;
using Detektor.Storage.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Detektor.Api.Events;

/// <summary>
/// Tracked-object events: what the tracker followed (a person entered at 10:02, left at 10:04), with the best snapshot
/// and the frames and traces behind it. Bad input answers 400 ProblemDetails naming the field; an unknown event 404.
/// </summary>
public static class EventsEndpoints
{
    public const int DefaultLimit = 50;
    private const int MaxLabelLength = 64;

    public static IEndpointRouteBuilder MapEvents(this IEndpointRouteBuilder endpoints)
    {
        var events = endpoints.MapGroup("/api/v1/events").WithTags("Events");
        events.MapGet("/", ListAsync)
            .WithName("ListEvents")
            .WithSummary("Tracked objects seen in a time range, newest first, by camera and label, paged with next_cursor.")
            .Produces<EventPageResponse>()
            .ProducesValidationProblem();
        events.MapGet("/{id}", GetAsync)
            .WithName("GetEvent")
            .WithSummary("One tracked object: start, end, best score, snapshot URL, and its entered/updated/left events with their frames and traces.")
            .Produces<EventDetailResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        events.MapGet("/{id}/snapshot.jpg", SnapshotAsync)
            .WithName("GetEventSnapshot")
            .WithSummary("The best snapshot of a tracked object (JPEG, box drawn).")
            .Produces(StatusCodes.Status200OK, contentType: "image/jpeg")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
        return endpoints;
    }

    private static async Task<IResult> ListAsync(HttpContext context, IEventStore store, CancellationToken cancellationToken)
    {
        var q = context.Request.Query;
        var errors = new FieldErrors();
        var camera = QueryParameters.One(q, "camera", errors);
        if (camera is not null && !CameraId.IsValid(camera))
        {
            errors.Add("camera", $"must be {CameraId.Rule}.");
        }

        var label = QueryParameters.One(q, "label", errors);
        if (label is not null && (label.Length > MaxLabelLength || label.Any(char.IsControl)))
        {
            errors.Add("label", $"must be a label name of at most {MaxLabelLength} characters, e.g. person.");
        }

        var from = QueryParameters.Time(QueryParameters.One(q, "from", errors), "from", errors);
        var to = QueryParameters.Time(QueryParameters.One(q, "to", errors), "to", errors);
        if (from is not null && to is not null && from >= to)
        {
            errors.Add("to", "must be later than from.");
        }

        var limit = QueryParameters.WholeNumber(q, "limit", DefaultLimit, 1, TrackedObjectQuery.MaxLimit, errors);
        TrackedObjectCursor? cursor = null;
        if (QueryParameters.One(q, "cursor", errors) is { } cursorText && !TrackedObjectCursor.TryParse(cursorText, out cursor))
        {
            errors.Add("cursor", "must be a next_cursor value from an earlier page.");
        }

        if (errors.Any)
        {
            return errors.ToResult();
        }

        var page = await store.QueryTrackedObjectsAsync(new TrackedObjectQuery(camera, label, from, to, limit, cursor), cancellationToken);
        return Results.Ok(new EventPageResponse([.. page.Items.Select(EventResponse.From)], page.Next?.ToString(), limit));
    }

    private static async Task<IResult> GetAsync(string id, IEventStore store, CancellationToken cancellationToken)
    {
        if (ValidateId(id) is { } problem)
        {
            return problem;
        }

        var history = await store.GetTrackedObjectAsync(id, cancellationToken);
        return history is null
            ? ApiProblems.NotFound($"No tracked object '{id}' is in the event store.")
            : Results.Ok(EventDetailResponse.From(history));
    }

    private static async Task<IResult> SnapshotAsync(string id, IEventStore store, SnapshotStore snapshots, CancellationToken cancellationToken)
    {
        if (ValidateId(id) is { } problem)
        {
            return problem;
        }

        var history = await store.GetTrackedObjectAsync(id, cancellationToken);
        if (history is null)
        {
            return ApiProblems.NotFound($"No tracked object '{id}' is in the event store.");
        }

        var path = snapshots.Resolve(history.Tracked.BestSnapshotPath);
        if (path is null || !File.Exists(path))
        {
            return ApiProblems.NotFound($"Tracked object '{id}' has no snapshot on this instance (none was written, or it was pruned).");
        }

        return Results.File(path, "image/jpeg", enableRangeProcessing: false);
    }

    /// <summary>Object ids are the tracker's (<c>trk_</c> + 32 hex) or another producer's: letters, digits, '-', '_', at most 64.</summary>
    private static IResult? ValidateId(string id) =>
        id.Length is 0 or > 64 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            ? ApiProblems.Field("id", "must be an event id: letters, digits, '-' or '_', at most 64 characters.")
            : null;

    internal static string SnapshotUrl(string id) => $"/api/v1/events/{id}/snapshot.jpg";
}

/// <summary>One tracked object in the list.</summary>
public record EventResponse(
    string Id,
    string CameraId,
    string Label,
    string State,
    DateTimeOffset Start,
    DateTimeOffset? End,
    float BestScore,
    string? SnapshotUrl,
    string? BestFrameId,
    int EventCount)
{
    public static EventResponse From(TrackedObject o) => new(
        o.ObjectId, o.CameraId, o.Label, o.State, o.FirstSeen, o.State == "left" ? o.LastSeen : null, o.BestScore,
        o.BestSnapshotPath is null ? null : EventsEndpoints.SnapshotUrl(o.ObjectId), o.BestFrameId, o.EventCount);
}

public sealed record EventPageResponse(IReadOnlyList<EventResponse> Items, string? NextCursor, int Limit);

/// <summary>
/// One entered/updated/left event of a tracked object, with where the object was and the frames behind it; <c>reason</c> is
/// <c>shutdown</c> for a <c>left</c> the tracker made because the process stopped with the object still in view.
/// </summary>
public sealed record TrackEventResponse(
    Guid EventId,
    string Type,
    DateTimeOffset Time,
    string? FrameId,
    string? TraceId,
    float Score,
    JsonElement? Box,
    IReadOnlyList<string> Frames,
    string? Reason = null)
{
    public static TrackEventResponse From(TrackedObjectEvent e)
    {
        JsonElement? box = null;
        var frames = new List<string>();
        string? reason = null;
        if (e.Data is { } data)
        {
            using var doc = JsonDocument.Parse(data);
            if (doc.RootElement.TryGetProperty("box", out var b))
            {
                box = b.Clone();
            }

            if (doc.RootElement.TryGetProperty("frames", out var f) && f.ValueKind == JsonValueKind.Array)
            {
                frames.AddRange(f.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!));
            }

            if (doc.RootElement.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String)
            {
                reason = r.GetString();
            }
        }

        return new TrackEventResponse(e.EventId, e.Type.ToWireName(), e.Time, e.FrameId, e.TraceId, e.Score, box, frames, reason);
    }
}

/// <summary>A tracked object (the list's fields) with its events, and every frame id and trace id behind them (deduplicated, in order).</summary>
public sealed record EventDetailResponse(
    [property: JsonIgnore] EventResponse Summary,
    IReadOnlyList<TrackEventResponse> Events,
    IReadOnlyList<string> FrameIds,
    IReadOnlyList<string> TraceIds) : EventResponse(Summary)
{
    public static EventDetailResponse From(TrackedObjectHistory history)
    {
        var events = history.Events.Select(TrackEventResponse.From).ToList();
        var frameIds = events.SelectMany(e => e.FrameId is null ? e.Frames : [e.FrameId, .. e.Frames]).Distinct(StringComparer.Ordinal).ToList();
        var traceIds = events.Select(e => e.TraceId).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        return new EventDetailResponse(EventResponse.From(history.Tracked), events, frameIds, traceIds);
    }
}
