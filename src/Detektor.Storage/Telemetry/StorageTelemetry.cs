using System.Diagnostics;
using System.Diagnostics.Metrics;
using Detektor.Core.Telemetry;

namespace Detektor.Storage.Telemetry;

/// <summary>The event store's spans and metrics (meter <c>Detektor.Storage</c>); see docs/storage.md for the list.</summary>
public sealed class StorageTelemetry : IDisposable
{
    public static readonly ActivitySource ActivitySource = new(TelemetryNames.Storage);

    private readonly Meter _meter;
    private readonly Counter<long> _eventsWritten;
    private readonly Counter<long> _writeFailures;
    private readonly Histogram<double> _batchDuration;
    private readonly Histogram<double> _latency;
    private readonly Counter<long> _journaled;
    private readonly Counter<long> _replayed;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _outages;
    private readonly Counter<long> _retentionRuns;
    private readonly Counter<long> _retentionRows;
    private readonly Counter<long> _retentionPartitions;
    private readonly Counter<long> _retentionSnapshots;
    private readonly Histogram<double> _retentionDuration;
    private Func<long>? _memoryBacklog;
    private Func<long>? _journalBacklog;
    private Func<long>? _journalBytes;
    private Func<bool>? _outage;
    private int _sqliteObserved;

    public StorageTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(TelemetryNames.Storage);
        _eventsWritten = _meter.CreateCounter<long>("detektor.store.events.written", "{event}", "Lifecycle events written to the event store (new ones; replays of stored events are not counted).");
        _writeFailures = _meter.CreateCounter<long>("detektor.store.write.failures", "{batch}", "Batch writes that failed (and were retried).");
        _batchDuration = _meter.CreateHistogram(
            "detektor.store.batch.duration", "s", "Time to write one batch.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5] });
        _latency = _meter.CreateHistogram(
            "detektor.frame.latency", "s", "Capture to stored, per frame.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10] });
        _journaled = _meter.CreateCounter<long>("detektor.store.journal.appended", "{event}", "Events appended to the on-disk journal because the database could not take them in time.");
        _replayed = _meter.CreateCounter<long>("detektor.store.journal.replayed", "{event}", "Journaled events replayed into the database.");
        _rejected = _meter.CreateCounter<long>("detektor.store.events.rejected", "{event}", "Events the database refused for their data; set aside in rejected.jsonl.");
        _outages = _meter.CreateCounter<long>("detektor.store.outages", "{outage}", "Times the database became unreachable.");
        _meter.CreateObservableGauge("detektor.store.backlog", ObserveBacklog, "{event}", "Events accepted but not yet in the database, by location (memory, journal).");
        _meter.CreateObservableGauge("detektor.store.journal.size", () => _journalBytes?.Invoke() ?? 0, "By", "Bytes in the on-disk journal.");
        _meter.CreateObservableGauge("detektor.store.outage.active", () => _outage?.Invoke() == true ? 1 : 0, "{outage}", "1 while the database is unreachable.");
        _retentionRuns = _meter.CreateCounter<long>("detektor.store.retention.runs", "{run}", "Retention (pruning) runs, by outcome (ok, failed).");
        _retentionRows = _meter.CreateCounter<long>("detektor.store.retention.rows_deleted", "{row}", "Rows deleted by retention, by table.");
        _retentionPartitions = _meter.CreateCounter<long>("detektor.store.retention.partitions_dropped", "{partition}", "Daily partitions (or TimescaleDB chunks) dropped by retention, by table.");
        _retentionSnapshots = _meter.CreateCounter<long>("detektor.store.retention.snapshots_deleted", "{file}", "Snapshot files deleted by retention.");
        _retentionDuration = _meter.CreateHistogram(
            "detektor.store.retention.duration", "s", "Time one retention run took.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300] });
    }

    public void RecordBatch(int written, TimeSpan duration, string provider)
    {
        var tag = new KeyValuePair<string, object?>("db.system", provider);
        _eventsWritten.Add(written, tag);
        _batchDuration.Record(duration.TotalSeconds, tag);
    }

    public void RecordWriteFailure(string provider) => _writeFailures.Add(1, new KeyValuePair<string, object?>("db.system", provider));

    public void RecordLatency(string cameraId, TimeSpan latency) =>
        _latency.Record(latency.TotalSeconds, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, cameraId));

    public void RecordJournaled(long events) => _journaled.Add(events);

    public void RecordReplayed(long events) => _replayed.Add(events);

    public void RecordRejected(long events) => _rejected.Add(events);

    public void RecordOutage(string provider) => _outages.Add(1, new KeyValuePair<string, object?>("db.system", provider));

    public void RecordRetention(bool ok, TimeSpan duration, IReadOnlyDictionary<string, long> rows, IReadOnlyDictionary<string, int> partitions, long snapshots)
    {
        _retentionRuns.Add(1, new KeyValuePair<string, object?>("outcome", ok ? "ok" : "failed"));
        _retentionDuration.Record(duration.TotalSeconds);
        foreach (var (table, n) in rows)
        {
            _retentionRows.Add(n, new KeyValuePair<string, object?>("db.collection.name", table));
        }

        foreach (var (table, n) in partitions)
        {
            _retentionPartitions.Add(n, new KeyValuePair<string, object?>("db.collection.name", table));
        }

        _retentionSnapshots.Add(snapshots);
    }

    /// <summary>Connects the backlog gauges to the outbox (one per process).</summary>
    public void ObserveBacklog(Func<long> memory, Func<long> journal, Func<long> journalBytes, Func<bool> outage)
    {
        _memoryBacklog = memory;
        _journalBacklog = journal;
        _journalBytes = journalBytes;
        _outage = outage;
    }

    /// <summary>
    /// Reports SQLite's own heap (page caches, statements; <c>sqlite3_memory_used</c>, process-wide) as
    /// <c>detektor.store.sqlite.memory</c>. Called once the SQLite store is in use.
    /// </summary>
    public void ObserveSqliteMemory()
    {
        if (Interlocked.Exchange(ref _sqliteObserved, 1) == 0)
        {
            _meter.CreateObservableGauge(
                "detektor.store.sqlite.memory", static () => SQLitePCL.raw.sqlite3_memory_used(), "By",
                "Memory SQLite holds in its own heap (page caches of every connection, prepared statements).");
        }
    }

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<long>> ObserveBacklog()
    {
        if (_memoryBacklog is null || _journalBacklog is null)
        {
            yield break;
        }

        yield return new Measurement<long>(_memoryBacklog(), new KeyValuePair<string, object?>("location", "memory"));
        yield return new Measurement<long>(_journalBacklog(), new KeyValuePair<string, object?>("location", "journal"));
    }
}
