using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Detektor.LoadTest;

/// <summary>
/// The result of a load test. Its JSON form (<c>--json</c>) has stable snake_case names, documented in
/// docs/performance.md ("Load test"); <see cref="Schema"/> changes when a field's meaning does.
/// </summary>
public sealed record LoadTestReport
{
    public const string SchemaVersion = "detektor.loadtest/1";

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public string Schema { get; init; } = SchemaVersion;

    public required RunDescription Run { get; init; }

    public required FrameCounts Frames { get; init; }

    public required TraceReport Traces { get; init; }

    public required LatencyReport Latency { get; init; }

    public required IReadOnlyList<ProcessReport> Processes { get; init; }

    public IReadOnlyList<GateResult> Gates { get; init; } = [];

    /// <summary>True when every gate passed.</summary>
    public bool Passed => Gates.All(g => g.Passed);

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>The human table.</summary>
    public string ToTable()
    {
        var sb = new StringBuilder();
        var run = Run;
        Line(sb, $"detektor loadtest: {Name(run.Mode)}, {run.Cameras} cameras × {run.Fps:0.##} fps ({Name(run.Source)}, {run.Width}x{run.Height}), detection {(run.Detect ? $"on at {run.DetectFps:0.##} fps per camera" : "off")}, trace sample {run.TraceSampleRatio:0.##}");
        Line(sb, $"measured {run.DurationSeconds:0.#} s after {run.WarmupSeconds:0.#} s warm-up; drained in {run.DrainSeconds:0.#} s; stored {run.StoredFps:0.#} frames/s while measuring (offered {run.Cameras * run.Fps:0.#})");
        sb.AppendLine();
        var f = Frames;
        Line(sb, $"{"Frames",-34}{"count",12}{"share",10}");
        Row(sb, "captured", f.Captured, f.Captured);
        Row(sb, "processed", f.Processed, f.Captured);
        Row(sb, "failed (then stored)", f.Failed, f.Captured);
        Row(sb, "skipped", f.Skipped, f.Captured);
        foreach (var (reason, n) in f.SkippedByReason)
        {
            Row(sb, "  " + reason, n, f.Captured);
        }

        Row(sb, "dropped", f.Dropped, f.Captured);
        foreach (var (reason, n) in f.DroppedByReason)
        {
            Row(sb, "  " + reason, n, f.Captured);
        }

        Row(sb, "LOST", f.Lost, f.Captured);
        Row(sb, "lifecycle complete", f.LifecycleComplete, f.Captured);
        foreach (var example in f.LostExamples)
        {
            Line(sb, $"  lost: {example}");
        }

        sb.AppendLine();
        var t = Traces;
        Line(sb, $"Traces: {t.SampledFrames} sampled frames, {t.CompleteFrames} complete ({t.Completeness:P2}), {t.Spans} spans, {t.OrphanSpans} orphan");
        foreach (var problem in t.Problems)
        {
            Line(sb, $"  {problem}");
        }

        sb.AppendLine();
        Line(sb, $"{"Latency (ms)",-34}{"count",10}{"p50",10}{"p95",10}{"p99",10}{"max",10}");
        if (Latency.CaptureToStored is { } total)
        {
            Latencies(sb, "capture → stored", total);
        }

        foreach (var (stage, p) in Latency.Stages)
        {
            Latencies(sb, "  " + stage, p);
        }

        sb.AppendLine();
        Line(sb, $"{"Process",-22}{"pid",8}{"cpu s",9}{"cores",7}{"ffmpeg s",10}{"peak MiB",10}{"warm MiB",10}{"end MiB",9}{"growth",8}{"anon MiB",10}{"anon +",8}{"file MiB",10}{"restarts",9}{"alloc B/frame",14}");
        foreach (var p in Processes)
        {
            Line(sb, $"{p.Name,-22}{p.Pid,8}{p.CpuSeconds,9:0.0}{p.CpuCores,7:0.00}{p.ChildCpuSeconds,10:0.0}{p.PeakRssMb,10:0.0}{Mb(p.RssAfterWarmupMb),10}{p.RssEndMb,9:0.0}{Percent(p.RssGrowthPercent),8}{Mb(p.AnonymousEndMb),10}{Percent(p.AnonymousGrowthPercent),8}{Mb(p.FileBackedEndMb),10}{p.Restarts,9}{(p.AllocatedBytesPerFrame is { } a ? a.ToString("N0", CultureInfo.InvariantCulture) : "-"),14}");
        }

        sb.AppendLine();
        foreach (var gate in Gates)
        {
            Line(sb, $"gate {gate.Name,-28} {(gate.Passed ? "pass" : "FAIL")}  {gate.Text}");
        }

        sb.AppendLine(Passed ? "PASSED" : "FAILED");
        return sb.ToString();
    }

    /// <summary>An enum as in the options and the JSON (all-in-one, testsrc).</summary>
    public static string Name<T>(T value)
        where T : struct, Enum => JsonSerializer.Serialize(value, JsonOptions).Trim('"');

    private static string Mb(double? value) => value is { } v ? v.ToString("0.0", CultureInfo.InvariantCulture) : "-";

    private static string Percent(double? value) => value is { } v ? v.ToString("0.0", CultureInfo.InvariantCulture) + "%" : "-";

    private static void Row(StringBuilder sb, string name, long count, long of) =>
        Line(sb, $"{name,-34}{count,12}{(of == 0 ? 0 : (double)count / of),10:P2}");

    private static void Latencies(StringBuilder sb, string name, Percentiles p) =>
        Line(sb, $"{name,-34}{p.Count,10}{p.P50Ms,10:0.0}{p.P95Ms,10:0.0}{p.P99Ms,10:0.0}{p.MaxMs,10:0.0}");

    private static void Line(StringBuilder sb, FormattableString text) => sb.AppendLine(text.ToString(CultureInfo.InvariantCulture));
}

/// <summary>What ran: the options that shape the figures, and the measured window.</summary>
public sealed record RunDescription(
    LoadTestMode Mode,
    LoadTestSource Source,
    int Cameras,
    double Fps,
    int Width,
    int Height,
    bool Detect,
    double DetectFps,
    double TraceSampleRatio,
    double WarmupSeconds,
    double DurationSeconds,
    double DrainSeconds,
    double StoredFps,
    string Store,
    string Bus,
    DateTimeOffset StartedAt,
    string Machine);

/// <summary>
/// One child process: CPU seconds and cores used over its life, its ffmpeg children's CPU, memory, restarts, and the bytes
/// its GC heap allocated per captured frame while measuring (steady state; null when not measured). RSS is also split into
/// anonymous memory (heaps: where a leak shows) and file-backed memory (mapped libraries and files).
/// </summary>
public sealed record ProcessReport(
    string Name,
    string Roles,
    int Pid,
    double CpuSeconds,
    double CpuCores,
    double ChildCpuSeconds,
    double PeakRssMb,
    double? RssAfterWarmupMb,
    double RssEndMb,
    double? RssGrowthPercent,
    int Restarts,
    int? ExitCode,
    double? AllocatedBytesPerFrame = null,
    double? AnonymousAfterWarmupMb = null,
    double? AnonymousEndMb = null,
    double? FileBackedEndMb = null,
    double? AnonymousGrowthPercent = null);
