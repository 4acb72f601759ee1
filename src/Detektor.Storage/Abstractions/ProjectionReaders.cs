using System.Data.Common;
using Detektor.Core.Lifecycle;

namespace Detektor.Storage.Abstractions;

/// <summary>Builds the answers of frame-list queries from the events of the frames on a page (the same in every store).</summary>
public static class FramePages
{
    /// <summary>
    /// One summary per id in <paramref name="frameIds"/> (newest first, as the store selected them; at most limit + 1),
    /// folded from <paramref name="events"/>; the extra id, if any, only says there is a next page.
    /// </summary>
    public static FramePage Build(IReadOnlyList<string> frameIds, IEnumerable<FrameEvent> events, int limit)
    {
        var byFrame = new Dictionary<string, List<FrameEvent>>(frameIds.Count, StringComparer.Ordinal);
        foreach (var e in events)
        {
            var id = e.FrameId.ToString();
            if (!byFrame.TryGetValue(id, out var list))
            {
                list = new List<FrameEvent>(8);
                byFrame.Add(id, list);
            }

            list.Add(e);
        }

        var items = new List<FrameSummary>(Math.Min(frameIds.Count, limit));
        foreach (var id in frameIds)
        {
            if (items.Count == limit)
            {
                break;
            }

            if (byFrame.TryGetValue(id, out var list))
            {
                list.Sort(FrameStateRules.CompareEvents);
                items.Add(FrameStateRules.Summarize(id, list));
            }
        }

        var next = frameIds.Count > limit && items.Count > 0 ? items[^1].FrameId : null;
        return new FramePage(items, next);
    }
}

/// <summary>Assembles <see cref="StatsBucket"/>s from the three per-minute projection tables, summed per interval by the store.</summary>
public sealed class StatsBuilder(TimeSpan interval)
{
    private readonly SortedDictionary<long, Row> _rows = [];

    /// <summary>Counters of the interval starting at <paramref name="startMicros"/>.</summary>
    public void AddCounts(
        long startMicros, long frames, long stored, long skipped, long dropped, long failed, long detections,
        long latencyCount, double latencySumMs, double? latencyMaxMs)
    {
        var row = Get(startMicros);
        row.Frames += frames;
        row.Stored += stored;
        row.Skipped += skipped;
        row.Dropped += dropped;
        row.Failed += failed;
        row.Detections += detections;
        row.LatencyCount += latencyCount;
        row.LatencySumMs += latencySumMs;
        if (latencyMaxMs is { } max && (row.LatencyMaxMs is null || max > row.LatencyMaxMs))
        {
            row.LatencyMaxMs = max;
        }
    }

    public void AddReason(long startMicros, string type, string reason, long count)
    {
        var map = string.Equals(type, "dropped", StringComparison.Ordinal) ? Get(startMicros).DroppedReasons : Get(startMicros).SkippedReasons;
        map[reason] = map.GetValueOrDefault(reason) + count;
    }

    public void AddLatency(long startMicros, int bucket, long count)
    {
        var histogram = Get(startMicros).Histogram;
        histogram[bucket] = histogram.GetValueOrDefault(bucket) + count;
    }

    /// <summary>Reads rows of (interval start µs, frames, stored, skipped, dropped, failed, detections, latency count, sum, max).</summary>
    public async Task ReadCountsAsync(DbDataReader r, CancellationToken cancellationToken)
    {
        while (await r.ReadAsync(cancellationToken))
        {
            AddCounts(
                r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6),
                r.GetInt64(7), r.GetDouble(8), r.IsDBNull(9) ? null : r.GetDouble(9));
        }
    }

    /// <summary>Reads rows of (interval start µs, type, reason, count).</summary>
    public async Task ReadReasonsAsync(DbDataReader r, CancellationToken cancellationToken)
    {
        while (await r.ReadAsync(cancellationToken))
        {
            AddReason(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetInt64(3));
        }
    }

    /// <summary>Reads rows of (interval start µs, bucket, count).</summary>
    public async Task ReadLatencyAsync(DbDataReader r, CancellationToken cancellationToken)
    {
        while (await r.ReadAsync(cancellationToken))
        {
            AddLatency(r.GetInt64(0), r.GetInt32(1), r.GetInt64(2));
        }
    }

    public IReadOnlyList<StatsBucket> Build()
    {
        var result = new List<StatsBucket>(_rows.Count);
        foreach (var (startMicros, r) in _rows)
        {
            var start = FrameTimes.FromMicros(startMicros);
            var histogram = r.Histogram.Select(kv => (kv.Key, kv.Value)).ToList();
            var latency = new LatencySummary(
                r.LatencyCount,
                r.LatencyCount > 0 ? r.LatencySumMs / r.LatencyCount : null,
                r.LatencyMaxMs,
                LatencyHistogram.Percentile(histogram, 0.50, r.LatencyMaxMs),
                LatencyHistogram.Percentile(histogram, 0.90, r.LatencyMaxMs),
                LatencyHistogram.Percentile(histogram, 0.99, r.LatencyMaxMs));
            result.Add(new StatsBucket(
                start, start + interval, r.Frames, r.Stored, r.Skipped, r.Dropped, r.Failed, r.Detections,
                r.SkippedReasons, r.DroppedReasons, latency));
        }

        return result;
    }

    private Row Get(long startMicros)
    {
        if (!_rows.TryGetValue(startMicros, out var row))
        {
            row = new Row();
            _rows.Add(startMicros, row);
        }

        return row;
    }

    private sealed class Row
    {
        public long Frames;
        public long Stored;
        public long Skipped;
        public long Dropped;
        public long Failed;
        public long Detections;
        public long LatencyCount;
        public double LatencySumMs;
        public double? LatencyMaxMs;
        public readonly SortedDictionary<string, long> SkippedReasons = new(StringComparer.Ordinal);
        public readonly SortedDictionary<string, long> DroppedReasons = new(StringComparer.Ordinal);
        public readonly SortedDictionary<int, long> Histogram = [];
    }
}
