using Detektor.Core.Lifecycle;

namespace Detektor.Storage.Abstractions;

/// <summary>
/// The append-only store of frame lifecycle events and detections, with the projections the API reads (frame journey,
/// frame list). Writes are idempotent by event id: writing the same batch twice stores it once.
/// </summary>
public interface IEventStore
{
    /// <summary>"sqlite" or "postgresql".</summary>
    string Provider { get; }

    /// <summary>Applies pending schema migrations; safe to run again.</summary>
    Task MigrateAsync(CancellationToken cancellationToken = default);

    /// <summary>Writes events and detections in one transaction; returns how many events were new.</summary>
    Task<int> WriteAsync(StoreBatch batch, CancellationToken cancellationToken = default);

    /// <summary>A frame's whole journey, or null when the store has no event of it.</summary>
    Task<FrameJourney?> GetJourneyAsync(string frameId, CancellationToken cancellationToken = default);

    /// <summary>Frames matching a filter, newest first, one page at a time (keyset paging on the frame id).</summary>
    Task<FramePage> QueryFramesAsync(FrameQuery query, CancellationToken cancellationToken = default);

    /// <summary>Throws when the store cannot be reached; used by the readiness check.</summary>
    Task PingAsync(CancellationToken cancellationToken = default);
}

public sealed record StoreBatch(IReadOnlyList<FrameEvent> Events, IReadOnlyList<DetectionRecord> Detections)
{
    public static StoreBatch Of(params FrameEvent[] events) => new(events, []);
}

/// <summary>A detection as stored: tied to its frame and to the <c>stored</c> event that brought it.</summary>
public sealed record DetectionRecord(
    string FrameId,
    string CameraId,
    DateTimeOffset Time,
    string Label,
    float Confidence,
    float X,
    float Y,
    float Width,
    float Height,
    string? Source,
    string? TrackId,
    Guid StoredEventId);

public sealed record FrameQuery(
    string? CameraId = null,
    string? TraceId = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    int Limit = 50,
    string? Before = null)
{
    public const int MaxLimit = 1000;
}

public sealed record FramePage(IReadOnlyList<FrameSummary> Items, string? NextCursor);

/// <summary>One row of the frame list: where a frame is and how it ended.</summary>
public sealed record FrameSummary(
    string FrameId,
    string CameraId,
    string? TraceId,
    string State,
    string? Outcome,
    string? Reason,
    DateTimeOffset CapturedAt,
    DateTimeOffset UpdatedAt,
    int EventCount);

/// <summary>Time a frame spent in one stage.</summary>
public sealed record StageTiming(string Stage, string Status, double DurationMs);

/// <summary>Everything the store knows about one frame, in order.</summary>
public sealed record FrameJourney(
    FrameSummary Frame,
    IReadOnlyList<FrameEvent> Events,
    IReadOnlyList<StageTiming> Stages,
    IReadOnlyList<DetectionRecord> Detections,
    double? TotalMs);
