using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;

namespace Detektor.Storage.Abstractions;

/// <summary>One camera's events whose frames were captured in [<see cref="From"/>, <see cref="To"/>), oldest first.</summary>
public sealed record EventQuery(
    string CameraId,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    int Limit = 100,
    EventCursor? After = null)
{
    public const int MaxLimit = 1000;
}

public sealed record EventPage(IReadOnlyList<FrameEvent> Items, EventCursor? Next)
{
    /// <summary>A page from up to <paramref name="limit"/> + 1 rows: the extra row only says there is a next page.</summary>
    public static EventPage From(List<FrameEvent> rows, int limit) =>
        new(rows, KeysetPage.Trim(rows, limit) ? EventCursor.Of(rows[^1]) : null);
}

/// <summary>Keyset paging: a query reads one row more than the page; that row only says there is a next page.</summary>
public static class KeysetPage
{
    /// <summary>Cuts <paramref name="rows"/> to <paramref name="limit"/>; true when there were more (a next page exists).</summary>
    public static bool Trim<T>(List<T> rows, int limit)
    {
        if (rows.Count <= limit)
        {
            return false;
        }

        rows.RemoveRange(limit, rows.Count - limit);
        return true;
    }
}

/// <summary>
/// Keyset position in an event list: the (frame id, event id) of the last event of a page. The next page starts strictly
/// after it, so pages never overlap or skip, however many events arrive meanwhile. Text form: <c>{frame id}/{event id}</c>.
/// </summary>
public readonly record struct EventCursor(string FrameId, Guid EventId)
{
    public override string ToString() => $"{FrameId}/{EventId:N}";

    public static bool TryParse([NotNullWhen(true)] string? text, out EventCursor cursor)
    {
        cursor = default;
        var slash = text?.LastIndexOf('/') ?? -1;
        if (text is null || slash <= 0 || !Core.Frames.FrameId.TryParse(text[..slash], out _) ||
            !Guid.TryParseExact(text.AsSpan(slash + 1), "N", out var eventId))
        {
            return false;
        }

        cursor = new EventCursor(text[..slash], eventId);
        return true;
    }

    public static EventCursor Of(FrameEvent e) => new(e.FrameId.ToString(), e.EventId);
}

/// <summary>Stats of one camera (or all, when <see cref="CameraId"/> is null) in [From, To), in buckets of <see cref="Interval"/>.</summary>
public sealed record StatsQuery(string? CameraId, DateTimeOffset From, DateTimeOffset To, TimeSpan Interval)
{
    /// <summary>Most buckets one query may ask for.</summary>
    public const int MaxBuckets = 10_000;

    /// <summary>Bucket starts are multiples of the interval since the Unix epoch, so they line up across queries.</summary>
    public long IntervalSeconds => (long)Interval.TotalSeconds;
}

/// <summary>What happened to the frames captured in one interval (only intervals with data are returned).</summary>
public sealed record StatsBucket(
    DateTimeOffset Start,
    DateTimeOffset End,
    long Frames,
    long Stored,
    long Skipped,
    long Dropped,
    long Failed,
    long Detections,
    IReadOnlyDictionary<string, long> SkippedByReason,
    IReadOnlyDictionary<string, long> DroppedByReason,
    LatencySummary Latency);

/// <summary>
/// Capture-to-stored latency of the frames stored in an interval. Mean and max are exact; percentiles come from a
/// log-scale histogram (<see cref="LatencyHistogram"/>) and are interpolated inside one bucket (buckets are 19 % wide), so they are within 19 % of the true value.
/// </summary>
public sealed record LatencySummary(long Count, double? MeanMs, double? MaxMs, double? P50Ms, double? P90Ms, double? P99Ms);

/// <summary>What a tracker reports about an object: it entered the scene, was seen again, or left.</summary>
public static class TrackedObjectEventTypes
{
    public static string ToWireName(this TrackEventType type) => type switch
    {
        TrackEventType.Entered => "entered",
        TrackEventType.Updated => "updated",
        _ => "left",
    };

    public static bool TryParse(string? name, out TrackEventType type)
    {
        switch (name)
        {
            case "entered":
                type = TrackEventType.Entered;
                return true;
            case "updated":
                type = TrackEventType.Updated;
                return true;
            case "left":
                type = TrackEventType.Left;
                return true;
            default:
                type = default;
                return false;
        }
    }
}

/// <summary>One fact about a tracked object, tied to the frame (and trace) where it was seen. Idempotent by <see cref="EventId"/>.</summary>
public sealed record TrackedObjectEvent(
    Guid EventId,
    string ObjectId,
    string CameraId,
    TrackEventType Type,
    DateTimeOffset Time,
    string? FrameId,
    string? TraceId,
    string Label,
    float Score,
    string? SnapshotPath,
    string? Data);

/// <summary>The tracked-object projection: one row per object, folded from its events.</summary>
public sealed record TrackedObject(
    string ObjectId,
    string CameraId,
    string Label,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    float BestScore,
    string? BestSnapshotPath,
    string? BestFrameId,
    string State,
    int EventCount);

/// <summary>A filter over tracked objects; <see cref="Cursor"/> continues after the last object of a page.</summary>
public sealed record TrackedObjectQuery(
    string? CameraId = null,
    string? Label = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    int Limit = 50,
    TrackedObjectCursor? Cursor = null)
{
    public const int MaxLimit = 500;
}

/// <summary>A page of tracked objects and the cursor of the next one (null on the last page).</summary>
public sealed record TrackedObjectPage(IReadOnlyList<TrackedObject> Items, TrackedObjectCursor? Next)
{
    /// <summary>A page from up to <paramref name="limit"/> + 1 rows: the extra row only says there is a next page.</summary>
    public static TrackedObjectPage From(List<TrackedObject> rows, int limit) =>
        new(rows, KeysetPage.Trim(rows, limit) ? new TrackedObjectCursor(rows[^1].FirstSeen, rows[^1].ObjectId) : null);
}

/// <summary>Keyset position in the tracked-object list: (first seen, object id) of the last object of a page; text <c>{µs}_{id}</c>.</summary>
public sealed record TrackedObjectCursor(DateTimeOffset FirstSeen, string ObjectId)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{FrameTimes.ToMicros(FirstSeen)}_{ObjectId}");

    public static bool TryParse(string? text, [NotNullWhen(true)] out TrackedObjectCursor? cursor)
    {
        cursor = null;
        var underscore = text?.IndexOf('_', StringComparison.Ordinal) ?? -1;
        if (underscore <= 0 || underscore == text!.Length - 1
            || !long.TryParse(text.AsSpan(0, underscore), NumberStyles.None, CultureInfo.InvariantCulture, out var micros))
        {
            return false;
        }

        cursor = new TrackedObjectCursor(FrameTimes.FromMicros(micros), text[(underscore + 1)..]);
        return true;
    }
}

public sealed record TrackedObjectHistory(TrackedObject Tracked, IReadOnlyList<TrackedObjectEvent> Events);

/// <summary>Everything older than these instants may be deleted.</summary>
public sealed record RetentionCutoffs(DateTimeOffset Events, DateTimeOffset Detections, DateTimeOffset Stats);

/// <summary>
/// What a prune removed. Stores that drop whole partitions or chunks report those in <see cref="PartitionsDropped"/>
/// (their rows are not counted one by one); row deletes are counted in <see cref="RowsDeleted"/>.
/// </summary>
public sealed record PruneResult(IReadOnlyDictionary<string, long> RowsDeleted, IReadOnlyDictionary<string, int> PartitionsDropped)
{
    public static PruneResult Empty { get; } = new(new Dictionary<string, long>(), new Dictionary<string, int>());
}

/// <summary>How a store keeps time-partitioned data.</summary>
public static class Partitioning
{
    /// <summary>One SQLite file; retention deletes rows.</summary>
    public const string None = "none";

    /// <summary>PostgreSQL declarative partitioning by day; retention drops whole partitions.</summary>
    public const string Native = "native";

    /// <summary>TimescaleDB hypertables, compression, retention policies and continuous aggregates.</summary>
    public const string TimescaleDb = "timescaledb";
}

/// <summary>The store's facts for /health metadata and <c>detektor db migrate</c>.</summary>
public sealed record StoreInfo(
    string Provider,
    string Partitioning,
    int SchemaVersion,
    string? ServerVersion,
    bool TimescaleDbAvailable,
    string? TimescaleDbVersion,
    string? Note,
    string Location);

/// <summary>What <see cref="IEventStore.MigrateAsync"/> did.</summary>
public sealed record MigrationResult(IReadOnlyList<string> Applied, StoreInfo Info);

/// <summary>Helpers for the frame-time parts of ids, shared by the stores.</summary>
public static class FrameTimes
{
    /// <summary>The capture time encoded in a frame id, or null when the id is not canonical.</summary>
    public static DateTimeOffset? Of(string frameId) => FrameId.TryParse(frameId, out var id) ? id.Timestamp : null;

    public static long ToMicros(DateTimeOffset time) => Core.Journal.JournaledFrameEvent.ToMicros(time);

    public static DateTimeOffset FromMicros(long micros) => Core.Journal.JournaledFrameEvent.FromMicros(micros);

    /// <summary>The start of the minute that holds <paramref name="time"/> (UTC).</summary>
    public static DateTimeOffset Minute(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
}

/// <summary>The tracker's <see cref="TrackEvent"/> as the store keeps it.</summary>
public static class TrackedObjectEvents
{
    public static TrackedObjectEvent From(TrackEvent e, string cameraId) => new(
        e.EventId,
        e.ObjectId,
        cameraId,
        e.Type,
        e.Time,
        e.FrameId,
        e.TraceId,
        e.Label,
        e.Score,
        e.SnapshotPath,
        Data(e));

    /// <summary><c>{"box":{"x","y","width","height"},"frames":[…]}</c>: where the object was, and the frames behind the event.</summary>
    private static string Data(TrackEvent e)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("box");
            json.WriteNumber("x", Math.Round(e.Box.X, 1));
            json.WriteNumber("y", Math.Round(e.Box.Y, 1));
            json.WriteNumber("width", Math.Round(e.Box.Width, 1));
            json.WriteNumber("height", Math.Round(e.Box.Height, 1));
            json.WriteEndObject();
            if (e.Reason is { } reason)
            {
                json.WriteString("reason", reason);
            }

            json.WriteStartArray("frames");
            foreach (var frame in e.Frames)
            {
                json.WriteStringValue(frame);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
