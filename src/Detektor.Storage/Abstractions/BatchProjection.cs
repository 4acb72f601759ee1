using System.Buffers;
using System.Text;
using System.Text.Json;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;

namespace Detektor.Storage.Abstractions;

/// <summary>
/// What the newly stored events of one batch add to the write-time projections: per-camera per-minute stats (counts,
/// reasons, latency histogram) and the tracked-object rows. Stores feed it only the events that were new (not replays),
/// so the projections count every event once. Minutes are those of the frame's capture time (from its id), so all of a
/// frame's events land in the same minute. Rows come out sorted by key, so concurrent writers lock them in one order.
/// </summary>
public sealed class BatchProjection
{
    private static readonly Comparer<MinuteKey> MinuteOrder = Comparer<MinuteKey>.Create(static (a, b) =>
    {
        var c = string.CompareOrdinal(a.CameraId, b.CameraId);
        return c != 0 ? c : a.MinuteMicros.CompareTo(b.MinuteMicros);
    });

    private static readonly Comparer<ReasonKey> ReasonOrder = Comparer<ReasonKey>.Create(static (a, b) =>
    {
        var c = string.CompareOrdinal(a.CameraId, b.CameraId);
        c = c != 0 ? c : a.MinuteMicros.CompareTo(b.MinuteMicros);
        c = c != 0 ? c : string.CompareOrdinal(a.Type, b.Type);
        return c != 0 ? c : string.CompareOrdinal(a.Reason, b.Reason);
    });

    private static readonly Comparer<LatencyKey> LatencyOrder = Comparer<LatencyKey>.Create(static (a, b) =>
    {
        var c = string.CompareOrdinal(a.CameraId, b.CameraId);
        c = c != 0 ? c : a.MinuteMicros.CompareTo(b.MinuteMicros);
        return c != 0 ? c : a.Bucket.CompareTo(b.Bucket);
    });

    private readonly SortedDictionary<MinuteKey, MinuteStats> _minutes = new(MinuteOrder);
    private readonly SortedDictionary<ReasonKey, long> _reasons = new(ReasonOrder);
    private readonly SortedDictionary<LatencyKey, long> _latency = new(LatencyOrder);
    private readonly SortedDictionary<string, TrackedObjectDelta> _objects = new(StringComparer.Ordinal);

    public IEnumerable<KeyValuePair<MinuteKey, MinuteStats>> Minutes => _minutes;

    public IEnumerable<KeyValuePair<ReasonKey, long>> Reasons => _reasons;

    public IEnumerable<KeyValuePair<LatencyKey, long>> Latency => _latency;

    public IEnumerable<TrackedObjectDelta> Objects => _objects.Values;

    public int MinuteCount => _minutes.Count;

    public bool IsEmpty => _minutes.Count == 0 && _objects.Count == 0;

    public static BatchProjection Of(IEnumerable<FrameEvent> newEvents, IEnumerable<TrackedObjectEvent> newTrackEvents)
    {
        var projection = new BatchProjection();
        foreach (var e in newEvents)
        {
            projection.Add(e);
        }

        foreach (var t in newTrackEvents)
        {
            projection.Add(t);
        }

        return projection;
    }

    public void Add(FrameEvent e)
    {
        var frameMicros = e.FrameId.UnixMicroseconds;
        var minute = frameMicros - (frameMicros % 60_000_000);
        var key = new MinuteKey(e.CameraId, minute);
        if (!_minutes.TryGetValue(key, out var stats))
        {
            stats = new MinuteStats();
            _minutes.Add(key, stats);
        }

        switch (e.Type)
        {
            case FrameEventType.Captured:
                stats.Frames++;
                break;
            case FrameEventType.Skipped:
                stats.Skipped++;
                AddReason(key, "skipped", e.Reason);
                break;
            case FrameEventType.Dropped:
                stats.Dropped++;
                AddReason(key, "dropped", e.Reason);
                break;
            case FrameEventType.ProcessingFailed:
                stats.Failed++;
                break;
            case FrameEventType.Stored:
                stats.Stored++;
                stats.Detections += DetectionCount(e.Data);
                var latencyMs = Math.Max(0, (e.Timestamp - e.FrameId.Timestamp).TotalMilliseconds);
                stats.LatencyCount++;
                stats.LatencySumMs += latencyMs;
                stats.LatencyMaxMs = Math.Max(stats.LatencyMaxMs, latencyMs);
                var latencyKey = new LatencyKey(key.CameraId, key.MinuteMicros, LatencyHistogram.BucketOf(latencyMs));
                _latency[latencyKey] = _latency.GetValueOrDefault(latencyKey) + 1;
                break;
        }
    }

    public void Add(TrackedObjectEvent t)
    {
        if (!_objects.TryGetValue(t.ObjectId, out var delta))
        {
            delta = new TrackedObjectDelta(t.ObjectId, t.CameraId);
            _objects.Add(t.ObjectId, delta);
        }

        delta.Add(t);
    }

    /// <summary>The <c>detections</c> number of a <c>stored</c> event's data, or 0.</summary>
    public static int DetectionCount(string? data)
    {
        if (string.IsNullOrEmpty(data) || !data.Contains("\"detections\"", StringComparison.Ordinal))
        {
            return 0;
        }

        var rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(data.Length));
        try
        {
            var length = Encoding.UTF8.GetBytes(data, rented);
            var reader = new Utf8JsonReader(rented.AsSpan(0, length));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return 0;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isDetections = reader.ValueTextEquals("detections"u8) && reader.CurrentDepth == 1;
                reader.Read();
                if (isDetections)
                {
                    return reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var n) && n > 0 ? n : 0;
                }

                reader.Skip();
            }

            return 0;
        }
        catch (JsonException)
        {
            return 0;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void AddReason(MinuteKey key, string type, string? reason)
    {
        var reasonKey = new ReasonKey(key.CameraId, key.MinuteMicros, type, reason ?? "unknown");
        _reasons[reasonKey] = _reasons.GetValueOrDefault(reasonKey) + 1;
    }

    public readonly record struct MinuteKey(string CameraId, long MinuteMicros);

    public readonly record struct ReasonKey(string CameraId, long MinuteMicros, string Type, string Reason);

    public readonly record struct LatencyKey(string CameraId, long MinuteMicros, int Bucket);

    /// <summary>Additive counters of one camera-minute.</summary>
    public sealed class MinuteStats
    {
        public long Frames { get; set; }

        public long Stored { get; set; }

        public long Skipped { get; set; }

        public long Dropped { get; set; }

        public long Failed { get; set; }

        public long Detections { get; set; }

        public long LatencyCount { get; set; }

        public double LatencySumMs { get; set; }

        public double LatencyMaxMs { get; set; }
    }

    /// <summary>
    /// What a batch adds to one tracked object's row: seen range, best score (with its snapshot and frame), latest label,
    /// whether it left, and how many events. Merging into a stored row keeps the min/max/latest of both.
    /// </summary>
    public sealed class TrackedObjectDelta(string objectId, string cameraId)
    {
        public string ObjectId { get; } = objectId;

        public string CameraId { get; } = cameraId;

        public string Label { get; private set; } = string.Empty;

        public DateTimeOffset FirstSeen { get; private set; } = DateTimeOffset.MaxValue;

        public DateTimeOffset LastSeen { get; private set; } = DateTimeOffset.MinValue;

        public float BestScore { get; private set; } = float.NegativeInfinity;

        public string? BestSnapshotPath { get; private set; }

        public string? BestFrameId { get; private set; }

        public bool Left { get; private set; }

        public int Count { get; private set; }

        public void Add(TrackedObjectEvent t)
        {
            Count++;
            if (t.Time < FirstSeen)
            {
                FirstSeen = t.Time;
            }

            if (t.Time >= LastSeen)
            {
                LastSeen = t.Time;
                Label = t.Label;
            }

            if (t.Score > BestScore)
            {
                BestScore = t.Score;
                BestSnapshotPath = t.SnapshotPath;
                BestFrameId = t.FrameId;
            }

            Left |= t.Type == TrackEventType.Left;
        }

        public string State => Left ? "left" : "active";
    }
}
