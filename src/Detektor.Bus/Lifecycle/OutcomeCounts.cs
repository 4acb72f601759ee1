using System.Collections.Concurrent;
using Detektor.Bus.Abstractions;
using Detektor.Core.Lifecycle;

namespace Detektor.Bus.Lifecycle;

/// <summary>
/// Counts the <c>dropped</c> and <c>skipped</c> lifecycle events that pass the bus, by stage and reason. Every drop in
/// the pipeline is recorded as such an event, so these counts cover drops anywhere, not only the bus's own.
/// </summary>
internal sealed class OutcomeCounts
{
    private readonly ConcurrentDictionary<(string Stage, string Reason), long> _drops = new();
    private readonly ConcurrentDictionary<(string Stage, string Reason), long> _skips = new();

    public void Count(FrameEvent frameEvent)
    {
        var target = frameEvent.Type switch
        {
            FrameEventType.Dropped => _drops,
            FrameEventType.Skipped => _skips,
            _ => null,
        };
        target?.AddOrUpdate((frameEvent.Stage, frameEvent.Reason ?? "unknown"), 1, static (_, c) => c + 1);
    }

    public IReadOnlyList<ReasonCount> Drops() => List(_drops);

    public IReadOnlyList<ReasonCount> Skips() => List(_skips);

    private static List<ReasonCount> List(ConcurrentDictionary<(string Stage, string Reason), long> counts)
    {
        var list = new List<ReasonCount>(counts.Count);
        foreach (var ((stage, reason), count) in counts)
        {
            list.Add(new ReasonCount(stage, reason, count));
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Stage, b.Stage) is var c && c != 0 ? c : string.CompareOrdinal(a.Reason, b.Reason));
        return list;
    }
}
