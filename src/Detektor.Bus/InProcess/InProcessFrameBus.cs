using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Threading.Channels;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Telemetry;
using Detektor.Core;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Microsoft.Extensions.Options;

namespace Detektor.Bus.InProcess;

/// <summary>
/// The embedded bus: one bounded <see cref="Channel{T}"/> per topic, shared by the consumers of one group (competing
/// consumers). Perishable topics evict their oldest message when full (recorded as <c>dropped</c>, reason
/// <c>queue_full</c>); durable topics make publishers wait. Deliveries are tracked until acknowledged: one left idle
/// longer than <see cref="BusOptions.ClaimIdleMs"/> is handed to the next reader (as Redis' <c>XAUTOCLAIM</c> does), and
/// nacked or reclaimed messages are redelivered up to <see cref="BusOptions.MaxDeliveries"/> times, then dead-lettered.
/// </summary>
public sealed class InProcessFrameBus : IFrameBus
{
    private readonly ConcurrentDictionary<string, ITopicState> _topics = new(StringComparer.Ordinal);
    private readonly OutcomeCounts _outcomes = new();
    private readonly BusOptions _options;
    private readonly BusTelemetry _telemetry;
    private readonly ServiceIdentity _service;
    private readonly TimeProvider _time;

    public InProcessFrameBus(IOptions<BusOptions> options, BusTelemetry telemetry, ServiceIdentity service, TimeProvider time)
    {
        _options = options.Value;
        _telemetry = telemetry;
        _service = service;
        _time = time;
        telemetry.ObserveQueues(ObserveDepth, ObserveCapacity);
        telemetry.ObserveGroups(() => BusTelemetry.GroupMeasurements(GetSnapshot()));
    }

    public bool SurvivesRestart => false;

    public ValueTask PublishAsync<T>(Topic<T> topic, T message, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message is FrameEvent frameEvent)
        {
            _outcomes.Count(frameEvent);
        }

        return GetTopic(topic).PublishAsync(message, cancellationToken);
    }

    public IBusSubscription<T> Subscribe<T>(Topic<T> topic, string group, string consumer)
        where T : class
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(group);
        ArgumentException.ThrowIfNullOrWhiteSpace(consumer);
        var state = GetTopic(topic);
        return state.Subscribe(group, consumer);
    }

    public BusSnapshot GetSnapshot()
    {
        var topics = new List<TopicSnapshot>(_topics.Count);
        foreach (var state in _topics.Values)
        {
            topics.Add(state.Snapshot());
        }

        topics.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return new BusSnapshot(BusOptions.InProcessTransport, topics)
        {
            TakenAt = _time.GetUtcNow(),
            Drops = _outcomes.Drops(),
            Skips = _outcomes.Skips(),
        };
    }

    public ValueTask<BusSnapshot> GetSnapshotAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(GetSnapshot());

    /// <summary>From the topics' counters: the gate asks before every frame, and a whole snapshot cost ~50 µs a frame.</summary>
    public double PerishableFill()
    {
        var fill = 0.0;
        foreach (var (_, state) in _topics)
        {
            fill = Math.Max(fill, TopicSnapshot.PerishableFillOf(state.Durability, state.Depth, state.Capacity));
        }

        return fill;
    }

    public ValueTask<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var all = new List<DeadLetter>();
        foreach (var state in _topics.Values)
        {
            state.AddDeadLetters(all);
        }

        all.Sort(static (a, b) => b.DeadLetteredAt.CompareTo(a.DeadLetteredAt) is var c && c != 0 ? c : string.CompareOrdinal(b.Id, a.Id));
        IReadOnlyList<DeadLetter> page = all.Count > limit ? all.GetRange(0, limit) : all;
        return ValueTask.FromResult(page);
    }

    public async ValueTask<bool> ReplayDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        var colon = id.LastIndexOf(':');
        if (colon <= 0 || !_topics.TryGetValue(id[..colon], out var state))
        {
            return false;
        }

        return await state.ReplayAsync(id, cancellationToken);
    }

    /// <summary>Completes every topic: consumers drain what is queued, then their reads return 0.</summary>
    public void Complete()
    {
        foreach (var state in _topics.Values)
        {
            state.Complete();
        }
    }

    private TopicState<T> GetTopic<T>(Topic<T> topic)
        where T : class
    {
        var state = _topics.GetOrAdd(topic.Name, static (_, arg) => arg.bus.CreateTopic(arg.topic), (bus: this, topic));
        return state as TopicState<T>
            ?? throw new InvalidOperationException($"Topic '{topic.Name}' is already used with another message type ({state.MessageType.Name}).");
    }

    private TopicState<T> CreateTopic<T>(Topic<T> topic)
        where T : class
    {
        var capacity = topic.Durability == TopicDurability.Perishable ? _options.FramesCapacity : _options.DurableCapacity;
        return new TopicState<T>(this, topic, capacity);
    }

    private IEnumerable<Measurement<long>> ObserveDepth()
    {
        foreach (var state in _topics.Values)
        {
            yield return new Measurement<long>(state.Depth, new KeyValuePair<string, object?>("messaging.destination.name", state.Name));
        }
    }

    private IEnumerable<Measurement<long>> ObserveCapacity()
    {
        foreach (var state in _topics.Values)
        {
            yield return new Measurement<long>(state.Capacity, new KeyValuePair<string, object?>("messaging.destination.name", state.Name));
        }
    }

    /// <summary>Records a frame the bus gave up on as <c>dropped</c>; <paramref name="release"/> frees its pixels too.</summary>
    private async ValueTask RecordDropAsync(object message, string topic, string reason, bool release)
    {
        var dropped = DropAccounting.CreateDroppedEvent(message, topic, reason, _service, _time.GetUtcNow());
        if (release)
        {
            (message as FrameMessage)?.Release();
        }

        if (dropped is not null)
        {
            _telemetry.RecordFrameEvent(dropped);
            // Lifecycle events are never dropped: this waits if the lifecycle queue is full.
            await PublishAsync(Topics.Lifecycle, dropped, CancellationToken.None);
        }
    }

    private interface ITopicState
    {
        string Name { get; }

        Type MessageType { get; }

        TopicDurability Durability { get; }

        long Depth { get; }

        long Capacity { get; }

        TopicSnapshot Snapshot();

        void AddDeadLetters(List<DeadLetter> into);

        ValueTask<bool> ReplayAsync(string id, CancellationToken cancellationToken);

        void Complete();
    }

    /// <summary>A delivery handed out and not yet settled: whose it is and since when (for reclaiming).</summary>
    private sealed record InFlight<T>(BusDelivery<T> Delivery, string Consumer, long DeliveredAt)
        where T : class;

    private sealed record DeadEntry<T>(string Id, BusDelivery<T> Delivery, string Group, string Reason, DateTimeOffset At)
        where T : class;

    private sealed class TopicState<T> : ITopicState
        where T : class
    {
        private readonly InProcessFrameBus _bus;
        private readonly Topic<T> _topic;
        private readonly Channel<BusDelivery<T>> _channel;
        private readonly ConcurrentDictionary<string, long> _dropped = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, byte> _consumers = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, InFlight<T>> _inFlight = new(StringComparer.Ordinal);
        private readonly Lock _deadLock = new();
        private readonly List<DeadEntry<T>> _deadLetters = [];
        private string? _group;
        private long _sequence;
        private long _deadSequence;
        private long _published;
        private long _delivered;
        private long _acknowledged;
        private long _deadLettered;

        public TopicState(InProcessFrameBus bus, Topic<T> topic, int capacity)
        {
            _bus = bus;
            _topic = topic;
            Capacity = capacity;
            _channel = Channel.CreateBounded<BusDelivery<T>>(new BoundedChannelOptions(capacity)
            {
                FullMode = BoundedChannelFullMode.Wait,
                SingleReader = false,
                SingleWriter = false,
                AllowSynchronousContinuations = false,
            });
        }

        public string Name => _topic.Name;

        public Type MessageType => typeof(T);

        public TopicDurability Durability => _topic.Durability;

        public long Depth => _channel.Reader.Count;

        public long Capacity { get; }

        private TimeProvider Time => _bus._time;

        private BusOptions Options => _bus._options;

        public async ValueTask PublishAsync(T message, CancellationToken cancellationToken)
        {
            var now = Time.GetUtcNow();
            if (message is FrameMessage frame)
            {
                frame.EnqueuedAt = now;
            }

            var id = Interlocked.Increment(ref _sequence);
            var delivery = new BusDelivery<T>(id.ToString(CultureInfo.InvariantCulture), message, now, 1);
            if (_topic.Durability == TopicDurability.Durable)
            {
                await _channel.Writer.WriteAsync(delivery, cancellationToken);
            }
            else
            {
                // Drop-oldest done by hand (not BoundedChannelFullMode.DropOldest) so the eviction can be recorded
                // asynchronously in the frame's lifecycle, outside the channel's lock.
                while (!_channel.Writer.TryWrite(delivery))
                {
                    if (_channel.Reader.Completion.IsCompleted)
                    {
                        throw new ChannelClosedException($"Topic '{Name}' is completed.");
                    }

                    if (_channel.Reader.TryRead(out var oldest))
                    {
                        _dropped.AddOrUpdate(DropReasons.QueueFull, 1, static (_, c) => c + 1);
                        await _bus.RecordDropAsync(oldest.Message, Name, DropReasons.QueueFull, release: true);
                    }
                }
            }

            Interlocked.Increment(ref _published);
            _bus._telemetry.RecordPublished(Name);
        }

        public IBusSubscription<T> Subscribe(string group, string consumer)
        {
            var existing = Interlocked.CompareExchange(ref _group, group, null);
            if (existing is not null && !string.Equals(existing, group, StringComparison.Ordinal))
            {
                throw new NotSupportedException(
                    $"The in-process bus supports one consumer group per topic; '{Name}' is consumed by group '{existing}'. Use the Redis bus for several groups.");
            }

            if (!_consumers.TryAdd(consumer, 0))
            {
                throw new InvalidOperationException($"Consumer '{consumer}' is already subscribed to topic '{Name}'.");
            }

            return new Subscription(this, group, consumer);
        }

        public TopicSnapshot Snapshot()
        {
            var depth = Depth;
            var inFlight = _inFlight.Count;
            var perConsumer = new Dictionary<string, (long Pending, long LastDelivery)>(StringComparer.Ordinal);
            foreach (var name in _consumers.Keys)
            {
                perConsumer[name] = (0, long.MinValue);
            }

            foreach (var entry in _inFlight.Values)
            {
                var (pending, last) = perConsumer.GetValueOrDefault(entry.Consumer, (0, long.MinValue));
                perConsumer[entry.Consumer] = (pending + 1, Math.Max(last, entry.DeliveredAt));
            }

            var consumers = perConsumer
                .OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => new ConsumerSnapshot(kv.Key, kv.Value.Pending, kv.Value.LastDelivery == long.MinValue ? TimeSpan.Zero : Time.GetElapsedTime(kv.Value.LastDelivery)))
                .ToList();
            var lagAge = _channel.Reader.TryPeek(out var oldest) ? Time.GetUtcNow() - oldest.EnqueuedAt : TimeSpan.Zero;
            var groups = _group is { } group
                ? new[] { new GroupSnapshot(group, depth, inFlight, consumers) { LagAge = lagAge < TimeSpan.Zero ? TimeSpan.Zero : lagAge } }
                : [];
            return new TopicSnapshot(
                Name,
                _topic.Durability,
                depth,
                Capacity,
                Interlocked.Read(ref _published),
                Interlocked.Read(ref _delivered),
                Interlocked.Read(ref _acknowledged),
                InFlight: inFlight,
                DeadLetters: Interlocked.Read(ref _deadLettered),
                DroppedByReason: new Dictionary<string, long>(_dropped, StringComparer.Ordinal),
                Consumers: [.. _consumers.Keys.Order(StringComparer.Ordinal)])
            {
                Length = depth + inFlight,
                Groups = groups,
            };
        }

        public void AddDeadLetters(List<DeadLetter> into)
        {
            lock (_deadLock)
            {
                foreach (var entry in _deadLetters)
                {
                    var frame = entry.Delivery.Message as FrameMessage;
                    into.Add(new DeadLetter(entry.Id, Name, entry.Group, entry.Delivery.Id, entry.Reason, entry.Delivery.DeliveryCount, entry.At)
                    {
                        FrameId = frame?.Metadata.FrameId.ToString() ?? (entry.Delivery.Message as FrameEvent)?.FrameId.ToString()
                            ?? (entry.Delivery.Message as FrameResult)?.Metadata.FrameId.ToString(),
                        CameraId = frame?.Metadata.CameraId ?? (entry.Delivery.Message as FrameEvent)?.CameraId ?? (entry.Delivery.Message as FrameResult)?.Metadata.CameraId,
                        SizeBytes = frame?.Pixels?.Length ?? 0,
                    });
                }
            }
        }

        public async ValueTask<bool> ReplayAsync(string id, CancellationToken cancellationToken)
        {
            DeadEntry<T>? found = null;
            lock (_deadLock)
            {
                var index = _deadLetters.FindIndex(e => string.Equals(e.Id, id, StringComparison.Ordinal));
                if (index >= 0)
                {
                    found = _deadLetters[index];
                    _deadLetters.RemoveAt(index);
                }
            }

            if (found is null)
            {
                return false;
            }

            _bus._telemetry.RecordReplayed(Name);
            await PublishAsync(found.Delivery.Message, cancellationToken);
            return true;
        }

        public void Complete() => _channel.Writer.TryComplete();

        private async ValueTask<int> ReadAsync(string consumer, List<BusDelivery<T>> into, int maxCount, CancellationToken cancellationToken)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
            var reader = _channel.Reader;
            while (true)
            {
                var count = await ClaimIdleAsync(consumer, into, maxCount);
                while (count < maxCount && reader.TryRead(out var delivery))
                {
                    _inFlight[delivery.Id] = new InFlight<T>(delivery, consumer, Time.GetTimestamp());
                    into.Add(delivery);
                    count++;
                }

                if (count > 0)
                {
                    Interlocked.Add(ref _delivered, count);
                    return count;
                }

                if (NextClaimCheck() is not { } wait)
                {
                    if (!await reader.WaitToReadAsync(cancellationToken))
                    {
                        return 0;
                    }

                    continue;
                }

                // Deliveries are out: wake up in time to reclaim one that its consumer lets sit.
                using var timer = new CancellationTokenSource(wait, Time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
                try
                {
                    if (!await reader.WaitToReadAsync(linked.Token))
                    {
                        return 0;
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }
        }

        /// <summary>A delivery time old enough that the delivery can be claimed at once.</summary>
        private long ClaimableNow() => Time.GetTimestamp() - (long)(Options.ClaimIdle.TotalSeconds * Time.TimestampFrequency) - 1;

        /// <summary>How long until the oldest outstanding delivery becomes claimable; null when none is out.</summary>
        private TimeSpan? NextClaimCheck()
        {
            if (_inFlight.IsEmpty)
            {
                return null;
            }

            var oldest = long.MaxValue;
            foreach (var entry in _inFlight.Values)
            {
                oldest = Math.Min(oldest, entry.DeliveredAt);
            }

            // Another consumer may have acknowledged the last delivery since IsEmpty: then there is nothing to wait for
            // (with long.MaxValue as "oldest" the wait would be tens of thousands of years, which the timer refuses).
            if (oldest == long.MaxValue)
            {
                return null;
            }

            var remaining = Options.ClaimIdle - Time.GetElapsedTime(oldest);
            return TimeSpan.FromTicks(Math.Clamp(remaining.Ticks, TimeSpan.TicksPerMillisecond, Options.ClaimIdle.Ticks));
        }

        private async ValueTask<int> ClaimIdleAsync(string consumer, List<BusDelivery<T>> into, int maxCount)
        {
            if (_inFlight.IsEmpty)
            {
                return 0;
            }

            var claimed = 0;
            List<InFlight<T>>? exhausted = null;
            foreach (var (id, entry) in _inFlight)
            {
                if (claimed >= maxCount)
                {
                    break;
                }

                if (Time.GetElapsedTime(entry.DeliveredAt) < Options.ClaimIdle)
                {
                    continue;
                }

                var next = entry.Delivery.DeliveryCount + 1;
                if (next > Options.MaxDeliveries)
                {
                    if (_inFlight.TryRemove(new KeyValuePair<string, InFlight<T>>(id, entry)))
                    {
                        (exhausted ??= []).Add(entry);
                    }

                    continue;
                }

                var again = new BusDelivery<T>(id, entry.Delivery.Message, entry.Delivery.EnqueuedAt, next);
                if (_inFlight.TryUpdate(id, new InFlight<T>(again, consumer, Time.GetTimestamp()), entry))
                {
                    _bus._telemetry.RecordReclaimed(Name);
                    into.Add(again);
                    claimed++;
                }
            }

            foreach (var entry in exhausted ?? [])
            {
                await DeadLetterAsync(entry.Delivery, "delivered without acknowledgement " + entry.Delivery.DeliveryCount.ToString(CultureInfo.InvariantCulture) + " times");
            }

            return claimed;
        }

        private async ValueTask DeadLetterAsync(BusDelivery<T> delivery, string reason)
        {
            Interlocked.Increment(ref _deadLettered);
            _bus._telemetry.RecordDeadLettered(Name);
            var id = string.Create(CultureInfo.InvariantCulture, $"{Name}:{Interlocked.Increment(ref _deadSequence)}");
            var entry = new DeadEntry<T>(id, delivery, _group ?? string.Empty, reason, Time.GetUtcNow());
            List<DeadEntry<T>>? evicted = null;
            lock (_deadLock)
            {
                _deadLetters.Add(entry);
                while (_deadLetters.Count > Options.DeadLetterCapacity)
                {
                    (evicted ??= []).Add(_deadLetters[0]);
                    _deadLetters.RemoveAt(0);
                }
            }

            foreach (var old in evicted ?? [])
            {
                (old.Delivery.Message as FrameMessage)?.Release();
            }

            if (delivery.Message is FrameMessage)
            {
                // Counted as dropped now; the pixels stay with the dead letter so a replay can process the frame.
                _dropped.AddOrUpdate(DropReasons.DeadLetter, 1, static (_, c) => c + 1);
                await _bus.RecordDropAsync(delivery.Message, Name, DropReasons.DeadLetter, release: false);
            }
        }

        private async ValueTask NackAsync(BusDelivery<T> delivery, string reason, CancellationToken cancellationToken)
        {
            // Only the holder of this very delivery may give it back (it may have been reclaimed meanwhile).
            if (!_inFlight.TryGetValue(delivery.Id, out var entry) || !ReferenceEquals(entry.Delivery, delivery) ||
                !_inFlight.TryRemove(new KeyValuePair<string, InFlight<T>>(delivery.Id, entry)))
            {
                return;
            }

            if (delivery.DeliveryCount >= Options.MaxDeliveries)
            {
                await DeadLetterAsync(delivery, reason);
                return;
            }

            // Redelivery counts as a new delivery when it is read again.
            var again = new BusDelivery<T>(delivery.Id, delivery.Message, delivery.EnqueuedAt, delivery.DeliveryCount + 1);
            await _channel.Writer.WriteAsync(again, cancellationToken);
        }

        private sealed class Subscription(TopicState<T> state, string group, string consumer) : IBusSubscription<T>
        {
            public string Topic => state.Name;

            public string Group => group;

            public string Consumer => consumer;

            public ValueTask<int> ReadAsync(List<BusDelivery<T>> into, int maxCount, CancellationToken cancellationToken) =>
                state.ReadAsync(consumer, into, maxCount, cancellationToken);

            public ValueTask AckAsync(BusDelivery<T> delivery, CancellationToken cancellationToken = default)
            {
                if (state._inFlight.TryRemove(delivery.Id, out _))
                {
                    Interlocked.Increment(ref state._acknowledged);
                }

                return ValueTask.CompletedTask;
            }

            public ValueTask NackAsync(BusDelivery<T> delivery, string reason, CancellationToken cancellationToken = default) =>
                state.NackAsync(delivery, reason, cancellationToken);

            public ValueTask DisposeAsync()
            {
                // Hand over what this consumer still holds: claimable by the next reader right away.
                foreach (var (id, entry) in state._inFlight)
                {
                    if (string.Equals(entry.Consumer, consumer, StringComparison.Ordinal))
                    {
                        state._inFlight.TryUpdate(id, entry with { DeliveredAt = state.ClaimableNow() }, entry);
                    }
                }

                state._consumers.TryRemove(consumer, out _);
                return ValueTask.CompletedTask;
            }
        }
    }
}
