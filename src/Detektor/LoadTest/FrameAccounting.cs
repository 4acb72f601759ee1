using System.Globalization;
using Detektor.Core.Lifecycle;
using Detektor.Storage.Abstractions;

namespace Detektor.LoadTest;

/// <summary>
/// Accounts for every frame of a run from the lifecycle events in the store. Exact by construction: each frame the
/// cameras produced ends in exactly one bucket — processed, failed, skipped (by reason), dropped (by reason) — or is
/// <b>lost</b>. A frame is lost when it has no terminal event (<c>stored</c>, or <c>dropped</c> with a reason), and also
/// when it left no event at all: frame ids carry the camera's sequence number per process, so a gap in the sequences
/// is a frame that was read and never heard of again.
/// </summary>
public sealed class FrameAccounting
{
    private readonly Dictionary<string, List<FrameEvent>> _frames = new(StringComparer.Ordinal);

    /// <summary>Adds events (any order, any number of calls; an event id seen twice counts once).</summary>
    public void Add(IEnumerable<FrameEvent> events)
    {
        foreach (var e in events)
        {
            var id = e.FrameId.ToString();
            if (!_frames.TryGetValue(id, out var list))
            {
                _frames[id] = list = [];
            }

            if (!list.Exists(x => x.EventId == e.EventId))
            {
                list.Add(e);
            }
        }
    }

    /// <summary>Events added so far.</summary>
    public IReadOnlyDictionary<string, List<FrameEvent>> Frames => _frames;

    /// <summary>
    /// Folds the events into the frame counts, and the latencies of the frames captured at or after <paramref name="measureFrom"/>.
    /// </summary>
    public (FrameCounts Frames, LatencyReport Latency) Summarize(DateTimeOffset measureFrom)
    {
        var skipped = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var dropped = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long processed = 0, failed = 0, lost = 0, complete = 0;
        var lostExamples = new List<string>();
        var sequences = new Dictionary<(string Camera, uint Node), (long Max, HashSet<long> Seen)>();
        var stageDurations = new SortedDictionary<string, List<double>>(StringComparer.Ordinal);
        var captureToStored = new List<double>();

        foreach (var (id, events) in _frames)
        {
            events.Sort(FrameStateRules.CompareEvents);
            var frameId = events[0].FrameId;
            var key = (frameId.CameraId, frameId.Node);
            if (!sequences.TryGetValue(key, out var seq))
            {
                seq = (0, []);
            }

            seq.Seen.Add(frameId.Sequence);
            sequences[key] = (Math.Max(seq.Max, frameId.Sequence), seq.Seen);

            var summary = FrameStateRules.Summarize(id, events);
            var terminal = summary.State is "stored" or "dropped";
            var reasonsPresent = events.TrueForAll(e => !e.Type.RequiresReason() || !string.IsNullOrEmpty(e.Reason));
            if (!terminal || !reasonsPresent)
            {
                lost++;
                AddExample(lostExamples, $"{id} (state {summary.State}{(reasonsPresent ? string.Empty : ", an event without its reason")})");
            }
            else
            {
                switch (summary.Outcome)
                {
                    case "dropped":
                        Increment(dropped, summary.Reason ?? "unknown");
                        break;
                    case "skipped":
                        Increment(skipped, summary.Reason ?? "unknown");
                        break;
                    case "failed":
                        failed++;
                        break;
                    default:
                        processed++;
                        break;
                }
            }

            if (terminal && reasonsPresent && IsComplete(events))
            {
                complete++;
            }

            if (frameId.Timestamp >= measureFrom)
            {
                AddLatencies(events, stageDurations, captureToStored);
            }
        }

        // Frames that left no event at all: the gaps in each camera's sequence numbers.
        long missing = 0;
        foreach (var ((camera, node), (max, seen)) in sequences)
        {
            for (var s = 1L; s <= max; s++)
            {
                if (!seen.Contains(s))
                {
                    missing++;
                    AddExample(lostExamples, string.Create(CultureInfo.InvariantCulture, $"{camera} frame #{s} of node {node:x8} (no event at all)"));
                }
            }
        }

        lost += missing;
        var captured = _frames.Count + missing;
        var counts = new FrameCounts(
            captured,
            processed,
            failed,
            skipped.Values.Sum(),
            skipped,
            dropped.Values.Sum(),
            dropped,
            lost,
            lostExamples,
            complete,
            captured == 0 ? 0 : (double)complete / captured);
        var stages = new SortedDictionary<string, Percentiles>(StringComparer.Ordinal);
        foreach (var (stage, values) in stageDurations)
        {
            stages[stage] = Percentiles.Of(values);
        }

        return (counts, new LatencyReport(captureToStored.Count == 0 ? null : Percentiles.Of(captureToStored), stages));
    }

    /// <summary>
    /// A complete lifecycle: exactly one <c>captured</c> event, a terminal event, every skip and drop with its reason, and one
    /// trace id across the events that carry one.
    /// </summary>
    private static bool IsComplete(List<FrameEvent> events)
    {
        var captured = 0;
        var trace = default(System.Diagnostics.ActivityTraceId);
        foreach (var e in events)
        {
            if (e.Type == FrameEventType.Captured)
            {
                captured++;
            }

            if (e.TraceId != default)
            {
                if (trace != default && trace != e.TraceId)
                {
                    return false;
                }

                trace = e.TraceId;
            }
        }

        return captured == 1;
    }

    private static void AddLatencies(List<FrameEvent> events, SortedDictionary<string, List<double>> stages, List<double> captureToStored)
    {
        foreach (var stage in FrameStateRules.Stages(events))
        {
            if (stage.Status is "completed" or "skipped")
            {
                if (!stages.TryGetValue(stage.Stage, out var list))
                {
                    stages[stage.Stage] = list = [];
                }

                list.Add(stage.DurationMs);
            }
        }

        var captured = events.Find(e => e.Type == FrameEventType.Captured);
        var stored = events.FindLast(e => e.Type == FrameEventType.Stored);
        if (captured is not null && stored is not null)
        {
            captureToStored.Add((stored.Timestamp - captured.Timestamp).TotalMilliseconds);
        }
    }

    private static void Increment(SortedDictionary<string, long> counts, string key) =>
        counts[key] = counts.GetValueOrDefault(key) + 1;

    private static void AddExample(List<string> examples, string text)
    {
        if (examples.Count < 10)
        {
            examples.Add(text);
        }
    }
}

/// <summary>Where every frame of a run ended. captured = processed + failed + skipped + dropped + lost, always.</summary>
public sealed record FrameCounts(
    long Captured,
    long Processed,
    long Failed,
    long Skipped,
    IReadOnlyDictionary<string, long> SkippedByReason,
    long Dropped,
    IReadOnlyDictionary<string, long> DroppedByReason,
    long Lost,
    IReadOnlyList<string> LostExamples,
    long LifecycleComplete,
    double LifecycleCompleteness);

/// <summary>Latency of the measured frames: capture→stored, and the time spent in each stage (by stage name).</summary>
public sealed record LatencyReport(Percentiles? CaptureToStored, IReadOnlyDictionary<string, Percentiles> Stages);

/// <summary>Nearest-rank percentiles, in milliseconds.</summary>
public sealed record Percentiles(long Count, double P50Ms, double P95Ms, double P99Ms, double MaxMs)
{
    public static Percentiles Of(List<double> values)
    {
        ArgumentOutOfRangeException.ThrowIfZero(values.Count);
        values.Sort();
        return new Percentiles(values.Count, Rank(values, 0.50), Rank(values, 0.95), Rank(values, 0.99), values[^1]);
    }

    private static double Rank(List<double> sorted, double p) =>
        Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)], 3);
}
