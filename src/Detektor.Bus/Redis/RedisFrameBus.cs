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
using Detektor.Core.Journal;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace Detektor.Bus.Redis;

/// <summary>
/// The distributed bus on Redis Streams: a stream per topic, consumer groups, batched blocking <c>XREADGROUP</c>, ack after
/// the work, <c>XAUTOCLAIM</c> of deliveries idle longer than <see cref="BusOptions.ClaimIdleMs"/>, dead letters after
/// <see cref="BusOptions.MaxDeliveries"/>, <c>MAXLEN ~</c> on frame streams only — with every trimmed frame accounted
/// (see <see cref="RedisScripts.PublishFrame"/> and docs/bus.md) — and durable streams trimmed only past what every
/// declared group has acknowledged. A monitor loop keeps the snapshot (depth, lag, pending, consumers) fresh, turns the
/// trim journal into <c>dropped</c> events, trims durable streams and removes dead consumers.
/// <para>Redis outages (docs/bus.md, "Redis outage"): publishing goes through the <c>redis</c> circuit breaker. While
/// Redis cannot take a frame it is dropped at once (<c>bus_unavailable</c>); a lifecycle event it cannot take goes to
/// the <see cref="LifecycleSpill"/>, and so does every later one until a replayer has published the spill in order.
/// So a publisher on the capture path never waits for Redis.</para>
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
    private readonly LifecycleSpill? _spill;
    private readonly CircuitBreaker? _breaker;
    private Task? _monitor;
    private Task? _replayer;
    private SegmentJournal.Segment? _replaySegment;
    private int _replayDone;
    private long _replayed;
    private long _lastSpillFullLog;
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
        ILocalCapabilities? localCapabilities = null,
        LifecycleSpill? spill = null,
        CircuitBreakers? breakers = null)
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
        _breaker = breakers?.Get(BreakerName, IsTransient);
        _spill = spill;
        if (spill is not null)
        {
            telemetry.ObserveSpill(() => spill.Events, () => spill.Bytes);
            if (spill.DiscardedAtOpen > 0)
            {
                Log.SpillTornTail(logger, spill.DiscardedAtOpen, spill.DirectoryPath);
            }

            if (spill.IsSpilling)
            {
                Log.SpillPending(logger, spill.Events, spill.DirectoryPath);
            }
        }

        telemetry.ObserveQueues(ObserveDepth, ObserveCapacity);
        telemetry.ObserveGroups(() => BusTelemetry.GroupMeasurements(_snapshot));
    }

    /// <summary>The circuit breaker around publishing (<c>Detektor:Resilience:Breakers:redis</c>).</summary>
    public const string BreakerName = "redis";

    public bool SurvivesRestart => true;

    /// <summary>The lifecycle spill, or null when it is off.</summary>
    public LifecycleSpill? Spill => _spill;

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
        foreach (var loop in new[] { _monitor, _replayer })
        {
            if (loop is null)
            {
                continue;
            }

            try
            {
                await loop;
            }
            catch (OperationCanceledException)
            {
            }
        }

        if (_spill is { IsSpilling: true } && _replayer is not null)
        {
            // A last round at shutdown (Redis may well be back): what it cannot publish stays for the next start.
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5), Time);
            await ReplayPassAsync(deadline.Token);
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
        if (reason != BusDropReasons.BusUnavailable)
        {
            // (A bus_unavailable drop is counted per topic together with its event, which may wait in the spill.)
            try
            {
                var db = await Connection.GetDatabaseAsync();
                await db.HashIncrementAsync(Keys.TopicDrops(topic), reason);
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                ReportTransportError("drop-stats", ex);
            }
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
            if (_spill is { IsSpilling: true })
            {
                // Lifecycle events still wait in the spill (a frame published now could reach processors before its own
                // captured and queued events): fail fast, counted and recorded. (While the breaker is open, the publish
                // below fails fast the same way.)
                await RecordDropAsync(frame, topic, BusDropReasons.BusUnavailable, CancellationToken.None);
                return;
            }

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
                    var undelivered = await GuardedAsync(
                        static (s, _) => s.Self.PublishFrameOnceAsync(s.Topic, s.Fields), (Self: this, Topic: topic, Fields: fields), cancellationToken);
                    if (undelivered > 0)
                    {
                        Telemetry.RecordTrimmed(topic, undelivered);
                    }

                    Telemetry.RecordPublished(topic);
                    return;
                }
                catch (BrokenCircuitException)
                {
                    await RecordDropAsync(frame, topic, BusDropReasons.BusUnavailable, CancellationToken.None);
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

    private async ValueTask<long> PublishFrameOnceAsync(string topic, NameValueEntry[] fields)
    {
        await EnsureStreamAsync(topic, TopicDurability.Perishable);
        var db = await Connection.GetDatabaseAsync();
        var (undelivered, _) = await EvaluateFramePublishAsync(db, topic, fields);
        return undelivered;
    }

    /// <summary>Runs one call to Redis through the <c>redis</c> breaker (directly when there is none).</summary>
    private ValueTask<TResult> GuardedAsync<TResult, TState>(Func<TState, CancellationToken, ValueTask<TResult>> call, TState state, CancellationToken cancellationToken) =>
        _breaker is null ? call(state, cancellationToken) : _breaker.ExecuteAsync(call, state, cancellationToken);

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
        if (_spill is not null && message is FrameEvent lifecycle && topic == Topics.Lifecycle.Name)
        {
            await PublishLifecycleAsync(lifecycle, cancellationToken);
            return;
        }

        await WaitForRoomAsync(topic, false, cancellationToken);
        var fields = codec.Encode(message, Time.GetUtcNow().ToUnixTimeMilliseconds(), _producer);
        var state = (Self: this, Topic: topic, Fields: fields, Message: (object)message);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await GuardedAsync(static (s, _) => s.Self.AddDurableOnceAsync(s.Topic, s.Fields, s.Message), state, cancellationToken);
                Telemetry.RecordPublished(topic);
                return;
            }
            catch (BrokenCircuitException) when (!cancellationToken.IsCancellationRequested)
            {
                // Durable messages are never dropped: wait for the breaker to let a probe through.
                await BackoffAsync(attempt, cancellationToken);
            }
            catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                // Durable messages are never dropped: wait for Redis to come back.
                ReportTransportError("publish", ex);
                await BackoffAsync(attempt, cancellationToken);
            }
        }
    }

    /// <summary>
    /// A lifecycle event with the spill on: behind what is spilled already, else one try through the breaker, else
    /// spilled. Never waits for Redis (only for a full spill with <c>WhenFull=wait</c>).
    /// </summary>
    private async ValueTask PublishLifecycleAsync(FrameEvent e, CancellationToken cancellationToken)
    {
        var spill = _spill!;
        switch (spill.TryAppendIfSpilling(e))
        {
            case SpillOutcome.Spilled:
                Telemetry.RecordSpilled();
                return;
            case SpillOutcome.Full:
                await SpillFullAsync(e, cancellationToken);
                return;
        }

        // One try through the breaker (while it is open, it fails at once without calling Redis).
        await WaitForRoomAsync(Topics.Lifecycle.Name, true, cancellationToken);
        var fields = _events.Encode(e, Time.GetUtcNow().ToUnixTimeMilliseconds(), _producer);
        try
        {
            await GuardedAsync(
                static (s, _) => s.Self.AddDurableOnceAsync(Topics.Lifecycle.Name, s.Fields, s.Event), (Self: this, Fields: fields, Event: (object)e), cancellationToken);
            Telemetry.RecordPublished(Topics.Lifecycle.Name);
            return;
        }
        catch (BrokenCircuitException)
        {
        }
        catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
        {
            ReportTransportError("publish", ex);
        }

        var wasSpilling = spill.IsSpilling;
        if (spill.Append(e) == SpillOutcome.Full)
        {
            await SpillFullAsync(e, cancellationToken);
            return;
        }

        Telemetry.RecordSpilled();
        if (!wasSpilling)
        {
            Log.SpillStarted(Logger, Connection.Endpoints, spill.DirectoryPath);
        }
    }

    /// <summary>The spill is at its bound: drop the event (counted, logged) or wait until the replayer makes room.</summary>
    private async ValueTask SpillFullAsync(FrameEvent e, CancellationToken cancellationToken)
    {
        var spill = _spill!;
        var now = Time.GetTimestamp();
        var last = Interlocked.Read(ref _lastSpillFullLog);
        if (last == 0 || Time.GetElapsedTime(last, now) >= TimeSpan.FromSeconds(5))
        {
            Interlocked.Exchange(ref _lastSpillFullLog, now);
            Log.SpillFull(Logger, spill.Bytes, spill.MaxBytes, spill.DirectoryPath, spill.DropWhenFull ? "dropped" : "waiting", spill.DroppedWhenFull);
        }

        if (spill.DropWhenFull)
        {
            spill.CountDropped();
            Telemetry.RecordSpillFull("dropped");
            return;
        }

        Telemetry.RecordSpillFull("waited");
        while (true)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(RedisOptions.MonitorIntervalMs), Time, cancellationToken);
            switch (spill.TryAppendIfSpilling(e))
            {
                case SpillOutcome.Spilled:
                    Telemetry.RecordSpilled();
                    return;
                case SpillOutcome.NotSpilling:
                    await PublishLifecycleAsync(e, cancellationToken);
                    return;
            }
        }
    }

    /// <summary>One write of a durable message; a dropped or skipped event and its counts go together in a transaction.</summary>
    private async ValueTask<bool> AddDurableOnceAsync(string topic, NameValueEntry[] fields, object message)
    {
        await EnsureStreamAsync(topic, TopicDurability.Durable);
        var db = await Connection.GetDatabaseAsync();
        if (message is not FrameEvent { Type: FrameEventType.Dropped or FrameEventType.Skipped } e)
        {
            await db.StreamAddAsync(Keys.Stream(topic), fields);
            return true;
        }

        // The event and its count go together, so the drop/skip totals match the events.
        var transaction = db.CreateTransaction();
        _ = transaction.StreamAddAsync(Keys.Stream(topic), fields);
        _ = transaction.HashIncrementAsync(e.Type == FrameEventType.Dropped ? Keys.DropStats : Keys.SkipStats, $"{e.Stage}|{e.Reason}");
        if (e is { Type: FrameEventType.Dropped, Reason: BusDropReasons.BusUnavailable } && DroppedFromTopic(e) is { } frameTopic)
        {
            _ = transaction.HashIncrementAsync(Keys.TopicDrops(frameTopic), BusDropReasons.BusUnavailable);
        }

        await transaction.ExecuteAsync();
        return true;
    }

    /// <summary>The topic in a bus drop event's data (<c>{"topic":"frames",…}</c>), or null.</summary>
    private static string? DroppedFromTopic(FrameEvent e)
    {
        if (e.Data is null)
        {
            return null;
        }

        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(e.Data);
            return doc.RootElement.TryGetProperty("topic", out var topic) && topic.ValueKind == System.Text.Json.JsonValueKind.String ? topic.GetString() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Publishes the spill in order while Redis takes it, segment by segment; a segment is deleted once all of it is in
    /// Redis. A failure stops the round where it is (the events before it are not published again by this process).
    /// </summary>
    private async Task ReplayLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(RedisOptions.MonitorIntervalMs), Time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (_spill!.IsSpilling)
            {
                await ReplayPassAsync(cancellationToken);
            }
        }
    }

    /// <summary>
    /// One round of the replayer (never two at once): segment by segment while Redis takes the events; stops at the first
    /// failure, remembering how far the current segment got.
    /// </summary>
    private async Task ReplayPassAsync(CancellationToken cancellationToken)
    {
        var spill = _spill!;
        try
        {
            while (spill.TakeOldest() is { } segment)
            {
                if (!ReferenceEquals(segment, _replaySegment))
                {
                    (_replaySegment, _replayDone) = (segment, 0);
                }

                List<FrameEvent> events;
                try
                {
                    events = [.. LifecycleSpill.Read(segment)];
                }
                catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidDataException or FormatException)
                {
                    Log.SpillCorrupt(Logger, spill.Quarantine(segment), ex.Message);
                    continue;
                }

                for (; _replayDone < events.Count; _replayDone++)
                {
                    await WaitForRoomAsync(Topics.Lifecycle.Name, false, cancellationToken);
                    var e = events[_replayDone];
                    var fields = _events.Encode(e, Time.GetUtcNow().ToUnixTimeMilliseconds(), _producer);
                    await GuardedAsync(
                        static (s, _) => s.Self.AddDurableOnceAsync(Topics.Lifecycle.Name, s.Fields, s.Event), (Self: this, Fields: fields, Event: (object)e), cancellationToken);
                    Telemetry.RecordPublished(Topics.Lifecycle.Name);
                    Telemetry.RecordSpillReplayed(1);
                    spill.MarkReplayed(segment, 1);
                    _replayed++;
                }

                (_replaySegment, _replayDone) = (null, 0);
                if (spill.Complete(segment))
                {
                    Log.SpillReplayed(Logger, _replayed, spill.DirectoryPath);
                    _replayed = 0;
                }
            }
        }
        catch (BrokenCircuitException)
        {
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // Nothing may stop the replayer for good: what is spilled stays on disk and is tried again.
            ReportTransportError("spill-replay", ex);
        }
    }

    /// <summary>A durable topic at its bound makes publishers wait (as in process) until its consumers catch up.</summary>
    private async ValueTask WaitForRoomAsync(string topic, bool unlessUnavailable, CancellationToken cancellationToken)
    {
        var logged = false;
        while (Depth(_snapshot, topic) >= Options.DurableCapacity)
        {
            if (unlessUnavailable && (!_snapshot.Available || _breaker is { IsOpen: true }))
            {
                return; // Redis is away: the depth is stale, and the caller spills rather than waits
            }

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
            if (_spill is not null)
            {
                _replayer ??= Task.Run(() => ReplayLoopAsync(_stopping.Token));
            }

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

        [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "Redis bus: Redis ({Endpoints}) cannot take lifecycle events; spilling them to {Path} until it is back (frames are dropped as bus_unavailable meanwhile)")]
        public static partial void SpillStarted(ILogger logger, string endpoints, string path);

        [LoggerMessage(EventId = 4105, Level = LogLevel.Information, Message = "Redis bus: lifecycle spill replayed ({Events} events) and empty: {Path}")]
        public static partial void SpillReplayed(ILogger logger, long events, string path);

        [LoggerMessage(EventId = 4106, Level = LogLevel.Error, Message = "Redis bus: the lifecycle spill is full ({Bytes} of {MaxBytes} bytes, {Path}); lifecycle events are {Action} ({Dropped} dropped so far). Bring Redis back or raise Detektor:Bus:Redis:LifecycleSpill:MaxMegabytes")]
        public static partial void SpillFull(ILogger logger, long bytes, long maxBytes, string path, string action, long dropped);

        [LoggerMessage(EventId = 4107, Level = LogLevel.Warning, Message = "Redis bus: {Events} lifecycle events left in the spill ({Path}) from an earlier run; replaying them once Redis answers")]
        public static partial void SpillPending(ILogger logger, long events, string path);

        [LoggerMessage(EventId = 4108, Level = LogLevel.Warning, Message = "Redis bus: {Records} torn record(s) cut off the end of the lifecycle spill ({Path}): a crash during an append, never acknowledged")]
        public static partial void SpillTornTail(ILogger logger, int records, string path);

        [LoggerMessage(EventId = 4109, Level = LogLevel.Error, Message = "Redis bus: a lifecycle spill segment cannot be read and was moved aside to {Path}: {Error}")]
        public static partial void SpillCorrupt(ILogger logger, string path, string error);
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
