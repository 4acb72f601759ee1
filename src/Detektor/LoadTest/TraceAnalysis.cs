using Detektor.Core.Lifecycle;
using Detektor.Core.Telemetry;

namespace Detektor.LoadTest;

/// <summary>
/// Checks the spans that arrived against the frames' journeys in the store. A sampled frame (one whose root span
/// arrived) is complete when every stage its events record has its span — the root, the bus queue when it was dequeued,
/// <c>process {stage}</c> for each processor that completed, skipped or failed it, and <c>store</c> when it was
/// stored — all in one trace. An orphan span names a parent span that never arrived.
/// </summary>
public static class TraceAnalysis
{
    public static TraceReport Analyze(IReadOnlyList<ExportedSpan> spans, IReadOnlyDictionary<string, List<FrameEvent>> frames)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var byFrame = new Dictionary<string, List<ExportedSpan>>(StringComparer.Ordinal);
        foreach (var span in spans)
        {
            ids.Add(span.SpanId);
            if (span.FrameId is { } frameId)
            {
                if (!byFrame.TryGetValue(frameId, out var list))
                {
                    byFrame[frameId] = list = [];
                }

                list.Add(span);
            }
        }

        long orphans = 0;
        var examples = new List<string>();
        foreach (var span in spans)
        {
            if (span.ParentSpanId.Length > 0 && !ids.Contains(span.ParentSpanId))
            {
                orphans++;
                Add(examples, $"orphan span '{span.Name}' of {span.Service} (frame {span.FrameId ?? "-"})");
            }
        }

        long sampled = 0, complete = 0;
        foreach (var (frameId, events) in frames)
        {
            if (!byFrame.TryGetValue(frameId, out var frameSpans) || !frameSpans.Exists(s => s.Name == SpanNames.Frame))
            {
                continue;
            }

            sampled++;
            var missing = MissingSpans(events, frameSpans);
            var traces = frameSpans.Select(s => s.TraceId).Distinct(StringComparer.Ordinal).Count();
            if (missing.Count == 0 && traces == 1)
            {
                complete++;
            }
            else
            {
                Add(examples, $"frame {frameId}: {(missing.Count > 0 ? "no span " + string.Join(", ", missing) : string.Empty)}{(traces > 1 ? $" {traces} traces" : string.Empty)}");
            }
        }

        return new TraceReport(spans.Count, sampled, complete, sampled == 0 ? 0 : (double)complete / sampled, orphans, examples);
    }

    /// <summary>The span names a frame's events call for that are not among its spans.</summary>
    public static List<string> MissingSpans(IReadOnlyList<FrameEvent> events, IReadOnlyList<ExportedSpan> spans)
    {
        var names = spans.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var expected = new SortedSet<string>(StringComparer.Ordinal) { SpanNames.Frame };
        foreach (var e in events)
        {
            switch (e.Type)
            {
                case FrameEventType.Dequeued:
                    expected.Add(SpanNames.Queue);
                    break;
                case FrameEventType.ProcessingCompleted or FrameEventType.ProcessingFailed or FrameEventType.Skipped
                    when e.Stage is not (Stages.Capture or Stages.Bus or Stages.Store or Stages.Process):
                    expected.Add(SpanNames.ProcessPrefix + e.Stage);
                    break;
                case FrameEventType.Stored:
                    expected.Add(SpanNames.Store);
                    break;
            }
        }

        expected.ExceptWith(names);
        return [.. expected];
    }

    private static void Add(List<string> examples, string text)
    {
        if (examples.Count < 10)
        {
            examples.Add(text);
        }
    }
}

/// <summary>Spans received, sampled frames (root span arrived), those complete, their share, and orphan spans.</summary>
public sealed record TraceReport(long Spans, long SampledFrames, long CompleteFrames, double Completeness, long OrphanSpans, IReadOnlyList<string> Problems);
