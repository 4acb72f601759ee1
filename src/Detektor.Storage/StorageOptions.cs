using System.ComponentModel.DataAnnotations;
using Detektor.Storage.Postgres;
using Microsoft.Extensions.Options;

namespace Detektor.Storage;

/// <summary>Options of the event store (section <c>Detektor:Storage</c>); see docs/storage.md.</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Detektor:Storage";
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    /// <summary>Which store: <c>sqlite</c> (embedded, the default) or <c>postgres</c> (also <c>detektor run --postgres</c>).</summary>
    [AllowedValues(Sqlite, Postgres)]
    public string Provider { get; set; } = Sqlite;

    /// <summary>
    /// PostgreSQL connection string (keyword or <c>postgresql://</c> URI form); required with <c>Provider=postgres</c>.
    /// A secret: it is never logged or shown; prefer the environment variable <c>Detektor__Storage__PostgresConnectionString</c>.
    /// </summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary><c>auto</c> (default: TimescaleDB when the server has it), <c>off</c>, or <c>required</c>.</summary>
    [AllowedValues(TimescaleModes.Auto, TimescaleModes.Off, TimescaleModes.Required)]
    public string TimescaleDb { get; set; } = TimescaleModes.Auto;

    /// <summary>TimescaleDB only: chunks older than this many days are compressed. Default 2.</summary>
    [Range(1, 3650)]
    public int CompressAfterDays { get; set; } = 2;

    /// <summary>Path of the SQLite database. Default: <c>{data-dir}/detektor.db</c>.</summary>
    public string? SqlitePath { get; set; }

    /// <summary>
    /// SQLite only: page cache of the writer connection, in MiB. It keeps the upper levels of the event indexes in memory as
    /// the file grows (insert speed at millions of events); it fills up to this bound as the database grows, and counts in
    /// the process's RSS. Default 32 (measured against 128 at 2 M events: no slower to load; docs/performance.md, "Soak").
    /// </summary>
    [Range(1, 65_536)]
    public int SqliteCacheMegabytes { get; set; } = global::Detektor.Storage.Sqlite.SqliteStoreSettings.DefaultCacheMegabytes;

    /// <summary>
    /// SQLite only: how much of the database file each connection maps for reads, in MiB; 0 reads through the page cache
    /// instead. Mapped pages are shared with the OS page cache and can be dropped by the kernel, but they count in the
    /// process's RSS (file-backed) as the database grows. Default 0 (journey lookups p99 0.2 → 0.76 ms at 2 M events, against
    /// 1024: up to 1 GiB of RSS that grows with the database).
    /// </summary>
    [Range(0, 1_048_576)]
    public int SqliteMmapMegabytes { get; set; }

    /// <summary>
    /// Most events written in one transaction. Default 5000: PostgreSQL ingest reaches 0.90 of a raw binary COPY with it,
    /// 0.65–0.68 with 1000 (docs/performance.md). It only matters with a backlog: otherwise the flush interval ends a batch.
    /// </summary>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 5000;

    /// <summary>How long the writer waits to fill a batch once it has one event, in milliseconds. Default 20.</summary>
    [Range(0, 10_000)]
    public int FlushIntervalMs { get; set; } = 20;

    /// <summary>Delay before retrying a failed write, in milliseconds (the batch is kept, never dropped). Default 1000.</summary>
    [Range(10, 60_000)]
    public int RetryDelayMs { get; set; } = 1000;

    /// <summary>Events held in memory (unacknowledged) while the database does not take them, before they are journaled. Default 20000.</summary>
    [Range(100, 10_000_000)]
    public int MemoryBufferEvents { get; set; } = 20_000;

    /// <summary>Directory of the on-disk journal. Default: <c>{data-dir}/journal</c>.</summary>
    public string? JournalPath { get; set; }

    /// <summary>Bound of the journal, in MiB; when full, the writer waits. Default 1024.</summary>
    [Range(1, 1_048_576)]
    public int JournalMaxMegabytes { get; set; } = 1024;
}

/// <summary>Retention (section <c>Detektor:Storage:Retention</c>): how long each kind of data is kept, and how often pruning runs.</summary>
public sealed class RetentionOptions
{
    public const string SectionName = "Detektor:Storage:Retention";

    /// <summary>Days of raw frame events and tracked-object events. Default 30.</summary>
    [Range(2, 3650)]
    public int EventsDays { get; set; } = 30;

    /// <summary>Days of detections. Default 90.</summary>
    [Range(1, 3650)]
    public int DetectionsDays { get; set; } = 90;

    /// <summary>Days of snapshot files under <see cref="SnapshotsPath"/>. Default 14.</summary>
    [Range(1, 3650)]
    public int SnapshotsDays { get; set; } = 14;

    /// <summary>Days of the per-minute stats. Default 400; at least <see cref="EventsDays"/>.</summary>
    [Range(2, 36_500)]
    public int StatsDays { get; set; } = 400;

    /// <summary>Minutes between pruning runs (the first runs a minute after start). Default 60.</summary>
    [Range(1, 1440)]
    public int IntervalMinutes { get; set; } = 60;

    /// <summary>Where snapshots are kept. Default: <c>{data-dir}/snapshots</c>.</summary>
    public string? SnapshotsPath { get; set; }

    /// <summary>Turns pruning off (data is then kept forever). Default true.</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>Checks what DataAnnotations cannot: a PostgreSQL store needs a readable connection string (never echoed).</summary>
internal sealed class StorageOptionsValidator : IValidateOptions<StorageOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageOptions options)
    {
        if (!string.Equals(options.Provider, StorageOptions.Postgres, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Success;
        }

        try
        {
            PostgresConnectionString.Parse(options.PostgresConnectionString);
            return ValidateOptionsResult.Success;
        }
        catch (FormatException ex)
        {
            return ValidateOptionsResult.Fail($"{StorageOptions.SectionName}:PostgresConnectionString: {ex.Message}");
        }
    }
}

internal sealed class RetentionOptionsValidator : IValidateOptions<RetentionOptions>
{
    public ValidateOptionsResult Validate(string? name, RetentionOptions options) =>
        options.StatsDays < options.EventsDays
            ? ValidateOptionsResult.Fail(
                $"{RetentionOptions.SectionName}:StatsDays: {options.StatsDays} is less than EventsDays ({options.EventsDays}); stats must be kept at least as long as the events they summarize.")
            : ValidateOptionsResult.Success;
}
