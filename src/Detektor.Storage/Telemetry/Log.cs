using Microsoft.Extensions.Logging;

namespace Detektor.Storage.Telemetry;

/// <summary>The event store's log messages (EventIds 3000–3099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Writing a batch of {Count} events failed (attempt {Attempt}): {Error}; retrying the same batch")]
    public static partial void WriteFailed(ILogger logger, int count, int attempt, string error, Exception exception);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "The event store ({Provider}) is unreachable: {Error}. Events are held in memory, then journaled to disk, and replayed when it is back")]
    public static partial void OutageStarted(ILogger logger, string provider, string error);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "The event store ({Provider}) is reachable again after {Seconds:0.0} s; {Backlog} events to catch up")]
    public static partial void OutageEnded(ILogger logger, string provider, double seconds, long backlog);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "The journal is full ({Bytes} bytes in {Directory}); the writer waits (no event is dropped)")]
    public static partial void JournalFull(ILogger logger, long bytes, string directory);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "Replaying {Events} journaled events from {Path}")]
    public static partial void JournalReplaying(ILogger logger, long events, string path);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "The journal in {Directory} holds {Events} events from an earlier run; they will be replayed")]
    public static partial void JournalPending(ILogger logger, long events, string directory);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Cut {Records} incomplete record(s) off the journal in {Directory} (written during a crash, never acknowledged)")]
    public static partial void JournalTornTail(ILogger logger, int records, string directory);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Error, Message = "The event store refused event {EventId} for its data ({Error}); it is set aside in rejected.jsonl")]
    public static partial void EventRejected(ILogger logger, Guid eventId, string error);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "Acknowledging a durable batch failed; the bus will redeliver it and the store ignores the repeat")]
    public static partial void AckFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Error, Message = "The store writer hit an unexpected error; it carries on in {Seconds} s")]
    public static partial void PumpFailed(ILogger logger, double seconds, Exception exception);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Error, Message = "A journal segment cannot be read; it was moved to {Path} for inspection")]
    public static partial void JournalCorrupt(ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Applied event store migration {Version} ({Name}) with {Layout} partitioning")]
    public static partial void MigrationApplied(ILogger logger, int version, string name, string layout);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "{Note}")]
    public static partial void TimescaleUnavailable(ILogger logger, string note);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Information, Message = "Event store ready: {Provider} at {Location}, {Layout} partitioning, schema version {Version}{Note}")]
    public static partial void StoreReady(ILogger logger, string provider, string location, string layout, int version, string note);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "Retention: dropped {Partitions} partitions, deleted {Rows} rows and {Snapshots} snapshots in {Seconds:0.00} s")]
    public static partial void RetentionDone(ILogger logger, int partitions, long rows, long snapshots, double seconds);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Warning, Message = "Retention failed; it runs again in {Minutes} minutes")]
    public static partial void RetentionFailed(ILogger logger, int minutes, Exception exception);
}
