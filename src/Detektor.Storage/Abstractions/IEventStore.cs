using Detektor.Core.Lifecycle;

namespace Detektor.Storage.Abstractions;

/// <summary>
/// The append-only store of frame lifecycle events, detections and tracked-object events, with the projections the API
/// reads (frame journey, frame and event lists, per-minute stats). Writes are idempotent by event id: writing the same
/// batch twice stores it once, and the projections count it once. Every implementation passes the same conformance suite
/// (tests/Detektor.Storage.Tests/Conformance).
/// </summary>
public interface IEventStore
{
    /// <summary>"sqlite" or "postgresql".</summary>
    string Provider { get; }

    /// <summary>What the store found and chose at <see cref="MigrateAsync"/> (partitioning, TimescaleDB, schema version).</summary>
    StoreInfo Info { get; }

    /// <summary>Applies pending schema migrations in order; safe to run again (nothing is applied twice).</summary>
    Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken = default);

    /// <summary>Writes events, detections and tracked-object events in one transaction; returns how many frame events were new.</summary>
    Task<int> WriteAsync(StoreBatch batch, CancellationToken cancellationToken = default);

    /// <summary>A frame's whole journey, or null when the store has no event of it.</summary>
    Task<FrameJourney?> GetJourneyAsync(string frameId, CancellationToken cancellationToken = default);

    /// <summary>Frames matching a filter, newest first, one page at a time (keyset paging on the frame id).</summary>
    Task<FramePage> QueryFramesAsync(FrameQuery query, CancellationToken cancellationToken = default);

    /// <summary>One camera's events in a capture-time range, oldest first (keyset paging on frame id, then event id).</summary>
    Task<EventPage> QueryEventsAsync(EventQuery query, CancellationToken cancellationToken = default);

    /// <summary>Per-interval counts and latency percentiles, from the per-minute stats projection.</summary>
    Task<IReadOnlyList<StatsBucket>> GetStatsAsync(StatsQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// Tracked objects seen in a time range (first seen before <c>To</c>, last seen at or after <c>From</c>), newest first
    /// (by first seen, then object id), optionally of one camera and label; keyset paging.
    /// </summary>
    Task<TrackedObjectPage> QueryTrackedObjectsAsync(TrackedObjectQuery query, CancellationToken cancellationToken = default);

    /// <summary>A tracked object with its events in time order, or null when unknown.</summary>
    Task<TrackedObjectHistory?> GetTrackedObjectAsync(string objectId, CancellationToken cancellationToken = default);

    /// <summary>Deletes what is older than the cutoffs (whole partitions or chunks where the store has them).</summary>
    Task<PruneResult> PruneAsync(RetentionCutoffs cutoffs, CancellationToken cancellationToken = default);

    /// <summary>Throws when the store cannot be reached; used by the readiness check and the writer's outage probe.</summary>
    Task PingAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// True when <paramref name="exception"/> from <see cref="WriteAsync"/> means the batch itself can never be written
    /// (bad data), as opposed to the store being unreachable or busy (which is worth retrying).
    /// </summary>
    bool IsPermanentFailure(Exception exception);
}

/// <summary>
/// What one write carries. <see cref="Replay"/> says the batch may already be (partly) stored — a retry or a journal
/// replay — so a store may skip its optimistic fast path.
/// </summary>
public sealed record StoreBatch(
    IReadOnlyList<FrameEvent> Events,
    IReadOnlyList<DetectionRecord> Detections,
    IReadOnlyList<TrackedObjectEvent>? TrackedObjectEvents = null)
{
    public IReadOnlyList<TrackedObjectEvent> TrackEvents => TrackedObjectEvents ?? [];

    public bool Replay { get; init; }

    public int Count => Events.Count + TrackEvents.Count;

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
