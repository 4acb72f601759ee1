using System.ComponentModel.DataAnnotations;

namespace Detektor.Storage;

/// <summary>Options of the event store (section <c>Detektor:Storage</c>).</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Detektor:Storage";

    /// <summary>Path of the SQLite database. Default: <c>{data-dir}/detektor.db</c>.</summary>
    public string? SqlitePath { get; set; }

    /// <summary>Most events written in one transaction. Default 1000.</summary>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 1000;

    /// <summary>How long the writer waits to fill a batch once it has one event, in milliseconds. Default 20.</summary>
    [Range(0, 10_000)]
    public int FlushIntervalMs { get; set; } = 20;

    /// <summary>Delay before retrying a failed write, in milliseconds (the batch is kept, never dropped). Default 1000.</summary>
    [Range(10, 60_000)]
    public int RetryDelayMs { get; set; } = 1000;
}
