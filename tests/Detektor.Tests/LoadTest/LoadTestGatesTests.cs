using Detektor.Cli;
using Detektor.Core.Lifecycle;
using Detektor.LoadTest;

namespace Detektor.Tests.LoadTest;

public class LoadTestGatesTests
{
    [Fact]
    public void Evaluate_CleanRun_EveryDefaultGatePassesAndExitCodeIs0()
    {
        var sut = new LoadTestGates();

        var report = Report(lost: 0);
        report = report with { Gates = sut.Evaluate(report) };

        Assert.Equal(["max_lost", "min_lifecycle_completeness", "min_trace_completeness", "max_orphan_spans", "max_restarts"], report.Gates.Select(g => g.Name));
        Assert.True(report.Passed);
        Assert.Equal(0, LoadTestCommand.ExitCodeOf(report));
    }

    [Fact]
    public void Evaluate_OneFrameLost_MaxLostFailsAndExitCodeIs1()
    {
        var sut = new LoadTestGates();

        var report = Report(lost: 1);
        report = report with { Gates = sut.Evaluate(report) };

        var gate = Assert.Single(report.Gates, g => g.Name == "max_lost");
        Assert.False(gate.Passed);
        Assert.Equal(1, gate.Measured);
        Assert.Equal("1 ≤ 0", gate.Text);
        Assert.False(report.Passed);
        Assert.Equal(1, LoadTestCommand.ExitCodeOf(report));
    }

    [Fact]
    public void Evaluate_P95GateWithoutAnyStoredFrame_FailsAsNotMeasured()
    {
        var sut = new LoadTestGates { MaxP95Ms = 100 };

        var gate = Assert.Single(sut.Evaluate(Report(lost: 0)), g => g.Name == "max_p95_ms");

        Assert.False(gate.Passed);
        Assert.Null(gate.Measured);
    }

    [Fact]
    public void Evaluate_OptInGates_CheckRssGrowthDroppedShareAndP95()
    {
        var sut = new LoadTestGates { MaxRssGrowthPercent = 10, MaxDroppedShare = 0.01, MaxP95Ms = 50, MaxPeakRssMb = 300 };
        var report = Report(lost: 0) with
        {
            Latency = new LatencyReport(new Percentiles(10, 20, 60, 70, 80), new Dictionary<string, Percentiles>()),
        };

        var gates = sut.Evaluate(report).ToDictionary(g => g.Name);

        Assert.True(gates["max_rss_growth"].Passed);
        Assert.True(gates["max_dropped"].Passed);
        Assert.True(gates["max_rss_mb"].Passed);
        Assert.False(gates["max_p95_ms"].Passed);
        Assert.Equal(60, gates["max_p95_ms"].Measured);
    }

    [Fact]
    public void Analyze_SpanWhoseParentNeverArrived_CountsAnOrphanAndTheFrameIncomplete()
    {
        var frame = FrameAccountingTests.Frame(1);
        var events = new List<FrameEvent>(FrameAccountingTests.Stored(frame));
        var id = frame.ToString();
        var attributes = new Dictionary<string, string> { ["frame.id"] = id };
        ExportedSpan[] spans =
        [
            new("t1", "root", string.Empty, "frame", "detektor", attributes),
            new("t1", "queue", "root", "frame.queue", "detektor", attributes),
            new("t1", "sample", "root", "process sample", "detektor", attributes),
            new("t1", "store", "missing-parent", "store", "detektor", attributes),
        ];

        var complete = TraceAnalysis.Analyze(spans[..3], new Dictionary<string, List<FrameEvent>> { [id] = events });
        var orphaned = TraceAnalysis.Analyze(spans, new Dictionary<string, List<FrameEvent>> { [id] = events });

        Assert.Equal(1, complete.SampledFrames);
        Assert.Equal(0, complete.CompleteFrames); // no store span
        Assert.Contains("no span store", Assert.Single(complete.Problems), StringComparison.Ordinal);
        Assert.Equal(1, orphaned.OrphanSpans);
        Assert.Equal(1, orphaned.CompleteFrames);
        Assert.Equal(1.0, orphaned.Completeness);
    }

    private static LoadTestReport Report(long lost) => new()
    {
        Run = new RunDescription(LoadTestMode.AllInOne, LoadTestSource.TestSource, 2, 10, 640, 360, false, 1, 1, 5, 20, 1, 20, "sqlite", "in-process", DateTimeOffset.UnixEpoch, "test"),
        Frames = new FrameCounts(400, 400 - lost, 0, 0, new Dictionary<string, long>(), 0, new Dictionary<string, long>(), lost, [], 400 - lost, (400.0 - lost) / 400),
        Traces = new TraceReport(1600, 400, 400, 1, 0, []),
        Latency = new LatencyReport(null, new Dictionary<string, Percentiles>()),
        Processes = [new ProcessReport("detektor", "all", 1, 5, 0.2, 1, 150, 140, 145, 3.5, 0, 0)],
    };
}
