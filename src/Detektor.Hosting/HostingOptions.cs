using System.ComponentModel.DataAnnotations;

namespace Detektor.Hosting;

/// <summary>Options of the service defaults (section <c>Detektor:Hosting</c>).</summary>
public sealed class HostingOptions
{
    public const string SectionName = "Detektor:Hosting";

    /// <summary>Share of frame traces recorded (parent-based, so a trace is kept or dropped whole). 0–1, default 1.</summary>
    [Range(0.0, 1.0)]
    public double TraceSampleRatio { get; set; } = 1.0;

    /// <summary>Largest request body accepted, in bytes (endpoints may set their own). Default 1 MiB.</summary>
    [Range(1024, 1L << 30)]
    public long MaxRequestBodyBytes { get; set; } = 1 << 20;

    /// <summary>Write logs as JSON lines (default) or as plain text for a terminal.</summary>
    public bool JsonLogs { get; set; } = true;
}
