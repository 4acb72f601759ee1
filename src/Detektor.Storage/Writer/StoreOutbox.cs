using System.Text;
using System.Text.Json;
using Detektor.Core.Journal;
using Detektor.Core.Resilience;
using Detektor.Core.Security;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Telemetry;
using Microsoft.Extensions.Logging;
using Polly.CircuitBreaker;

namespace Detektor.Storage.Writer;

/// <summary>
/// Stands between the writer and the event store and makes every accepted batch durable, whatever the database does:
/// <list type="number">
/// <item>Batches are written in order by one pump. A batch is acknowledged (<c>onDurable</c>) only once it is committed
/// or journaled — never while it only sits in memory.</item>
/// <item>When a write fails for a reason of the moment (the database is down, busy, restarting), the pump retries the
/// same batch every <see cref="StoreOutboxOptions.RetryDelay"/>; meanwhile new batches wait in memory, unacknowledged,
/// up to <see cref="StoreOutboxOptions.MemoryBufferEvents"/>. Past that bound everything in memory is appended to the
/// <see cref="EventJournal"/> (fsynced) and acknowledged. When the journal is full too, producers wait (backpressure).</item>
/// <item>The journal is older than memory, so the pump replays it first, segment by segment, then carries on with memory:
/// the store sees the batches in the order they came. Replays are marked, so stores take their idempotent path.</item>
/// <item>A batch the store rejects for its data (<see cref="IEventStore.IsPermanentFailure"/>) is split until the bad
/// events are found; those are appended to <c>rejected.jsonl</c> in the journal directory and counted, the rest is written.</item>
/// <item>At shutdown, memory is written out while the database answers; what is left (database down, journal not yet
/// replayed, or out of time) goes to the journal and is replayed at the next start.</item>
/// <item>With a circuit breaker (<c>store</c>), writes go through it: once too many fail it opens, the database is not
/// asked again until its break is over (one probe write then), and while it is open every batch in memory or newly
/// submitted goes to the journal at once and is acknowledged, so the bus does not back up behind a dead database.</item>
/// </list>
/// </summary>
public sealed class StoreOutbox : IAsyncDisposable
{
    private readonly IEventStore _store;
    private readonly EventJournal _journal;
    private readonly StoreOutboxOptions _options;
    private readonly StorageTelemetry _telemetry;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly LinkedList<Pending> _memory = new();
    private readonly SemaphoreSlim _work = new(0);
    private readonly SemaphoreSlim _progress = new(0);
    private readonly SemaphoreSlim _spill = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _hardStop = new();
    private long _memoryEvents;
    private long _rejectedEvents;
    private long _outageStartedTimestamp;
    private long _outageSinceUtcTicks; // 0: no outage
    private volatile string? _lastError;
    private volatile bool _lastWriteFailed;
    private readonly CircuitBreaker? _breaker;
    private Task? _pump;

    public StoreOutbox(
        IEventStore store, EventJournal journal, StoreOutboxOptions options, StorageTelemetry telemetry, TimeProvider time, ILogger logger,
        CircuitBreakers? breakers = null)
    {
        _breaker = breakers?.Get(BreakerName, ex => ex is not OperationCanceledException && !store.IsPermanentFailure(ex));
        _store = store;
        _journal = journal;
        _options = options;
        _telemetry = telemetry;
        _time = time;
        _logger = logger;
        telemetry.ObserveBacklog(() => Interlocked.Read(ref _memoryEvents), () => _journal.Events, () => _journal.Bytes, () => OutageSince is not null);
        if (journal.DiscardedAtOpen > 0)
        {
            Log.JournalTornTail(logger, journal.DiscardedAtOpen, journal.DirectoryPath);
        }

        if (!journal.IsEmpty)
        {
            Log.JournalPending(logger, journal.Events, journal.DirectoryPath);
        }
    }

    private DateTimeOffset? OutageSince
    {
        get
        {
            var ticks = Interlocked.Read(ref _outageSinceUtcTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    /// <summary>Where the outbox stands, for the readiness check and metrics.</summary>
    public OutboxStatus Status
    {
        get
        {
            var since = OutageSince;
            return new OutboxStatus(
                since is not null, since, _lastError, Interlocked.Read(ref _memoryEvents), _journal.Events, _journal.Bytes,
                Interlocked.Read(ref _rejectedEvents));
        }
    }

    /// <summary>The name of the store's circuit breaker (<c>Detektor:Resilience:Breakers:store</c>).</summary>
    public const string BreakerName = "store";

    public void Start() => _pump ??= Task.Run(PumpAsync);

    /// <summary>
    /// Accepts a batch; <paramref name="onDurable"/> runs once it is committed or journaled. Returns when the batch is
    /// held (in memory within the bound, or journaled); waits while both memory and the journal are full.
    /// </summary>
    public async ValueTask SubmitAsync(StoreBatch batch, Func<ValueTask> onDurable, CancellationToken cancellationToken = default)
    {
        var pending = new Pending(batch, onDurable);
        lock (_gate)
        {
            _memory.AddLast(pending.Node);
            _memoryEvents += batch.Count;
        }

        Signal(_work);
        if (_breaker?.IsOpen == true)
        {
            await SpillAsync(cancellationToken); // the database is known to be away: journal at once (a full journal: the loop below waits)
        }

        while (Interlocked.Read(ref _memoryEvents) > _options.MemoryBufferEvents)
        {
            if (await SpillAsync(cancellationToken))
            {
                break;
            }

            // The journal is full: wait until the pump makes room (never drop).
            await _progress.WaitAsync(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    /// <summary>
    /// Stops accepting work and finishes: memory is written while the store answers, else journaled. When
    /// <paramref name="cancellationToken"/> fires (the host's shutdown timeout), whatever is still in memory is journaled at once.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        Signal(_work);
        if (_pump is null)
        {
            await SpillAsync(CancellationToken.None);
            return;
        }

        using var registration = cancellationToken.Register(() => _hardStop.Cancel());
        await _pump;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await StopAsync(CancellationToken.None);
        }

        _stopping.Dispose();
        _hardStop.Dispose();
        _work.Dispose();
        _progress.Dispose();
        _spill.Dispose();
    }

    private async Task PumpAsync()
    {
        while (true)
        {
            try
            {
                if (!await PumpOnceAsync())
                {
                    return;
                }
            }
            catch (Exception ex)
            {
                // Nothing may stop the pump for good: what it held stays in memory or in the journal, and is tried again.
                Log.PumpFailed(_logger, _options.RetryDelay.TotalSeconds, ex);
                try
                {
                    await Task.Delay(_options.RetryDelay, _time, _hardStop.Token);
                }
                catch (OperationCanceledException)
                {
                    await SpillAsync(CancellationToken.None);
                    return;
                }
            }
        }
    }

    /// <summary>One step of the pump; false when it is done (stopped).</summary>
    private async Task<bool> PumpOnceAsync()
    {
        var stopping = _stopping.IsCancellationRequested;
        if (stopping && (_hardStop.IsCancellationRequested || _lastWriteFailed || !_journal.IsEmpty))
        {
            await SpillAsync(CancellationToken.None);
            return false;
        }

        if (!stopping && !_journal.IsEmpty && _journal.TakeOldest() is { } segment)
        {
            await ReplayAsync(segment);
            return true;
        }

        Pending? head;
        lock (_gate)
        {
            head = _memory.First?.Value;
        }

        if (head is null)
        {
            if (stopping)
            {
                return false;
            }

            try
            {
                await _work.WaitAsync(_stopping.Token);
            }
            catch (OperationCanceledException)
            {
            }

            return true;
        }

        if (!await WriteDurablyAsync(head.Batch, head))
        {
            return true; // journaled by a spill meanwhile, or stopping with the store away: the next step spills it
        }

        await SettleAsync(head);
        lock (_gate)
        {
            if (head.Node.List is not null)
            {
                _memory.Remove(head.Node);
                _memoryEvents -= head.Batch.Count;
            }
        }

        Signal(_progress);
        return true;
    }

    /// <summary>Replays one journal segment, coalescing its records into store-sized batches.</summary>
    private async Task ReplayAsync(SegmentJournal.Segment segment)
    {
        Log.JournalReplaying(_logger, segment.Items, segment.Path);
        var parts = new List<StoreBatch>();
        var count = 0;
        IEnumerable<StoreBatch> records;
        try
        {
            records = [.. EventJournal.Read(segment)];
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException or FormatException or ArgumentException)
        {
            // A record that passed its checksum but cannot be read: keep the file aside for a person, go on with the rest.
            var aside = _journal.Quarantine(segment);
            Log.JournalCorrupt(_logger, aside, ex);
            return;
        }

        foreach (var batch in records)
        {
            parts.Add(batch);
            count += batch.Count;
            if (count >= _options.ReplayBatchEvents && !await FlushReplayAsync(segment, parts))
            {
                return;
            }

            if (parts.Count == 0)
            {
                count = 0;
            }
        }

        if (parts.Count > 0 && !await FlushReplayAsync(segment, parts))
        {
            return;
        }

        _journal.Complete(segment);
        Signal(_progress);
    }

    private async Task<bool> FlushReplayAsync(SegmentJournal.Segment segment, List<StoreBatch> parts)
    {
        var combined = parts.Count == 1 ? parts[0] : Combine(parts);
        if (!await WriteDurablyAsync(combined, owner: null))
        {
            return false; // stopping: the segment stays and is replayed at the next start
        }

        foreach (var part in parts)
        {
            _journal.MarkReplayed(segment, part);
            _telemetry.RecordReplayed(part.Count);
        }

        parts.Clear();
        return true;
    }

    /// <summary>
    /// Writes until committed (true), or until the batch was journaled by a spill or the outbox is stopping (false).
    /// </summary>
    private async Task<bool> WriteDurablyAsync(StoreBatch batch, Pending? owner)
    {
        var attempt = 0;
        while (true)
        {
            if (owner?.IsSettled == true)
            {
                return false;
            }

            var started = _time.GetTimestamp();
            try
            {
                var toWrite = attempt > 0 ? batch with { Replay = true } : batch;
                var written = _breaker is null
                    ? await _store.WriteAsync(toWrite, _hardStop.Token)
                    : await _breaker.ExecuteAsync(static (s, ct) => new ValueTask<int>(s.Store.WriteAsync(s.Batch, ct)), (Store: _store, Batch: toWrite), _hardStop.Token);
                _telemetry.RecordBatch(written, _time.GetElapsedTime(started), _store.Provider);
                MarkHealthy();
                return true;
            }
            catch (BrokenCircuitException) when (!_hardStop.IsCancellationRequested)
            {
                // Open: the database was not asked. What waits in memory goes to the journal now; then wait and ask the
                // breaker again (after its break it lets one probe write through).
                attempt = Math.Max(attempt, 1);
                if (owner is not null && !_stopping.IsCancellationRequested)
                {
                    await SpillAsync(CancellationToken.None);
                }
            }
            catch (Exception ex) when (!_hardStop.IsCancellationRequested && _store.IsPermanentFailure(ex))
            {
                await IsolateAsync(batch, ex);
                MarkHealthy();
                return true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !_hardStop.IsCancellationRequested)
            {
                attempt++;
                _lastWriteFailed = true;
                _lastError = SecretMasker.MaskSecrets(ex.Message);
                _telemetry.RecordWriteFailure(_store.Provider);
                if (attempt == 1 || attempt % 30 == 0)
                {
                    Log.WriteFailed(_logger, batch.Count, attempt, _lastError, ex);
                }

                await CheckOutageAsync();
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            if (!await PauseBeforeRetryAsync())
            {
                return false;
            }
        }
    }

    /// <summary>Waits <see cref="StoreOutboxOptions.RetryDelay"/> before the next attempt; false when the outbox is stopping.</summary>
    private async Task<bool> PauseBeforeRetryAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return false;
        }

        try
        {
            await Task.Delay(_options.RetryDelay, _time, _stopping.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task CheckOutageAsync()
    {
        if (OutageSince is not null)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(_options.PingTimeout);
            await _store.PingAsync(timeout.Token);
        }
        catch (Exception ex)
        {
            _outageStartedTimestamp = _time.GetTimestamp();
            Interlocked.Exchange(ref _outageSinceUtcTicks, _time.GetUtcNow().UtcTicks);
            _telemetry.RecordOutage(_store.Provider);
            Log.OutageStarted(_logger, _store.Provider, SecretMasker.MaskSecrets(ex.Message));
        }
    }

    private void MarkHealthy()
    {
        _lastWriteFailed = false;
        if (Interlocked.Exchange(ref _outageSinceUtcTicks, 0) != 0)
        {
            var lasted = _time.GetElapsedTime(_outageStartedTimestamp);
            var backlog = Interlocked.Read(ref _memoryEvents) + _journal.Events;
            Log.OutageEnded(_logger, _store.Provider, lasted.TotalSeconds, backlog);
        }

        _lastError = null;
    }

    /// <summary>Moves everything in memory to the journal, in order, and acknowledges it. False when the journal is full.</summary>
    private async Task<bool> SpillAsync(CancellationToken cancellationToken)
    {
        await _spill.WaitAsync(cancellationToken);
        try
        {
            List<Pending> taken;
            lock (_gate)
            {
                taken = [.. _memory.Where(p => !p.IsSettled)];
            }

            if (taken.Count == 0)
            {
                return true;
            }

            if (!_journal.TryAppend([.. taken.Select(p => p.Batch)]))
            {
                Log.JournalFull(_logger, _journal.Bytes, _journal.DirectoryPath);
                return false;
            }

            long events = 0;
            lock (_gate)
            {
                foreach (var p in taken)
                {
                    if (p.Node.List is not null)
                    {
                        _memory.Remove(p.Node);
                        _memoryEvents -= p.Batch.Count;
                    }

                    events += p.Batch.Count;
                }
            }

            _telemetry.RecordJournaled(events);
            foreach (var p in taken)
            {
                await SettleAsync(p);
            }

            Signal(_work);
            return true;
        }
        finally
        {
            _spill.Release();
        }
    }

    /// <summary>Splits a batch the store refuses until the events it refuses are alone; those are set aside, the rest written.</summary>
    private async Task IsolateAsync(StoreBatch batch, Exception error)
    {
        if (batch.Count <= 1)
        {
            Reject(batch, error);
            return;
        }

        foreach (var half in Split(batch))
        {
            if (!await WriteDurablyAsync(half with { Replay = true }, owner: null))
            {
                // Stopping while the store is down: keep the rest durable in the journal.
                _journal.TryAppend([half]);
            }
        }
    }

    private void Reject(StoreBatch batch, Exception error)
    {
        Interlocked.Add(ref _rejectedEvents, batch.Count);
        _telemetry.RecordRejected(batch.Count);
        var reason = SecretMasker.MaskSecrets(error.Message);
        var eventId = batch.Events.Count > 0 ? batch.Events[0].EventId : batch.TrackEvents[0].EventId;
        Log.EventRejected(_logger, eventId, reason);
        var line = new StringBuilder();
        line.Append("{\"at\":").Append(JsonSerializer.Serialize(_time.GetUtcNow()))
            .Append(",\"error\":").Append(JsonSerializer.Serialize(reason))
            .Append(",\"record\":").Append(Encoding.UTF8.GetString(EventJournal.EncodePayload(batch)))
            .Append("}\n");
        using var file = new FileStream(Path.Combine(_journal.DirectoryPath, "rejected.jsonl"), FileMode.Append, FileAccess.Write, FileShare.Read);
        file.Write(Encoding.UTF8.GetBytes(line.ToString()));
        file.Flush(flushToDisk: true);
    }

    internal static IReadOnlyList<StoreBatch> Split(StoreBatch batch)
    {
        if (batch.Events.Count >= 2 || (batch.Events.Count == 1 && batch.TrackEvents.Count > 0))
        {
            var half = batch.Events.Count >= 2 ? batch.Events.Count / 2 : 1;
            var first = batch.Events.Take(half).ToList();
            var second = batch.Events.Skip(half).ToList();
            var firstIds = first.Select(e => e.EventId).ToHashSet();
            return
            [
                new StoreBatch(first, [.. batch.Detections.Where(d => firstIds.Contains(d.StoredEventId))]),
                new StoreBatch(second, [.. batch.Detections.Where(d => !firstIds.Contains(d.StoredEventId))], batch.TrackEvents),
            ];
        }

        var tracksHalf = batch.TrackEvents.Count / 2;
        return
        [
            new StoreBatch(batch.Events, batch.Detections, [.. batch.TrackEvents.Take(tracksHalf)]),
            new StoreBatch([], [], [.. batch.TrackEvents.Skip(tracksHalf)]),
        ];
    }

    /// <summary>
    /// One batch of several journaled ones. A frame's result can be in two of them (journaled again around an outage):
    /// the stores drop its second <c>stored</c> event by id, but its detections would be copied twice, with ordinals
    /// counted on (CI once stored 160 detections for 60 frames of 2). A stored event's detections are therefore taken from
    /// the first part that carries them.
    /// </summary>
    internal static StoreBatch Combine(IReadOnlyList<StoreBatch> parts)
    {
        var owner = new Dictionary<Guid, int>();
        var detections = new List<DetectionRecord>();
        for (var i = 0; i < parts.Count; i++)
        {
            foreach (var d in parts[i].Detections)
            {
                if (owner.TryAdd(d.StoredEventId, i) || owner[d.StoredEventId] == i)
                {
                    detections.Add(d);
                }
            }
        }

        return new StoreBatch([.. parts.SelectMany(p => p.Events)], detections, [.. parts.SelectMany(p => p.TrackEvents)]) { Replay = true };
    }

    private async Task SettleAsync(Pending pending)
    {
        if (!pending.TrySettle())
        {
            return;
        }

        try
        {
            await pending.OnDurable();
        }
        catch (Exception ex)
        {
            // The batch is durable; a failed acknowledgement means a redelivery, which the store ignores by event id.
            Log.AckFailed(_logger, ex);
        }
    }

    private static void Signal(SemaphoreSlim semaphore)
    {
        if (semaphore.CurrentCount == 0)
        {
            semaphore.Release();
        }
    }

    private sealed class Pending
    {
        private int _settled;

        public Pending(StoreBatch batch, Func<ValueTask> onDurable)
        {
            Batch = batch;
            OnDurable = onDurable;
            Node = new LinkedListNode<Pending>(this);
        }

        public StoreBatch Batch { get; }

        public Func<ValueTask> OnDurable { get; }

        public LinkedListNode<Pending> Node { get; }

        public bool IsSettled => Volatile.Read(ref _settled) == 1;

        public bool TrySettle() => Interlocked.Exchange(ref _settled, 1) == 0;
    }
}

/// <summary>Bounds and timings of the <see cref="StoreOutbox"/>.</summary>
public sealed record StoreOutboxOptions
{
    public long MemoryBufferEvents { get; init; } = 20_000;

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan PingTimeout { get; init; } = TimeSpan.FromSeconds(3);

    public int ReplayBatchEvents { get; init; } = 5_000;
}

/// <summary>The outbox as the readiness check reports it.</summary>
public sealed record OutboxStatus(
    bool Outage,
    DateTimeOffset? OutageSince,
    string? LastError,
    long MemoryEvents,
    long JournalEvents,
    long JournalBytes,
    long RejectedEvents)
{
    public long BacklogEvents => MemoryEvents + JournalEvents;
}
