using System.Globalization;

namespace Detektor.LoadTest;

/// <summary>
/// The pass/fail limits of a load test; null turns a gate off. By default only correctness is gated (nothing lost,
/// every lifecycle complete, no orphan span, trace completeness, no restart); timing and memory gates are opt-in.
/// </summary>
public sealed record LoadTestGates
{
    /// <summary>Most frames allowed lost (<c>--max-lost</c>, default 0).</summary>
    public long? MaxLost { get; init; } = 0;

    /// <summary>Least share of frames whose lifecycle is complete (<c>--min-lifecycle-completeness</c>, default 1).</summary>
    public double? MinLifecycleCompleteness { get; init; } = 1.0;

    /// <summary>Least share of sampled frames with a span for every stage (<c>--min-trace-completeness</c>, default 0.99).</summary>
    public double? MinTraceCompleteness { get; init; } = 0.99;

    /// <summary>Most orphan spans (<c>--max-orphan-spans</c>, default 0).</summary>
    public long? MaxOrphanSpans { get; init; } = 0;

    /// <summary>Most share of captured frames dropped, any reason (<c>--max-dropped</c>, e.g. 0.01; off by default).</summary>
    public double? MaxDroppedShare { get; init; }

    /// <summary>Highest p95 capture→stored in milliseconds (<c>--max-p95-ms</c>; off by default).</summary>
    public double? MaxP95Ms { get; init; }

    /// <summary>Highest peak RSS of any child in MiB (<c>--max-rss-mb</c>; off by default).</summary>
    public double? MaxPeakRssMb { get; init; }

    /// <summary>Highest RSS growth from the end of the warm-up to the end, percent (<c>--max-rss-growth</c>; off by default).</summary>
    public double? MaxRssGrowthPercent { get; init; }

    /// <summary>Most restarts of child processes (<c>--max-restarts</c>, default 0).</summary>
    public int? MaxRestarts { get; init; } = 0;

    /// <summary>Checks a report against every gate that is on; one result per gate, in a fixed order.</summary>
    public IReadOnlyList<GateResult> Evaluate(LoadTestReport report)
    {
        var results = new List<GateResult>();
        var frames = report.Frames;
        if (MaxLost is { } maxLost)
        {
            results.Add(Check("max_lost", frames.Lost <= maxLost, frames.Lost, maxLost, "≤"));
        }

        if (MinLifecycleCompleteness is { } minLifecycle)
        {
            results.Add(Check("min_lifecycle_completeness", frames.LifecycleCompleteness >= minLifecycle, frames.LifecycleCompleteness, minLifecycle, "≥"));
        }

        if (MinTraceCompleteness is { } minTrace)
        {
            var traces = report.Traces;
            results.Add(Check("min_trace_completeness", traces.SampledFrames > 0 && traces.Completeness >= minTrace, traces.Completeness, minTrace, "≥"));
        }

        if (MaxOrphanSpans is { } maxOrphans)
        {
            results.Add(Check("max_orphan_spans", report.Traces.OrphanSpans <= maxOrphans, report.Traces.OrphanSpans, maxOrphans, "≤"));
        }

        if (MaxDroppedShare is { } maxDropped)
        {
            var share = frames.Captured == 0 ? 0 : (double)frames.Dropped / frames.Captured;
            results.Add(Check("max_dropped", share <= maxDropped, share, maxDropped, "≤"));
        }

        if (MaxP95Ms is { } maxP95)
        {
            var p95 = report.Latency.CaptureToStored?.P95Ms;
            results.Add(Check("max_p95_ms", p95 is { } v && v <= maxP95, p95, maxP95, "≤"));
        }

        if (MaxPeakRssMb is { } maxRss)
        {
            var peak = report.Processes.Count == 0 ? double.NaN : report.Processes.Max(p => p.PeakRssMb);
            results.Add(Check("max_rss_mb", peak <= maxRss, peak, maxRss, "≤"));
        }

        if (MaxRssGrowthPercent is { } maxGrowth)
        {
            var growth = report.Processes.Count == 0 ? double.NaN : report.Processes.Max(p => p.RssGrowthPercent ?? double.NaN);
            results.Add(Check("max_rss_growth", growth <= maxGrowth, growth, maxGrowth, "≤"));
        }

        if (MaxRestarts is { } maxRestarts)
        {
            var restarts = report.Processes.Sum(p => p.Restarts);
            results.Add(Check("max_restarts", restarts <= maxRestarts, restarts, maxRestarts, "≤"));
        }

        return results;
    }

    private static GateResult Check(string name, bool passed, double? measured, double limit, string comparison)
    {
        var value = measured is { } m && !double.IsNaN(m) ? m : (double?)null;
        return new(name, passed && value is not null, value, limit, string.Create(CultureInfo.InvariantCulture, $"{Format(value)} {comparison} {Format(limit)}"));
    }

    private static string Format(double? value) => value is { } v ? v.ToString("0.####", CultureInfo.InvariantCulture) : "n/a";
}

/// <summary>One gate's verdict: its name (as in the JSON), whether it passed, the measured value and the limit.</summary>
public sealed record GateResult(string Name, bool Passed, double? Measured, double Limit, string Text);
