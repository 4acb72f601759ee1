using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Codecs;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Registry;
using Detektor.Bus.Routing;
using Detektor.Bus.Telemetry;
using Detektor.Core;
using Detektor.Core.Buffers;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Detektor.Bus.Redis;

/// <summary>
/// The distributed bus on Redis Streams: a stream per topic, consumer groups, batched blocking <c>XREADGROUP</c>, ack after
/// the work, <c>XAUTOCLAIM</c> of deliveries idle longer than <see cref="BusOptions.ClaimIdleMs"/>, dead letters after
/// <see cref="BusOptions.MaxDeliveries"/>, <c>MAXLEN ~</c> on frame streams only — with every trimmed frame accounted
/// (see <see cref="RedisScripts.PublishFrame"/> and docs/bus.md) — and durable streams trimmed only past what every
/// declared group has acknowledged. A monitor loop keeps the snapshot (depth, lag, pending, consumers) fresh, turns the
/// trim journal into <c>dropped</c> events, trims durable streams and removes dead consumers.
/// </summary>
public sealed partial class RedisFrameBus : IFrameBus, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, TopicInfo> _topics = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _ensured = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _startLock = new();
    private readonly FrameRouter _router;
    private readonly IProcessorRegistry? _registry;
    private readonly ILocalCapabilities? _localCapabilities;
    private readonly IReadOnlyDictionary<string, IPixelCodec> _codecs;
    private readonly ResultCodec _results = new();
    private readonly EventCodec _events = new();
    private readonly string _producer;
    private Task? _monitor;
    private volatile BusSnapshot _snapshot = BusSnapshot.Empty(BusOptions.RedisTransport) with { Available = false };
    private volatile HashSet<string>? _liveCapabilities;
    private long _lastTransportErrorLog;
    private int _disposed;

    public RedisFrameBus(
        RedisConnection connection,
        IOptions<BusOptions> options,
        IOptions<RedisBusOptions> redisOptions,
        BusTelemetry telemetry,
        ServiceIdentity service,
        TimeProvider time,
        FrameBufferPool pool,
        IEnumerable<IPixelCodec> codecs,
        ILogger<RedisFrameBus> logger,
        IProcessorRegistry? registry = null,
        ILocalCapabilities? localCapabilities = null)
    {
        Connection = connection;
        Options = options.Value;
        RedisOptions = redisOptions.Value;
        Keys = new RedisKeys(RedisOptions.KeyPrefix);
        Telemetry = telemetry;
        Service = service;
        Time = time;
        Logger = logger;
        _registry = registry;
        _localCapabilities = localCapabilities;
        _router = new FrameRouter(options);
        _producer = $"{service.Name}/{service.InstanceId}";
        var known = new Dictionary<string, IPixelCodec>(StringComparer.Ordinal) { [RawPixelCodec.Instance.Encoding] = RawPixelCodec.Instance };
        foreach (var codec in codecs)
        {
            known[codec.Encoding] = codec;
        }

        if (!known.ContainsKey(RedisBusOptions.JpegEncoding))
        {
            known[RedisBusOptions.JpegEncoding] = new JpegPixelCodec(RedisOptions.JpegQuality);
        }

        _codecs = known;
        var send = RedisOptions.PixelEncoding switch
        {
            RedisBusOptions.NoPixels => null,
            RedisBusOptions.JpegEncoding => new JpegPixelCodec(RedisOptions.JpegQuality),
            var name => known.TryGetValue(name, out var c) ? c : RawPixelCodec.Instance,
        };
        Frames = new FrameCodec(send, known, pool);
        foreach (var topic in new[] { Topics.Frames.Name, Topics.Results.Name, Topics.Lifecycle.Name })
        {
            Track(topic, topic == Topics.Frames.Name ? TopicDurability.Perishable : TopicDurability.Durable);
        }

        foreach (var capability in _router.RoutedCapabilities)
        {
            Track(Topics.FramesFor(capability).Name, TopicDurability.Perishable);
        }

        connection.Restored += _ensured.Clear;
        telemetry.ObserveQueues(ObserveDepth, ObserveCapacity);
        telemetry.ObserveGroups(() => BusTelemetry.GroupMeasurements(_snapshot));
    }

    public bool SurvivesRestart => true;

    internal RedisConnection Connection { get; }

    internal BusOptions Options { get; }

    internal RedisBusOptions RedisOptions { get; }

    internal RedisKeys Keys { get; }

    internal BusTelemetry Telemetry { get; }

    internal ServiceIdentity Service { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger { get; }

    internal FrameCodec Frames { get; }

    /// <summary>How long reclaim checks may be apart: a quarter of the claim time, between 20 ms and 5 s.</summary>
    internal TimeSpan ReclaimInterval => TimeSpan.FromMilliseconds(Math.Clamp(Options.ClaimIdleMs / 4, 20, 5000));

    public async ValueTask PublishAsync<T>(Topic<T> topic, T message, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
        EnsureStarted();
        if (message is FrameMessage frame)
        {
            await PublishFrameAsync(topic.Name == Topics.Frames.Name ? _router.Route(frame.Metadata.CameraId).Name : topic.Name, frame, cancellationToken);
            return;
        }

        Track(topic.Name, topic.Durability);
        await PublishDurableAsync(topic.Name, CodecFor<T>(), message, cancellationToken);
    }

    public IBusSubscription<T> Subscribe<T>(Topic<T> topic, string group, string consumer)
        where T : class
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(group);
        ArgumentException.ThrowIfNullOrWhiteSpace(consumer);
        EnsureStarted();
        var codec = CodecFor<T>();
        string[] streams = [topic.Name];
        if (topic.Name == Topics.Frames.Name && _localCapabilities is not null)
        {
            streams = [.. FrameRouter.TopicsFor(_localCapabilities.Capabilities).Select(t => t.Name)];
        }

        foreach (var name in streams)
        {
            Track(name, topic.Durability);
        }

        return new RedisSubscription<T>(this, topic.Name, streams, group, consumer, codec, topic.Durability == TopicDurability.Perishable);
    }

    public BusSnapshot GetSnapshot()
    {
        EnsureStarted();
        return _snapshot;
    }

    public async ValueTask<BusSnapshot> GetSnapshotAsync(CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        try
        {
            return _snapshot = await ReadSnapshotAsync(cancellationToken);
        }
        catch (Exception ex) when (IsTransient(ex))
        {
            ReportTransportError("snapshot", ex);
            return _snapshot with { Available = false };
        }
    }

    public async ValueTask<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var db = await Connection.GetDatabaseAsync();
        var all = new List<DeadLetter>();
        foreach (var topic in _topics.Keys.Order(StringComparer.Ordinal))
        {
            var entries = await db.StreamRangeAsync(Keys.DeadLetters(topic), "-", "+", limit, Order.Descending).WaitAsync(cancellationToken);
            foreach (var entry in entries)
            {
                all.Add(ToDeadLetter(topic, entry));
            }
        }

        all.Sort(static (a, b) => b.DeadLetteredAt.CompareTo(a.DeadLetteredAt) is var c && c != 0 ? c : string.CompareOrdinal(b.Id, a.Id));
        return all.Count > limit ? all.GetRange(0, limit) : all;
    }

    public async ValueTask<bool> ReplayDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        var colon = id.LastIndexOf(':');
        if (colon <= 0 || !_topics.TryGetValue(id[..colon], out var info))
        {
            return false;
        }

        var topic = id[..colon];
        var entryId = id[(colon + 1)..];
        if (!IsEntryId(entryId))
        {
            return false;
        }

        var db = await Connection.GetDatabaseAsync();
        var entries = await db.StreamRangeAsync(Keys.DeadLetters(topic), entryId, entryId, 1).WaitAsync(cancellationToken);
        if (entries.Length == 0)
        {
            return false;
        }

        // Publish the original fields again (minus the dead-letter bookkeeping), then remove the dead letter.
        var fields = entries[0].Values.Where(static f => !((string?)f.Name ?? string.Empty).StartsWith("dl_", StringComparison.Ordinal)).ToArray();
        await EnsureStreamAsync(topic, info.Durability);
        if (info.Durability == TopicDurability.Perishable)
        {
            await EvaluateFramePublishAsync(db, topic, fields);
        }
        else
        {
            await db.StreamAddAsync(Keys.Stream(topic), fields).WaitAsync(cancellationToken);
        }

        await db.StreamDeleteAsync(Keys.DeadLetters(topic), [entryId]);
        Telemetry.RecordReplayed(topic);
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        if (_monitor is not null)
        {
            try
            {
                await _monitor;
            }
            catch (OperationCanceledException)
            {
            }
        }

        _stopping.Dispose();
    }

    /// <summary>True for the failures of a call that a retry after Redis comes back can fix.</summary>
    internal static bool IsTransient(Exception ex) =>
        ex is RedisConnectionException or RedisTimeoutException or TimeoutException or ObjectDisposedException
        || (ex is RedisServerException server && (server.Message.StartsWith("LOADING", StringComparison.Ordinal) ||
                                                  server.Message.StartsWith("BUSY", StringComparison.Ordinal) ||
                                                  server.Message.StartsWith("READONLY", StringComparison.Ordinal) ||
                                                  server.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal)));

    /// <summary>True for a stream entry id "ms-seq".</summary>
    internal static bool IsEntryId(string text)
    {
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && dash < text.Length - 1 && text.Length <= 41 &&
               text.AsSpan(0, dash).ContainsAnyExceptInRange('0', '9') is false && text.AsSpan(dash + 1).ContainsAnyExceptInRange('0', '9') is false;
    }

    internal static bool IsNoGroup(Exception ex) => ex is RedisServerException s && s.Message.StartsWith("NOGROUP", StringComparison.Ordinal);

    /// <summary>Counts a transport failure and logs it at most every 5 s (an outage would otherwise flood the log).</summary>
    internal void ReportTransportError(string operation, Exception ex)
    {
        Telemetry.RecordTransportError(operation);
        var now = Time.GetTimestamp();
        var last = Interlocked.Read(ref _lastTransportErrorLog);
        if (last == 0 || Time.GetElapsedTime(last, now) >= TimeSpan.FromSeconds(5))
        {
            Interlocked.Exchange(ref _lastTransportErrorLog, now);
            Log.TransportError(Logger, operation, Connection.Endpoints, ex.Message);
        }
    }

    /// <summary>Waits before retrying a failed call: 50 ms doubling to 2 s.</summary>
    internal Task BackoffAsync(int attempt, CancellationToken cancellationToken) =>
        Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 50 * (1 << Math.Min(attempt, 6)))), Time, cancellationToken);

    /// <summary>
    /// Creates a stream with its declared consumer groups (and <paramref name="extraGroup"/>) once per process, from id 0
    /// so nothing published before is missed.
    /// </summary>
    internal async ValueTask EnsureStreamAsync(string topic, TopicDurability durability, string? extraGroup = null)
    {
        var marker = extraGroup is null ? topic : topic + "\n" + extraGroup;
        if (_ensured.ContainsKey(marker))
        {
            return;
        }

        Track(topic, durability);
        var db = await Connection.GetDatabaseAsync();
        var baseTopic = topic.StartsWith(Topics.Frames.Name + ".", StringComparison.Ordinal) ? Topics.Frames.Name : topic;
        var groups = new List<string>();
        if (RedisOptions.DeclaredGroups.TryGetValue(baseTopic, out var declared))
        {
            groups.Add(declared);
        }

        if (extraGroup is not null)
        {
            groups.Add(extraGroup);
        }

        foreach (var group in groups.Distinct(StringComparer.Ordinal))
        {
            await CreateGroupAsync(db, Keys.Stream(topic), group);
        }

        if (durability == TopicDurability.Perishable)
        {
            await CreateGroupAsync(db, Keys.Trimmed, RedisKeys.AccountingGroup);
        }

        _ensured[marker] = 0;
    }

    internal async ValueTask RecordDropAsync(FrameMessage frame, string topic, string reason, CancellationToken cancellationToken)
    {
        var dropped = DropAccounting.CreateDroppedEvent(frame, topic, reason, Service, Time.GetUtcNow());
        if (dropped is null)
        {
            return;
        }

        Telemetry.RecordFrameEvent(dropped);
        try
        {
            var db = await Connection.GetDatabaseAsync();
            await db.HashIncrementAsync(Keys.TopicDrops(topic), reason);
        }
        catch (Exception ex) when (IsTransient(ex))
        {
            ReportTransportError("drop-stats", ex);
        }

        await PublishDurableAsync(Topics.Lifecycle.Name, _events, dropped, cancellationToken);
    }

    internal RedisMessageCodec<T> CodecFor<T>()
        where T : class =>
        typeof(T) == typeof(FrameMessage) ? (RedisMessageCodec<T>)(object)Frames
        : typeof(T) == typeof(FrameResult) ? (RedisMessageCodec<T>)(object)_results
        : typeof(T) == typeof(FrameEvent) ? (RedisMessageCodec<T>)(object)_events
        : throw new NotSupportedException($"The Redis bus carries FrameMessage, FrameResult and FrameEvent, not {typeof(T).Name}.");

    private static async Task CreateGroupAsync(IDatabase db, string stream, string group)
    {
        try
        {
            await db.StreamCreateConsumerGroupAsync(stream, group, "0-0", createStream: true);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
        }
    }

    private void Track(string topic, TopicDurability durability) =>
        _topics.TryAdd(topic, new TopicInfo(durability, durability == TopicDurability.Perishable ? Options.FramesCapacity : Options.DurableCapacity));

    private async ValueTask PublishFrameAsync(string topic, FrameMessage frame, CancellationToken cancellationToken)
    {
        try
        {
            Track(topic, TopicDurability.Perishable);
            var capability = _router.CapabilityOf(frame.Metadata.CameraId);
            if (capability is not null && _registry is not null && !(await LiveCapabilitiesAsync()).Contains(capability))
            {
                await RecordDropAsync(frame, topic, BusDropReasons.NoProcessor, CancellationToken.None);
                return;
            }

            var now = Time.GetUtcNow();
            NameValueEntry[] fields;
            long size;
            try
            {
                fields = Frames.Encode(frame, now.ToUnixTimeMilliseconds(), _producer, out size);
            }
            catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or ArgumentException)
            {
                Log.EncodeFailed(Logger, frame.Metadata.FrameId.ToString(), ex.Message);
                await RecordDropAsync(frame, topic, BusDropReasons.EncodingFailed, CancellationToken.None);
                return;
            }

            if (size > RedisOptions.MaxMessageBytes)
            {
                await RecordDropAsync(frame, topic, DropReasons.TooLarge, CancellationToken.None);
                return;
            }

            frame.EnqueuedAt = now;
            var started = Time.GetTimestamp();
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await EnsureStreamAsync(topic, TopicDurability.Perishable);
                    var db = await Connection.GetDatabaseAsync();
                    var (undelivered, _) = await EvaluateFramePublishAsync(db, topic, fields);
                    if (undelivered > 0)
                    {
                        Telemetry.RecordTrimmed(topic, undelivered);
                    }

                    Telemetry.RecordPublished(topic);
                    return;
                }
                catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
                {
                    ReportTransportError("publish", ex);
                    if (Time.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(RedisOptions.FramePublishTimeoutMs))
                    {
                        // Frames are perishable: rather than hold capture up, the frame is dropped (counted, recorded once Redis is back).
                        await RecordDropAsync(frame, topic, BusDropReasons.BusUnavailable, CancellationToken.None);
                        return;
                    }

                    await BackoffAsync(attempt, cancellationToken);
                }
            }
        }
        finally
        {
            frame.Release();
        }
    }

    private async Task<(long Undelivered, long Orphaned)> EvaluateFramePublishAsync(IDatabase db, string topic, NameValueEntry[] fields)
    {
        var args = new RedisValue[4 + (fields.Length * 2)];
        args[0] = Options.FramesCapacity;
        args[1] = BusFields.Get(fields, BusFields.FrameId);
        args[2] = BusFields.Get(fields, BusFields.CameraId);
        args[3] = BusFields.GetString(fields, BusFields.TraceParent) ?? string.Empty;
        for (var i = 0; i < fields.Length; i++)
        {
            args[4 + (2 * i)] = fields[i].Name;
            args[5 + (2 * i)] = fields[i].Value;
        }

        var result = (RedisResult[])(await db.ScriptEvaluateAsync(
            RedisScripts.PublishFrame,
            [Keys.Stream(topic), Keys.Index(topic), Keys.Orphans(topic), Keys.Trimmed, Keys.TopicDrops(topic)],
            args))!;
        return ((long)result[1], (long)result[2]);
    }

    private async ValueTask PublishDurableAsync<T>(string topic, RedisMessageCodec<T> codec, T message, CancellationToken cancellationToken)
        where T : class
    {
        await WaitForRoomAsync(topic, cancellationToken);
        var fields = codec.Encode(message, Time.GetUtcNow().ToUnixTimeMilliseconds(), _producer);
        var outcome = message is FrameEvent { Type: FrameEventType.Dropped or FrameEventType.Skipped } e
            ? (Key: e.Type == FrameEventType.Dropped ? Keys.DropStats : Keys.SkipStats, Field: $"{e.Stage}|{e.Reason}")
            : default;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await EnsureStreamAsync(topic, TopicDurability.Durable);
                var db = await Connection.GetDatabaseAsync();
                if (outcome.Key is null)
                {
                    await db.StreamAddAsync(Keys.Stream(topic), fields);
                }
                else
                {
                    // The event and its count go together, so the drop/skip totals match the events.
                    var transaction = db.CreateTransaction();
                    _ = transaction.StreamAddAsync(Keys.Stream(topic), fields);
                    _ = transaction.HashIncrementAsync(outcome.Key, outcome.Field);
                    await transaction.ExecuteAsync();
                }

                Telemetry.RecordPublished(topic);
                return;
            }
            catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                // Durable messages are never dropped: wait for Redis to come back.
                ReportTransportError("publish", ex);
                await BackoffAsync(attempt, cancellationToken);
            }
        }
    }

    /// <summary>A durable topic at its bound makes publishers wait (as in process) until its consumers catch up.</summary>
    private async ValueTask WaitForRoomAsync(string topic, CancellationToken cancellationToken)
    {
        var logged = false;
        while (Depth(_snapshot, topic) >= Options.DurableCapacity)
        {
            if (!logged)
            {
                Log.DurableFull(Logger, topic, Options.DurableCapacity);
                logged = true;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(RedisOptions.MonitorIntervalMs), Time, cancellationToken);
        }
    }

    private static long Depth(BusSnapshot snapshot, string topic)
    {
        foreach (var t in snapshot.Topics)
        {
            if (t.Name == topic)
            {
                return t.Depth;
            }
        }

        return 0;
    }

    private void EnsureStarted()
    {
        if (_monitor is not null)
        {
            return;
        }

        lock (_startLock)
        {
            _monitor ??= Task.Run(() => MonitorLoopAsync(_stopping.Token));
        }
    }

    private IEnumerable<Measurement<long>> ObserveDepth()
    {
        foreach (var topic in _snapshot.Topics)
        {
            yield return new Measurement<long>(topic.Depth, new KeyValuePair<string, object?>("messaging.destination.name", topic.Name));
        }
    }

    private IEnumerable<Measurement<long>> ObserveCapacity()
    {
        foreach (var (name, info) in _topics)
        {
            yield return new Measurement<long>(info.Capacity, new KeyValuePair<string, object?>("messaging.destination.name", name));
        }
    }

    private static DeadLetter ToDeadLetter(string topic, StreamEntry entry)
    {
        var values = entry.Values;
        var at = long.TryParse(BusFields.GetString(values, BusFields.DeadLetterAt), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : default;
        var attempts = int.TryParse(BusFields.GetString(values, BusFields.DeadLetterAttempts), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        var size = 0L;
        foreach (var field in values)
        {
            size += field.Value.Length();
        }

        return new DeadLetter(
            $"{topic}:{entry.Id}",
            topic,
            BusFields.GetString(values, BusFields.DeadLetterGroup) ?? string.Empty,
            BusFields.GetString(values, BusFields.DeadLetterSourceId) ?? string.Empty,
            BusFields.GetString(values, BusFields.DeadLetterReason) ?? "unknown",
            attempts,
            at)
        {
            FrameId = BusFields.GetString(values, BusFields.FrameId),
            CameraId = BusFields.GetString(values, BusFields.CameraId),
            SizeBytes = size,
        };
    }

    internal sealed record TopicInfo(TopicDurability Durability, long Capacity);

    private static partial class Log
    {
        [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "Redis bus: {Operation} failed ({Endpoints}): {Error}; retrying")]
        public static partial void TransportError(ILogger logger, string operation, string endpoints, string error);

        [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "Redis bus: topic {Topic} holds {Capacity} undelivered messages; publishers wait until its consumers catch up")]
        public static partial void DurableFull(ILogger logger, string topic, long capacity);

        [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "Redis bus: frame {FrameId} could not be encoded: {Error}; dropped")]
        public static partial void EncodeFailed(ILogger logger, string frameId, string error);
    }
}

/// <summary>Drop reasons of the bus beyond those in Core (<see cref="DropReasons"/>).</summary>
public static class BusDropReasons
{
    /// <summary>Redis could not be reached within <c>FramePublishTimeoutMs</c>; the frame was not queued.</summary>
    public const string BusUnavailable = "bus_unavailable";

    /// <summary>The frame's camera is routed to a capability no live processor has.</summary>
    public const string NoProcessor = "no_processor";

    /// <summary>The pixels could not be encoded for the wire (e.g. JPEG of a non-rgb24 frame).</summary>
    public const string EncodingFailed = "encoding_failed";
}
