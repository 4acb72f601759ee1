using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Threading.Channels;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Telemetry;
using Detektor.Core;
using Detektor.Core.Messages;
using Microsoft.Extensions.Options;

namespace Detektor.Bus.InProcess;

/// <summary>
/// The embedded bus: one bounded <see cref="Channel{T}"/> per topic, shared by the consumers of one group (competing
/// consumers). Perishable topics evict their oldest message when full (recorded as <c>dropped</c>, reason
/// <c>queue_full</c>); durable topics make publishers wait. Nacked messages are redelivered up to
/// <see cref="BusOptions.MaxDeliveries"/> times, then dead-lettered.
/// </summary>
public sealed class InProcessFrameBus : IFrameBus
{
    private readonly ConcurrentDictionary<string, ITopicState> _topics = new(StringComparer.Ordinal);
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
    }

    public bool SurvivesRestart => false;

    public ValueTask PublishAsync<T>(Topic<T> topic, T message, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
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
        return new BusSnapshot("inprocess", topics);
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

    private async ValueTask RecordDropAsync(object message, string topic, string reason)
    {
        var dropped = DropAccounting.CreateDroppedEvent(message, topic, reason, _service, _time.GetUtcNow());
        (message as FrameMessage)?.Release();
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

        long Depth { get; }

        long Capacity { get; }

        TopicSnapshot Snapshot();

        void Complete();
    }

    private sealed class TopicState<T> : ITopicState
        where T : class
    {
        private readonly InProcessFrameBus _bus;
        private readonly Topic<T> _topic;
        private readonly Channel<BusDelivery<T>> _channel;
        private readonly ConcurrentDictionary<string, long> _dropped = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, byte> _consumers = new(StringComparer.Ordinal);
        private readonly ConcurrentQueue<(T Message, string Reason)> _deadLetters = new();
        private string? _group;
        private long _sequence;
        private long _published;
        private long _delivered;
        private long _acknowledged;
        private long _settled;
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

        public long Depth => _channel.Reader.Count;

        public long Capacity { get; }

        public async ValueTask PublishAsync(T message, CancellationToken cancellationToken)
        {
            var now = _bus._time.GetUtcNow();
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
                        _dropped.AddOrUpdate(Core.Lifecycle.DropReasons.QueueFull, 1, static (_, c) => c + 1);
                        await _bus.RecordDropAsync(oldest.Message, Name, Core.Lifecycle.DropReasons.QueueFull);
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
            var delivered = Interlocked.Read(ref _delivered);
            var acked = Interlocked.Read(ref _acknowledged);
            return new TopicSnapshot(
                Name,
                _topic.Durability,
                Depth,
                Capacity,
                Interlocked.Read(ref _published),
                delivered,
                acked,
                InFlight: Math.Max(0, delivered - Interlocked.Read(ref _settled)),
                DeadLetters: Interlocked.Read(ref _deadLettered),
                DroppedByReason: new Dictionary<string, long>(_dropped, StringComparer.Ordinal),
                Consumers: [.. _consumers.Keys.Order(StringComparer.Ordinal)]);
        }

        public void Complete() => _channel.Writer.TryComplete();

        private async ValueTask NackAsync(BusDelivery<T> delivery, string reason, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _settled);
            if (delivery.DeliveryCount >= _bus._options.MaxDeliveries)
            {
                Interlocked.Increment(ref _deadLettered);
                _bus._telemetry.RecordDeadLettered(Name);
                _deadLetters.Enqueue((delivery.Message, reason));
                while (_deadLetters.Count > _bus._options.DeadLetterCapacity && _deadLetters.TryDequeue(out var old))
                {
                    (old.Message as FrameMessage)?.Release();
                }

                if (delivery.Message is FrameMessage)
                {
                    _dropped.AddOrUpdate(Core.Lifecycle.DropReasons.DeadLetter, 1, static (_, c) => c + 1);
                    await _bus.RecordDropAsync(delivery.Message, Name, Core.Lifecycle.DropReasons.DeadLetter);
                }

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

            public async ValueTask<int> ReadAsync(List<BusDelivery<T>> into, int maxCount, CancellationToken cancellationToken)
            {
                ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
                var reader = state._channel.Reader;
                var count = 0;
                while (count == 0)
                {
                    while (count < maxCount && reader.TryRead(out var delivery))
                    {
                        into.Add(delivery);
                        count++;
                    }

                    if (count > 0 || !await reader.WaitToReadAsync(cancellationToken))
                    {
                        break;
                    }
                }

                Interlocked.Add(ref state._delivered, count);
                return count;
            }

            public ValueTask AckAsync(BusDelivery<T> delivery, CancellationToken cancellationToken = default)
            {
                Interlocked.Increment(ref state._acknowledged);
                Interlocked.Increment(ref state._settled);
                return ValueTask.CompletedTask;
            }

            public ValueTask NackAsync(BusDelivery<T> delivery, string reason, CancellationToken cancellationToken = default) =>
                state.NackAsync(delivery, reason, cancellationToken);

            public ValueTask DisposeAsync()
            {
                state._consumers.TryRemove(consumer, out _);
                return ValueTask.CompletedTask;
            }
        }
    }
}
