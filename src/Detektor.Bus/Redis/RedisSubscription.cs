using System.Collections.Concurrent;
using System.Globalization;
using Detektor.Bus.Abstractions;
using Detektor.Core.Messages;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Detektor.Bus.Redis;

/// <summary>
/// One consumer of a group on one or more streams (a frames subscription also reads the capability streams of its
/// process). Reads are batched blocking <c>XREADGROUP … BLOCK</c> on a connection of its own; between reads, deliveries
/// idle past the claim time are taken over with <c>XAUTOCLAIM</c> (counted, and dead-lettered after
/// <see cref="BusOptions.MaxDeliveries"/>). A read interrupted by cancellation is kept and its result served to the next
/// call, so nothing is read and forgotten. Disposing hands every unacknowledged delivery back at once.
/// </summary>
internal sealed partial class RedisSubscription<T> : IBusSubscription<T>
    where T : class
{
    private readonly RedisFrameBus _bus;
    private readonly string[] _streams;
    private readonly string[] _streamKeys;
    private readonly RedisMessageCodec<T> _codec;
    private readonly bool _frames;
    private readonly CancellationTokenSource _disposed = new();
    private readonly Queue<BusDelivery<T>> _buffered = new();
    private readonly ConcurrentDictionary<string, string> _held = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _claimCursors = new(StringComparer.Ordinal);
    private Task<List<BusDelivery<T>>>? _pendingRead;
    private IStreamReadConnection? _reader;
    private bool _groupsReady;
    private long _nextReclaim;
    private int _failures;

    public RedisSubscription(RedisFrameBus bus, string topic, string[] streams, string group, string consumer, RedisMessageCodec<T> codec, bool frames)
    {
        _bus = bus;
        Topic = topic;
        _streams = streams;
        Group = group;
        Consumer = consumer;
        _codec = codec;
        _frames = frames;
        _streamKeys = [.. streams.Select(s => (string)bus.Keys.Stream(s)!)];
    }

    public string Topic { get; }

    public string Group { get; }

    public string Consumer { get; }

    private RedisKeys Keys => _bus.Keys;

    public async ValueTask<int> ReadAsync(List<BusDelivery<T>> into, int maxCount, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        while (true)
        {
            if (_disposed.IsCancellationRequested)
            {
                return 0;
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (_buffered.Count > 0)
            {
                var n = 0;
                while (n < maxCount && _buffered.TryDequeue(out var buffered))
                {
                    into.Add(buffered);
                    n++;
                }

                return n;
            }

            var read = _pendingRead ??= ReadOnceAsync(maxCount);
            List<BusDelivery<T>> got;
            try
            {
                // Cancellation leaves the read going; its result is served by the next call (or handed back on dispose).
                got = await read.WaitAsync(cancellationToken);
            }
            catch (Exception) when (read.IsFaulted)
            {
                _pendingRead = null;
                throw;
            }

            _pendingRead = null;
            foreach (var delivery in got)
            {
                _buffered.Enqueue(delivery);
            }

            // A full batch of a durable topic means a backlog: ask for the next batch now, so that its round trip overlaps
            // the caller's work on this one. (Not for frames: they are perishable, and a prefetched frame would age in
            // this consumer's hands. A prefetched event waits at most one batch longer than it would have; dispose
            // hands it back with the rest.)
            if (!_frames && got.Count >= maxCount)
            {
                _pendingRead = ReadOnceAsync(maxCount);
            }
        }
    }

    public ValueTask AckAsync(BusDelivery<T> delivery, CancellationToken cancellationToken = default) =>
        AckAsync([delivery], cancellationToken);

    /// <summary>Acknowledges deliveries with one round trip per stream (and forgets their orphan records, for frames).</summary>
    public async ValueTask AckAsync(IReadOnlyList<BusDelivery<T>> deliveries, CancellationToken cancellationToken = default)
    {
        foreach (var perStream in deliveries.GroupBy(d => d.Source ?? _streams[0], StringComparer.Ordinal))
        {
            var ids = perStream.Select(d => (RedisValue)d.Id).ToArray();
            await RetryAsync("ack", async db =>
            {
                if (_frames)
                {
                    await db.ScriptEvaluateAsync(RedisScripts.AckFrames, [Keys.Stream(perStream.Key), Keys.Orphans(perStream.Key)], [Group, .. ids]);
                }
                else
                {
                    await db.StreamAcknowledgeAsync(Keys.Stream(perStream.Key), Group, ids);
                }
            }, cancellationToken);
            foreach (var delivery in perStream)
            {
                _held.TryRemove(delivery.Id, out _);
            }
        }
    }

    public async ValueTask NackAsync(BusDelivery<T> delivery, string reason, CancellationToken cancellationToken = default)
    {
        var stream = delivery.Source ?? _streams[0];
        if (delivery.DeliveryCount >= _bus.Options.MaxDeliveries)
        {
            await DeadLetterAsync(stream, delivery.Id, delivery.Message, reason, delivery.DeliveryCount, cancellationToken);
        }
        else
        {
            await RetryAsync("nack", db => db.ScriptEvaluateAsync(
                RedisScripts.Release, [Keys.Stream(stream)], [Group, Consumer, _bus.Options.ClaimIdleMs + 1, delivery.Id]), cancellationToken);
            Volatile.Write(ref _nextReclaim, 0); // take it again (or let another consumer) on the next read
        }

        _held.TryRemove(delivery.Id, out _);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        await _disposed.CancelAsync();
        if (_pendingRead is { } pending)
        {
            try
            {
                foreach (var delivery in await pending)
                {
                    _buffered.Enqueue(delivery);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException || RedisFrameBus.IsTransient(ex))
            {
            }
            catch (Exception ex)
            {
                // Whatever the last read ran into, what this consumer holds is still handed back below.
                _bus.ReportTransportError("read", ex);
            }
        }

        while (_buffered.TryDequeue(out var unread))
        {
            (unread.Message as FrameMessage)?.Release();
        }

        // Everything not acknowledged goes back to the group now, rather than after the claim idle time.
        foreach (var perStream in _held.GroupBy(kv => kv.Value, StringComparer.Ordinal))
        {
            try
            {
                var db = await _bus.Connection.GetDatabaseAsync();
                RedisValue[] args = [Group, Consumer, _bus.Options.ClaimIdleMs + 1, .. perStream.Select(kv => (RedisValue)kv.Key)];
                await db.ScriptEvaluateAsync(RedisScripts.Release, [Keys.Stream(perStream.Key)], args);
            }
            catch (Exception ex) when (RedisFrameBus.IsTransient(ex) || ex is RedisException)
            {
                _bus.ReportTransportError("release", ex);
            }
        }

        _held.Clear();
        if (_reader is not null)
        {
            await _reader.DisposeAsync();
        }

        _disposed.Dispose();
    }

    /// <summary>One read: reclaimed deliveries when any are due, else new ones (blocking up to the block time).</summary>
    private async Task<List<BusDelivery<T>>> ReadOnceAsync(int count)
    {
        var stopping = _disposed.Token;
        var result = new List<BusDelivery<T>>();
        try
        {
            if (!_groupsReady)
            {
                foreach (var stream in _streams)
                {
                    await _bus.EnsureStreamAsync(stream, _frames ? TopicDurability.Perishable : TopicDurability.Durable, Group);
                }

                _groupsReady = true;
            }

            var now = _bus.Time.GetTimestamp();
            if (now >= Volatile.Read(ref _nextReclaim))
            {
                Volatile.Write(ref _nextReclaim, now + (long)(_bus.ReclaimInterval.TotalSeconds * _bus.Time.TimestampFrequency));
                foreach (var stream in _streams)
                {
                    await ReclaimAsync(stream, count - result.Count, result);
                    if (result.Count >= count)
                    {
                        break;
                    }
                }

                if (result.Count > 0)
                {
                    _failures = 0;
                    return result;
                }
            }

            _reader ??= await _bus.Connection.ConnectReaderAsync("reader-" + Consumer);
            var block = (int)Math.Min(_bus.RedisOptions.BlockMs, _bus.ReclaimInterval.TotalMilliseconds);
            try
            {
                await _reader.ReadGroupAsync(Group, Consumer, count, block, _streamKeys, entry => AddAsync(entry.Key[Keys.Prefix.Length..], entry.Id, entry.Fields, 1, result));
            }
            catch (Exception ex) when (!RedisFrameBus.IsNoGroup(ex) || _reader.IsBroken)
            {
                // The connection is not used after a failure: the next read connects again.
                var broken = _reader;
                _reader = null;
                await broken.DisposeAsync();
                throw;
            }

            _failures = 0;
        }
        catch (Exception ex) when (RedisFrameBus.IsNoGroup(ex))
        {
            // Redis lost the group (restarted without persistence): create it again and read on.
            _groupsReady = false;
            _bus.ReportTransportError("read", ex);
        }
        catch (Exception ex) when ((RedisFrameBus.IsTransient(ex) || ex is RedisException) && !stopping.IsCancellationRequested)
        {
            // Also a Redis error that is not transient, raised while a batch was being taken (a dead-letter write refused
            // with OOM, say): the deliveries already decoded are returned and held as usual, the rest stay pending for a
            // later claim; throwing would strand them with their frame buffers.
            _bus.ReportTransportError("read", ex);
            try
            {
                await _bus.BackoffAsync(_failures++, stopping);
            }
            catch (OperationCanceledException)
            {
            }
        }
        catch (Exception ex) when (stopping.IsCancellationRequested && (RedisFrameBus.IsTransient(ex) || ex is OperationCanceledException))
        {
        }

        return result;
    }

    private async Task ReclaimAsync(string stream, int count, List<BusDelivery<T>> into)
    {
        var db = await _bus.Connection.GetDatabaseAsync();
        var cursor = _claimCursors.GetValueOrDefault(stream, "0-0");
        var reply = (RedisResult[])(await db.ScriptEvaluateAsync(
            RedisScripts.Reclaim,
            [Keys.Stream(stream), Keys.Orphans(stream), Keys.Trimmed],
            [Group, Consumer, _bus.Options.ClaimIdleMs, cursor, Math.Max(1, count)]))!;
        _claimCursors[stream] = (string)reply[0]!;
        var claimed = (RedisResult[])reply[1]!;
        var counts = (RedisResult[])reply[2]!;
        var deleted = (long)reply[4];
        if (deleted > (long)reply[3])
        {
            // Pending entries gone from the stream: for frames the trim journal accounts for them; anything else is a loss.
            Log.DeletedWhilePending(_bus.Logger, deleted - (long)reply[3], Keys.Stream(stream), Group);
        }

        if (claimed.Length > 0)
        {
            _bus.Telemetry.RecordReclaimed(stream, claimed.Length);
        }

        for (var i = 0; i < claimed.Length; i++)
        {
            var parts = (RedisResult[])claimed[i]!;
            var id = (string)parts[0]!;
            var deliveries = (int)(long)counts[i];
            if (deliveries > _bus.Options.MaxDeliveries)
            {
                T? message = null;
                try
                {
                    message = _codec.Decode(MultiplexerStreamReadConnection.ToFields(parts[1]));
                }
                catch (Exception ex) when (ex is InvalidDataException or System.Text.Json.JsonException or FormatException)
                {
                }

                var reason = string.Create(CultureInfo.InvariantCulture, $"delivered {deliveries - 1} times without acknowledgement");
                await DeadLetterAsync(stream, id, message, reason, deliveries - 1, CancellationToken.None);
                continue;
            }

            await AddAsync(stream, id, parts[1].IsNull ? null : MultiplexerStreamReadConnection.ToFields(parts[1]), deliveries, into);
        }
    }

    /// <summary>Decodes one entry (<paramref name="fields"/> null: deleted while pending) and holds it; the fields are not kept.</summary>
    private async Task AddAsync(string stream, string id, NameValueEntry[]? fields, int deliveries, List<BusDelivery<T>> into)
    {
        if (fields is null)
        {
            // Deleted while pending: nothing to deliver; the trim journal accounts for it.
            await RetryAsync("ack", db => db.StreamAcknowledgeAsync(Keys.Stream(stream), Group, id), CancellationToken.None);
            return;
        }

        T message;
        try
        {
            message = _codec.Decode(fields);
        }
        catch (Exception ex) when (ex is InvalidDataException or System.Text.Json.JsonException or FormatException or ArgumentException or Imaging.ImageDecodeException)
        {
            // A message no consumer can read will not get better with retries.
            Log.Malformed(_bus.Logger, id, Keys.Stream(stream), ex.Message);
            await DeadLetterAsync(stream, id, null, "malformed: " + ex.Message, deliveries, CancellationToken.None);
            return;
        }

        var enqueuedAt = message is FrameMessage frame ? frame.EnqueuedAt
            : DateTimeOffset.FromUnixTimeMilliseconds(long.TryParse(BusFields.GetString(fields, BusFields.EnqueuedAt), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) ? ms : 0);
        _held[id] = stream;
        into.Add(new BusDelivery<T>(id, message, enqueuedAt, deliveries) { Source = stream });
    }

    private async ValueTask DeadLetterAsync(string stream, string id, T? message, string reason, int attempts, CancellationToken cancellationToken)
    {
        var deadLetterId = default(RedisResult);
        await RetryAsync("dead-letter", async db => deadLetterId = await db.ScriptEvaluateAsync(
            RedisScripts.DeadLetter,
            [Keys.Stream(stream), Keys.DeadLetters(stream), Keys.Orphans(stream)],
            [Group, id, reason, attempts, _bus.Time.GetUtcNow().ToUnixTimeMilliseconds(), _frames ? _bus.Options.DeadLetterCapacity : 0]), cancellationToken);
        _held.TryRemove(id, out _);
        if (deadLetterId is null || deadLetterId.IsNull)
        {
            return; // someone else settled it meanwhile
        }

        _bus.Telemetry.RecordDeadLettered(stream);
        Log.DeadLettered(_bus.Logger, id, Keys.Stream(stream), attempts, reason);
        if (message is FrameMessage frame)
        {
            frame.Release();
            await _bus.RecordDropAsync(frame, stream, Core.Lifecycle.DropReasons.DeadLetter, CancellationToken.None);
        }
    }

    /// <summary>Runs a call until it succeeds, waiting out Redis outages (an acknowledgement must not be lost).</summary>
    private async Task RetryAsync(string operation, Func<IDatabase, Task> call, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await call(await _bus.Connection.GetDatabaseAsync());
                return;
            }
            catch (Exception ex) when (RedisFrameBus.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                _bus.ReportTransportError(operation, ex);
                await _bus.BackoffAsync(attempt, cancellationToken);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4111, Level = LogLevel.Warning, Message = "Redis bus: entry {Id} of {Stream} cannot be read ({Error}); dead-lettered")]
        public static partial void Malformed(ILogger logger, string id, string stream, string error);

        [LoggerMessage(EventId = 4113, Level = LogLevel.Error, Message = "Redis bus: {Count} pending entries of {Stream} (group {Group}) were deleted before they were acknowledged")]
        public static partial void DeletedWhilePending(ILogger logger, long count, string stream, string group);

        [LoggerMessage(EventId = 4112, Level = LogLevel.Warning, Message = "Redis bus: entry {Id} of {Stream} dead-lettered after {Attempts} deliveries: {Reason}")]
        public static partial void DeadLettered(ILogger logger, string id, string stream, int attempts, string reason);
    }
}
