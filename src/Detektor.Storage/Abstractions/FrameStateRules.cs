using Detektor.Core.Lifecycle;

namespace Detektor.Storage.Abstractions;

/// <summary>
/// How a frame's events fold into its state and outcome. Shared by every store so they answer the same way.
/// <list type="bullet">
/// <item>state: the wire name of the highest-ranked event (<see cref="FrameEventTypes.Rank"/>).</item>
/// <item>outcome: dropped &gt; failed &gt; skipped &gt; processed, with the reason of the event that set it.</item>
/// </list>
/// </summary>
public static class FrameStateRules
{
    public static (string? Outcome, int Rank) Outcome(FrameEventType type) => type switch
    {
        FrameEventType.Dropped => ("dropped", 4),
        FrameEventType.ProcessingFailed => ("failed", 3),
        FrameEventType.Skipped => ("skipped", 2),
        FrameEventType.ProcessingCompleted => ("processed", 1),
        FrameEventType.Stored => ("processed", 1),
        _ => (null, 0),
    };

    /// <summary>Per-stage timings from a frame's ordered events.</summary>
    public static IReadOnlyList<StageTiming> Stages(IReadOnlyList<FrameEvent> events)
    {
        var stages = new List<StageTiming>();
        foreach (var e in events)
        {
            var duration = e.Duration?.TotalMilliseconds ?? 0;
            switch (e.Type)
            {
                case FrameEventType.Captured:
                    stages.Add(new StageTiming(e.Stage, "completed", duration));
                    break;
                case FrameEventType.Dequeued:
                    stages.Add(new StageTiming("queue", "completed", duration));
                    break;
                case FrameEventType.ProcessingCompleted:
                    stages.Add(new StageTiming(e.Stage, "completed", duration));
                    break;
                case FrameEventType.ProcessingFailed:
                    stages.Add(new StageTiming(e.Stage, "failed", duration));
                    break;
                case FrameEventType.Skipped:
                    stages.Add(new StageTiming(e.Stage, "skipped", duration));
                    break;
                case FrameEventType.Dropped:
                    stages.Add(new StageTiming(e.Stage, "dropped", duration));
                    break;
                case FrameEventType.Stored:
                    stages.Add(new StageTiming(e.Stage, "completed", duration));
                    break;
            }
        }

        return stages;
    }

    /// <summary>
    /// Folds a frame's events (in lifecycle order, see <see cref="CompareEvents"/>) into its list row: the state is the
    /// first event of the highest rank, the outcome the first of the highest outcome rank (with its reason), the trace id
    /// the first one recorded, the capture time the one in the frame id. Both stores answer frame lists this way.
    /// </summary>
    public static FrameSummary Summarize(string frameId, IReadOnlyList<FrameEvent> ordered)
    {
        ArgumentOutOfRangeException.ThrowIfZero(ordered.Count);
        var first = ordered[0];
        var state = first.Type;
        string? outcome = null;
        string? reason = null;
        var outcomeRank = 0;
        string? traceId = null;
        var updated = first.Timestamp;
        foreach (var e in ordered)
        {
            if (e.Type.Rank() > state.Rank())
            {
                state = e.Type;
            }

            var (o, rank) = Outcome(e.Type);
            if (rank > outcomeRank)
            {
                outcome = o;
                outcomeRank = rank;
                reason = e.Reason;
            }

            if (traceId is null && e.TraceId != default)
            {
                traceId = e.TraceId.ToHexString();
            }

            if (e.Timestamp > updated)
            {
                updated = e.Timestamp;
            }
        }

        return new FrameSummary(frameId, first.FrameId.CameraId, traceId, state.ToWireName(), outcome, reason, first.FrameId.Timestamp, updated, ordered.Count);
    }

    /// <summary>Capture to the last terminal event (or the last event), in milliseconds; null without events.</summary>
    public static double? TotalMs(IReadOnlyList<FrameEvent> ordered)
    {
        if (ordered.Count == 0)
        {
            return null;
        }

        var start = ordered[0].Timestamp;
        var end = ordered[^1].Timestamp;
        var sawCapture = false;
        foreach (var e in ordered)
        {
            if (e.Type == FrameEventType.Captured && !sawCapture)
            {
                start = e.Timestamp;
                sawCapture = true;
            }
        }

        for (var i = ordered.Count - 1; i >= 0; i--)
        {
            if (ordered[i].Type.IsTerminal())
            {
                end = ordered[i].Timestamp;
                break;
            }
        }

        return (end - start).TotalMilliseconds;
    }

    /// <summary>Builds a journey from a frame's events (any order) and detections.</summary>
    public static FrameJourney? Journey(string frameId, List<FrameEvent> events, IReadOnlyList<DetectionRecord> detections)
    {
        if (events.Count == 0)
        {
            return null;
        }

        events.Sort(CompareEvents);
        return new FrameJourney(Summarize(frameId, events), events, Stages(events), detections, TotalMs(events));
    }

    /// <summary>Events of one frame in lifecycle order: by time, ties broken by rank.</summary>
    public static int CompareEvents(FrameEvent a, FrameEvent b)
    {
        var c = a.Timestamp.CompareTo(b.Timestamp);
        return c != 0 ? c : a.Type.Rank().CompareTo(b.Type.Rank());
    }
}
