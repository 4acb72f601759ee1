using System.ComponentModel.DataAnnotations;

namespace Detektor.Hosting;

/// <summary>Options of the service defaults (section <c>Detektor:Hosting</c>).</summary>
public sealed class HostingOptions
{
    public const string SectionName = "Detektor:Hosting";

    /// <summary>Share of frame traces recorded (parent-based, so a trace is kept or dropped whole). 0–1, default 1.</summary>
    [Range(0.0, 1.0)]
    public double TraceSampleRatio { get; set; } = 1.0;

    /// <summary>
    /// Most series (tag combinations) one metric keeps; beyond it, measurements go to one series tagged
    /// <c>otel_metric_overflow="true"</c>. OpenTelemetry allocates this many points up front for every metric and exporter
    /// (about 70 bytes each): its default of 2000 cost 31 MiB of large-object heap in an all-in-one process. Default 512 —
    /// Detektor's largest metrics have about 6 series per camera.
    /// </summary>
    [Range(16, 1_000_000)]
    public int MetricCardinalityLimit { get; set; } = 512;

    /// <summary>Largest request body accepted, in bytes (endpoints may set their own). Default 1 MiB.</summary>
    [Range(1024, 1L << 30)]
    public long MaxRequestBodyBytes { get; set; } = 1 << 20;

    /// <summary>Write logs as JSON lines (default) or as plain text for a terminal.</summary>
    public bool JsonLogs { get; set; } = true;

    /// <summary>The <c>disk:data</c> check is degraded below this share of free space on the data directory's file system. Default 0.10.</summary>
    [Range(0.0, 1.0)]
    public double DiskDegradedFreeRatio { get; set; } = 0.10;

    /// <summary>The <c>disk:data</c> check is unhealthy below this share of free space. Default 0.02.</summary>
    [Range(0.0, 1.0)]
    public double DiskUnhealthyFreeRatio { get; set; } = 0.02;

    /// <summary>Memory the <c>memory</c> check measures the working set against; 0 (default) uses the GC's limit (the machine's or the container's).</summary>
    [Range(0L, long.MaxValue)]
    public long MemoryLimitBytes { get; set; }
}
