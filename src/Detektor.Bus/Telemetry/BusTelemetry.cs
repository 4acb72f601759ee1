using System.Diagnostics;
using System.Diagnostics.Metrics;
using Detektor.Core.Lifecycle;
using Detektor.Core.Telemetry;

namespace Detektor.Bus.Telemetry;

/// <summary>
/// Telemetry of the bus and of the frame lifecycle (every lifecycle event passes through the bus, so the frame counters
/// live here): one place that owns the meter and its instruments.
/// </summary>
public sealed class BusTelemetry : IDisposable
{
    public static readonly ActivitySource ActivitySource = new(TelemetryNames.Bus);

    private readonly Meter _meter;
    private readonly Counter<long> _frameEvents;
    private readonly Counter<long> _captured;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _skipped;
    private readonly Counter<long> _stored;
    private readonly Counter<long> _failed;
    private readonly Histogram<double> _stageDuration;
    private readonly Counter<long> _published;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _reclaimed;
    private readonly Counter<long> _replayed;
    private readonly Counter<long> _trimmed;
    private readonly Counter<long> _transportErrors;
    private readonly Counter<long> _breakerTransitions;
    private readonly Counter<long> _spilled;
    private readonly Counter<long> _spillReplayed;
    private readonly Counter<long> _spillFull;

    public BusTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(TelemetryNames.Bus);
        _frameEvents = _meter.CreateCounter<long>("detektor.frame.events", "{event}", "Frame lifecycle events recorded, by type and stage.");
        _captured = _meter.CreateCounter<long>("detektor.frames.captured", "{frame}", "Frames read from cameras.");
        _dropped = _meter.CreateCounter<long>("detektor.frames.dropped", "{frame}", "Frames dropped, by stage and reason.");
        _skipped = _meter.CreateCounter<long>("detektor.frames.skipped", "{frame}", "Frames skipped on purpose, by stage and reason.");
        _stored = _meter.CreateCounter<long>("detektor.frames.stored", "{frame}", "Frames whose result reached the event store.");
        _failed = _meter.CreateCounter<long>("detektor.frames.failed", "{frame}", "Frames a processor failed on, by stage.");
        _stageDuration = _meter.CreateHistogram(
            "detektor.frame.stage.duration",
            "s",
            "Time a frame spent in a stage (queue wait, a processor, the store).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _published = _meter.CreateCounter<long>("detektor.bus.messages.published", "{message}", "Messages published, by topic.");
        _deadLettered = _meter.CreateCounter<long>("detektor.bus.messages.dead_lettered", "{message}", "Messages moved to dead letters, by topic.");
        _reclaimed = _meter.CreateCounter<long>(
            "detektor.bus.messages.reclaimed", "{message}", "Deliveries left unacknowledged past the claim idle time and handed to another consumer, by topic.");
        _replayed = _meter.CreateCounter<long>("detektor.bus.messages.replayed", "{message}", "Dead letters published again, by topic.");
        _trimmed = _meter.CreateCounter<long>(
            "detektor.bus.messages.trimmed", "{message}", "Frames trimmed from a Redis stream before a consumer group got them (each also counted as dropped), by topic.");
        _transportErrors = _meter.CreateCounter<long>("detektor.bus.transport.errors", "{error}", "Failed calls to the bus transport (Redis), by operation; they are retried.");
        _breakerTransitions = _meter.CreateCounter<long>("detektor.bus.breaker.transitions", "{transition}", "Backpressure breaker state changes, by the state entered.");
        _spilled = _meter.CreateCounter<long>(
            "detektor.bus.lifecycle_spill.spilled", "{event}", "Lifecycle events written to the local spill because Redis could not take them.");
        _spillReplayed = _meter.CreateCounter<long>(
            "detektor.bus.lifecycle_spill.replayed", "{event}", "Spilled lifecycle events published to Redis once it was back.");
        _spillFull = _meter.CreateCounter<long>(
            "detektor.bus.lifecycle_spill.full", "{event}", "Lifecycle events that found the spill at its bound, by what happened to them (waited, dropped).");
    }

    /// <summary>Bucket bounds in seconds, from 100 µs to 10 s.</summary>
    public static IReadOnlyList<double> DurationBuckets { get; } =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    public Meter Meter => _meter;

    public void RecordFrameEvent(FrameEvent e)
    {
        var tags = new TagList
        {
            { "event.type", e.Type.ToWireName() },
            { SemanticAttributes.PipelineStage, e.Stage },
        };
        _frameEvents.Add(1, tags);

        switch (e.Type)
        {
            case FrameEventType.Captured:
                _captured.Add(1, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, e.CameraId));
                break;
            case FrameEventType.Dropped:
                _dropped.Add(1, new TagList
                {
                    { SemanticAttributes.CameraId, e.CameraId },
                    { SemanticAttributes.PipelineStage, e.Stage },
                    { SemanticAttributes.Reason, e.Reason },
                });
                break;
            case FrameEventType.Skipped:
                _skipped.Add(1, new TagList
                {
                    { SemanticAttributes.CameraId, e.CameraId },
                    { SemanticAttributes.PipelineStage, e.Stage },
                    { SemanticAttributes.Reason, e.Reason },
                });
                break;
            case FrameEventType.ProcessingFailed:
                _failed.Add(1, new TagList
                {
                    { SemanticAttributes.CameraId, e.CameraId },
                    { SemanticAttributes.PipelineStage, e.Stage },
                });
                break;
            case FrameEventType.Stored:
                _stored.Add(1, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, e.CameraId));
                break;
        }

        if (e.Duration is { } duration && e.Type is FrameEventType.Dequeued or FrameEventType.ProcessingCompleted or FrameEventType.Stored or FrameEventType.Captured)
        {
            _stageDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>(SemanticAttributes.PipelineStage, StageLabel(e)));
        }
    }

    public void RecordPublished(string topic) => _published.Add(1, new KeyValuePair<string, object?>(SemanticAttributes.QueueName, topic));

    public void RecordDeadLettered(string topic) => _deadLettered.Add(1, new KeyValuePair<string, object?>(SemanticAttributes.QueueName, topic));

    /// <summary>Observes queue depths through a callback (called at collection time only).</summary>
    public void ObserveQueues(Func<IEnumerable<Measurement<long>>> depth, Func<IEnumerable<Measurement<long>>> capacity)
    {
        _meter.CreateObservableGauge("detektor.bus.queue.depth", depth, "{message}", "Messages waiting in a topic's queue.");
        _meter.CreateObservableGauge("detektor.bus.queue.capacity", capacity, "{message}", "Bound of a topic's queue.");
    }

    public void RecordReclaimed(string topic, long count = 1) => _reclaimed.Add(count, new KeyValuePair<string, object?>(SemanticAttributes.QueueName, topic));

    public void RecordReplayed(string topic) => _replayed.Add(1, new KeyValuePair<string, object?>(SemanticAttributes.QueueName, topic));

    public void RecordTrimmed(string topic, long count) => _trimmed.Add(count, new KeyValuePair<string, object?>(SemanticAttributes.QueueName, topic));

    public void RecordTransportError(string operation) => _transportErrors.Add(1, new KeyValuePair<string, object?>("operation", operation));

    public void RecordBreakerTransition(string state) => _breakerTransitions.Add(1, new KeyValuePair<string, object?>("state", state));

    /// <summary>Observes per-group lag, pending and lag age from a snapshot (called at collection time only).</summary>
    public void ObserveGroups(Func<IEnumerable<GroupMeasurement>> groups)
    {
        _meter.CreateObservableGauge(
            "detektor.bus.consumer.lag",
            () => Measure(groups(), static g => g.Lag),
            "{message}",
            "Messages a consumer group has not been handed yet, by topic and group.");
        _meter.CreateObservableGauge(
            "detektor.bus.consumer.pending",
            () => Measure(groups(), static g => g.Pending),
            "{message}",
            "Messages handed to a group's consumers and not yet acknowledged, by topic and group.");
        _meter.CreateObservableGauge(
            "detektor.bus.consumer.lag_age",
            () => MeasureAge(groups()),
            "s",
            "Age of the oldest message a consumer group has not been handed yet, by topic and group.");
    }

    /// <summary>Observes the backpressure breaker: 1 open, 0 closed, and the fill it watches.</summary>
    public void ObserveBreaker(Func<int> open, Func<double> fill)
    {
        _meter.CreateObservableGauge("detektor.bus.breaker.open", open, "{breaker}", "1 while the backpressure breaker is open (capture lowers its rate), else 0.");
        _meter.CreateObservableGauge("detektor.bus.breaker.fill", fill, "1", "Fill of the frames queues the breaker watches (depth / capacity, 0–1).");
    }

    public void RecordSpilled() => _spilled.Add(1);

    public void RecordSpillReplayed(long count) => _spillReplayed.Add(count);

    /// <summary>An event found the spill full; <paramref name="action"/> is <c>waited</c> or <c>dropped</c>.</summary>
    public void RecordSpillFull(string action) => _spillFull.Add(1, new KeyValuePair<string, object?>("action", action));

    /// <summary>Observes the lifecycle spill: events and bytes waiting for replay.</summary>
    public void ObserveSpill(Func<long> events, Func<long> bytes)
    {
        _meter.CreateObservableGauge("detektor.bus.lifecycle_spill.events", events, "{event}", "Lifecycle events in the local spill, waiting for Redis.");
        _meter.CreateObservableGauge("detektor.bus.lifecycle_spill.size", bytes, "By", "Bytes of the local lifecycle spill on disk.");
    }

    /// <summary>The per-group numbers of a snapshot, as gauge inputs.</summary>
    public static IEnumerable<GroupMeasurement> GroupMeasurements(Abstractions.BusSnapshot snapshot)
    {
        foreach (var topic in snapshot.Topics)
        {
            foreach (var group in topic.Groups)
            {
                yield return new GroupMeasurement(topic.Name, group.Name, group.Lag, group.Pending, group.LagAge);
            }
        }
    }

    public void Dispose() => _meter.Dispose();

    private static IEnumerable<Measurement<long>> Measure(IEnumerable<GroupMeasurement> groups, Func<GroupMeasurement, long> value)
    {
        foreach (var g in groups)
        {
            yield return new Measurement<long>(value(g), Tags(g));
        }
    }

    private static IEnumerable<Measurement<double>> MeasureAge(IEnumerable<GroupMeasurement> groups)
    {
        foreach (var g in groups)
        {
            yield return new Measurement<double>(g.LagAge.TotalSeconds, Tags(g));
        }
    }

    private static TagList Tags(GroupMeasurement g) => new()
    {
        { SemanticAttributes.QueueName, g.Topic },
        { "messaging.consumer.group.name", g.Group },
    };

    private static string StageLabel(FrameEvent e) => e.Type == FrameEventType.Dequeued ? "queue" : e.Stage;
}

/// <summary>One consumer group's gauges.</summary>
public readonly record struct GroupMeasurement(string Topic, string Group, long Lag, long Pending, TimeSpan LagAge);
