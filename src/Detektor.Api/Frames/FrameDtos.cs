using Detektor.Core.Lifecycle;
using Detektor.Storage.Abstractions;

namespace Detektor.Api.Frames;

/// <summary>A frame's journey as the API returns it.</summary>
public sealed record FrameJourneyResponse(
    string FrameId,
    string CameraId,
    string? TraceId,
    string State,
    string? Outcome,
    string? Reason,
    DateTimeOffset CapturedAt,
    DateTimeOffset UpdatedAt,
    double? TotalMs,
    IReadOnlyList<StageTiming> Stages,
    IReadOnlyList<FrameEvent> Events,
    IReadOnlyList<DetectionResponse> Detections)
{
    public static FrameJourneyResponse From(FrameJourney j) => new(
        j.Frame.FrameId, j.Frame.CameraId, j.Frame.TraceId, j.Frame.State, j.Frame.Outcome, j.Frame.Reason,
        j.Frame.CapturedAt, j.Frame.UpdatedAt, j.TotalMs, j.Stages, j.Events,
        [.. j.Detections.Select(d => new DetectionResponse(d.Label, d.Confidence, new BoxResponse(d.X, d.Y, d.Width, d.Height), d.Source, d.TrackId))]);
}

public sealed record DetectionResponse(string Label, float Confidence, BoxResponse Box, string? Source, string? TrackId);

public sealed record BoxResponse(float X, float Y, float Width, float Height);

public sealed record FramePageResponse(IReadOnlyList<FrameSummary> Items, string? NextCursor, int Limit);

/// <summary>The body of <c>POST /api/v1/frames</c>.</summary>
public sealed record FrameEventRequest(
    string FrameId,
    string CameraId,
    DateTimeOffset Timestamp,
    string EventType,
    string? Stage,
    string? Service,
    double? DurationMs,
    string? Reason,
    string? TraceId,
    string? SpanId,
    Guid? EventId,
    object? Data);
