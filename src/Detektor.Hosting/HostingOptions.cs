using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.Extensions.Options;

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

    /// <summary>The <c>cpu</c> check is degraded when CPU use over <see cref="CpuWindow"/> is above this share of the available cores. Default 0.90.</summary>
    [Range(0.0, 1.0)]
    public double CpuDegradedRatio { get; set; } = 0.90;

    /// <summary>
    /// The <c>cpu</c> check is unhealthy above this share (not below <see cref="CpuDegradedRatio"/>). Default 1: never — a
    /// busy CPU makes frames late, it does not stop the process, and on a small box it is often full.
    /// </summary>
    [Range(0.0, 1.0)]
    public double CpuUnhealthyRatio { get; set; } = 1.0;

    /// <summary>How often the CPU counters are read. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan CpuSampleInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The sliding window the <c>cpu</c> check averages over (not shorter than <see cref="CpuSampleInterval"/>). Default 1 min.
    /// The check judges once its samples cover half of it (the start-up's JIT burst alone says little).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan CpuWindow { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>The rules between <see cref="HostingOptions"/> keys that attributes cannot say, one line per problem.</summary>
public sealed class HostingOptionsValidator : IValidateOptions<HostingOptions>
{
    public ValidateOptionsResult Validate(string? name, HostingOptions options)
    {
        var failures = new List<string>();
        if (options.CpuUnhealthyRatio < options.CpuDegradedRatio)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{HostingOptions.SectionName}:CpuUnhealthyRatio: {options.CpuUnhealthyRatio} is below CpuDegradedRatio ({options.CpuDegradedRatio}); it must be at least that."));
        }

        if (options.DiskUnhealthyFreeRatio > options.DiskDegradedFreeRatio)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{HostingOptions.SectionName}:DiskUnhealthyFreeRatio: {options.DiskUnhealthyFreeRatio} is above DiskDegradedFreeRatio ({options.DiskDegradedFreeRatio}); it must be at most that."));
        }

        if (options.CpuWindow < options.CpuSampleInterval)
        {
            failures.Add($"{HostingOptions.SectionName}:CpuWindow: {options.CpuWindow} is shorter than CpuSampleInterval ({options.CpuSampleInterval}); it must be at least that.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
