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

    /// <summary>Events of one frame in lifecycle order: by time, ties broken by rank.</summary>
    public static int CompareEvents(FrameEvent a, FrameEvent b)
    {
        var c = a.Timestamp.CompareTo(b.Timestamp);
        return c != 0 ? c : a.Type.Rank().CompareTo(b.Type.Rank());
    }
}
