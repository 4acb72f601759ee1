namespace Detektor.Bus.Abstractions;

/// <summary>
/// Moves frames, results and lifecycle events between pipeline stages, in process or across machines. Every queue is
/// bounded; what a perishable topic drops is counted with a reason and recorded in the frame's lifecycle; durable topics
/// never drop. Consumers in one group compete for messages; a message is done when acknowledged. A delivery that is
/// neither acknowledged nor given back within <see cref="BusOptions.ClaimIdleMs"/> (its consumer crashed, hung, or an
/// HTTP lease expired) is handed to another consumer of the group, with <see cref="BusDelivery{T}.DeliveryCount"/> one
/// higher; after <see cref="BusOptions.MaxDeliveries"/> deliveries it goes to the dead letters.
/// </summary>
/// <remarks>
/// Publishing a <see cref="Core.Messages.FrameMessage"/> hands its pixel reference to the bus: the bus releases it once the
/// frame is sent (Redis) or the consumer releases it (in process). Delivery is at least once: a consumer may see a
/// message again after a crash, so handlers of durable topics must be idempotent (event ids are).
/// </remarks>
public interface IFrameBus
{
    /// <summary>Publishes a message. On a durable topic this waits while the queue is full (or the transport is down).</summary>
    ValueTask PublishAsync<T>(Topic<T> topic, T message, CancellationToken cancellationToken = default)
        where T : class;

    /// <summary>Joins consumer group <paramref name="group"/> on a topic as <paramref name="consumer"/>.</summary>
    IBusSubscription<T> Subscribe<T>(Topic<T> topic, string group, string consumer)
        where T : class;

    /// <summary>
    /// Depth, capacity and counters of every topic as last known: live in process; for Redis the view refreshed every
    /// <c>Detektor:Bus:Redis:MonitorIntervalMs</c> (cheap, for health checks, gauges and the backpressure gate).
    /// </summary>
    BusSnapshot GetSnapshot();

    /// <summary>
    /// Undelivered messages ÷ capacity of the fullest perishable topic, 0–1: what the backpressure gate reads before
    /// every frame. By default from <see cref="GetSnapshot"/>; a transport whose snapshot is costly to build answers
    /// from its counters.
    /// </summary>
    double PerishableFill() => GetSnapshot().PerishableFill();

    /// <summary>The same as <see cref="GetSnapshot"/>, read from the transport now (for the API).</summary>
    ValueTask<BusSnapshot> GetSnapshotAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// True when queued messages outlive this process (Redis); false when they die with it (in process), in which case
    /// consumers record what is still queued at shutdown as dropped with reason <c>shutdown</c>.
    /// </summary>
    bool SurvivesRestart { get; }

    /// <summary>Dead letters of every topic, newest first.</summary>
    ValueTask<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Publishes a dead letter again on its topic (as a new message, first delivery) and removes it from the dead letters.
    /// Returns false when no dead letter has that id.
    /// </summary>
    ValueTask<bool> ReplayDeadLetterAsync(string id, CancellationToken cancellationToken = default);
}

/// <summary>A consumer's view of a topic.</summary>
public interface IBusSubscription<T> : IAsyncDisposable
    where T : class
{
    string Topic { get; }

    string Group { get; }

    string Consumer { get; }

    /// <summary>
    /// Waits until at least one message is available (new, or reclaimed from a consumer that let it sit longer than the
    /// claim idle time), then moves up to <paramref name="maxCount"/> into <paramref name="into"/> and returns how many.
    /// Returns 0 when the topic is completed (in-process shutdown) and empty. Transport outages are waited out, not thrown.
    /// </summary>
    ValueTask<int> ReadAsync(List<BusDelivery<T>> into, int maxCount, CancellationToken cancellationToken);

    /// <summary>Marks a delivery done: it will not be delivered again. Call it after the work is done.</summary>
    ValueTask AckAsync(BusDelivery<T> delivery, CancellationToken cancellationToken = default);

    /// <summary>Marks several deliveries done (Redis: one round trip per stream instead of one per delivery).</summary>
    async ValueTask AckAsync(IReadOnlyList<BusDelivery<T>> deliveries, CancellationToken cancellationToken = default)
    {
        foreach (var delivery in deliveries)
        {
            await AckAsync(delivery, cancellationToken);
        }
    }

    /// <summary>Gives a delivery back for another attempt now, or to the dead letters once attempts are exhausted.</summary>
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

    /// <summary>The stream the message came from when a subscription reads several (Redis capability routes); else null.</summary>
    public string? Source { get; init; }
}

/// <summary>What the bus knows about its topics at <see cref="TakenAt"/>.</summary>
public sealed record BusSnapshot(string Transport, IReadOnlyList<TopicSnapshot> Topics)
{
    public DateTimeOffset TakenAt { get; init; }

    /// <summary>False when the transport could not be read (Redis down); the numbers are then the last known.</summary>
    public bool Available { get; init; } = true;

    /// <summary>
    /// Every <c>dropped</c> lifecycle event that passed the bus, by stage and reason — drops anywhere in the pipeline, not
    /// only the bus's own. For Redis these are totals over all processes.
    /// </summary>
    public IReadOnlyList<ReasonCount> Drops { get; init; } = [];

    /// <summary>Every <c>skipped</c> lifecycle event that passed the bus, by stage and reason.</summary>
    public IReadOnlyList<ReasonCount> Skips { get; init; } = [];

    public static BusSnapshot Empty(string transport) => new(transport, []);

    /// <summary>
    /// Undelivered frames ÷ capacity of the fullest perishable topic (frames and its capability routes): the fill the
    /// backpressure breaker watches. A method, not a property, so that the snapshot's JSON stays as it is.
    /// </summary>
    public double PerishableFill()
    {
        var fill = 0.0;
        foreach (var topic in Topics)
        {
            fill = Math.Max(fill, TopicSnapshot.PerishableFillOf(topic.Durability, topic.Depth, topic.Capacity));
        }

        return fill;
    }
}

public sealed record ReasonCount(string Stage, string Reason, long Count);

/// <summary>One topic. <see cref="Depth"/> is what waits for delivery (the slowest group's lag), the fill the breaker watches.</summary>
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
    IReadOnlyList<string> Consumers)
{
    /// <summary>Messages the transport holds for the topic: waiting, in flight, and (Redis) delivered but not yet trimmed.</summary>
    public long Length { get; init; }

    public IReadOnlyList<GroupSnapshot> Groups { get; init; } = [];

    /// <summary>One topic's part in <see cref="BusSnapshot.PerishableFill"/>: depth ÷ capacity (at most 1) when perishable, else 0.</summary>
    public static double PerishableFillOf(TopicDurability durability, long depth, long capacity) =>
        durability == TopicDurability.Perishable && capacity > 0 ? Math.Min((double)depth / capacity, 1.0) : 0;
}

/// <summary>A consumer group on a topic: what it has not been handed yet (lag) and what it holds unacknowledged (pending).</summary>
public sealed record GroupSnapshot(string Name, long Lag, long Pending, IReadOnlyList<ConsumerSnapshot> Consumers)
{
    /// <summary>Age of the oldest message the group has not been handed yet (0 when none): consumer lag in time.</summary>
    public TimeSpan LagAge { get; init; }
}

public sealed record ConsumerSnapshot(string Name, long Pending, TimeSpan Idle);

/// <summary>A message given up on after <see cref="Attempts"/> deliveries; it can be listed and replayed.</summary>
public sealed record DeadLetter(
    string Id,
    string Topic,
    string Group,
    string MessageId,
    string Reason,
    int Attempts,
    DateTimeOffset DeadLetteredAt)
{
    public string? FrameId { get; init; }

    public string? CameraId { get; init; }

    public long SizeBytes { get; init; }
}
