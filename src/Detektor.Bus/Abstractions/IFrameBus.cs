namespace Detektor.Bus.Abstractions;

/// <summary>
/// Moves frames, results and lifecycle events between pipeline stages, in process or across machines. Every queue is
/// bounded; what a perishable topic drops is counted with a reason and recorded in the frame's lifecycle; durable topics
/// never drop. Consumers in one group compete for messages; a message is done when acknowledged.
/// </summary>
public interface IFrameBus
{
    /// <summary>Publishes a message. On a durable topic this waits while the queue is full.</summary>
    ValueTask PublishAsync<T>(Topic<T> topic, T message, CancellationToken cancellationToken = default)
        where T : class;

    /// <summary>Joins consumer group <paramref name="group"/> on a topic as <paramref name="consumer"/>.</summary>
    IBusSubscription<T> Subscribe<T>(Topic<T> topic, string group, string consumer)
        where T : class;

    /// <summary>Depth, capacity and counters of every topic, for the API and health checks.</summary>
    BusSnapshot GetSnapshot();

    /// <summary>
    /// True when queued messages outlive this process (Redis); false when they die with it (in process), in which case
    /// consumers record what is still queued at shutdown as dropped with reason <c>shutdown</c>.
    /// </summary>
    bool SurvivesRestart { get; }
}

/// <summary>A consumer's view of a topic.</summary>
public interface IBusSubscription<T> : IAsyncDisposable
    where T : class
{
    string Topic { get; }

    string Group { get; }

    string Consumer { get; }

    /// <summary>
    /// Waits until at least one message is available, then moves up to <paramref name="maxCount"/> into
    /// <paramref name="into"/> and returns how many. Returns 0 when the topic is completed (shutdown) and empty.
    /// </summary>
    ValueTask<int> ReadAsync(List<BusDelivery<T>> into, int maxCount, CancellationToken cancellationToken);

    /// <summary>Marks a delivery done: it will not be delivered again.</summary>
    ValueTask AckAsync(BusDelivery<T> delivery, CancellationToken cancellationToken = default);

    /// <summary>Gives a delivery back for another attempt, or to the dead letters once attempts are exhausted.</summary>
    ValueTask NackAsync(BusDelivery<T> delivery, string reason, CancellationToken cancellationToken = default);
}

/// <summary>One delivery of a message to a consumer.</summary>
public sealed class BusDelivery<T>
    where T : class
{
    public BusDelivery(string id, T message, DateTimeOffset enqueuedAt, int deliveryCount)
    {
        Id = id;
        Message = message;
        EnqueuedAt = enqueuedAt;
        DeliveryCount = deliveryCount;
    }

    /// <summary>Transport id of the message (a sequence number in process, a stream entry id in Redis).</summary>
    public string Id { get; }

    public T Message { get; }

    public DateTimeOffset EnqueuedAt { get; }

    /// <summary>1 on first delivery, more on redelivery.</summary>
    public int DeliveryCount { get; }
}

public sealed record BusSnapshot(string Transport, IReadOnlyList<TopicSnapshot> Topics);

public sealed record TopicSnapshot(
    string Name,
    TopicDurability Durability,
    long Depth,
    long Capacity,
    long Published,
    long Delivered,
    long Acknowledged,
    long InFlight,
    long DeadLetters,
    IReadOnlyDictionary<string, long> DroppedByReason,
    IReadOnlyList<string> Consumers);
