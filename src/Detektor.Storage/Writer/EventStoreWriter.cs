using System.Diagnostics;
using System.Globalization;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Telemetry;
using Detektor.Core;
using Detektor.Core.Hosting;
using Detektor.Core.Hosting.Supervision;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Telemetry;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Telemetry;
using Microsoft.Extensions.Options;

namespace Detektor.Storage.Writer;

/// <summary>
/// The store role: consumes the <c>lifecycle</c> and <c>results</c> topics and hands them, in bounded batches (at most
/// <see cref="StorageOptions.BatchSize"/> events, after at most <see cref="StorageOptions.FlushIntervalMs"/> of
/// coalescing), to the <see cref="StoreOutbox"/>. A result becomes the frame's <c>stored</c> event (with a <c>store</c>
/// span in the frame's trace) plus its detections. Deliveries are acknowledged only once their batch is durable —
/// committed to the database, or journaled to disk while the database is unreachable — so nothing is lost. At shutdown
/// it drains what is queued, then lets the outbox finish.
/// </summary>
public sealed class EventStoreWriter : PipelineWorker
{
    public const string ConsumerGroup = "store";

    private readonly IFrameBus _bus;
    private readonly StoreOutbox _outbox;
    private readonly BusTelemetry _busTelemetry;
    private readonly StorageTelemetry _telemetry;
    private readonly ServiceIdentity _service;
    private readonly TimeProvider _time;
    private readonly StorageOptions _options;
    private long _batchesWritten;

    public EventStoreWriter(
        IFrameBus bus,
        StoreOutbox outbox,
        BusTelemetry busTelemetry,
        StorageTelemetry telemetry,
        ServiceIdentity service,
        TimeProvider time,
        IOptions<StorageOptions> options,
        LoopSupervisor? supervisor = null)
        : base(supervisor, "store:writer")
    {
        _bus = bus;
        _outbox = outbox;
        _busTelemetry = busTelemetry;
        _telemetry = telemetry;
        _service = service;
        _time = time;
        _options = options.Value;
    }

    /// <summary>Batches made durable so far (committed or journaled; for tests and diagnostics).</summary>
    public long BatchesWritten => Interlocked.Read(ref _batchesWritten);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // First the consumers stop and drain the bus into the outbox, then the outbox writes or journals what it holds.
        await base.StopAsync(cancellationToken);
        await _outbox.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _outbox.Start();
        var consumer = _service.InstanceId;
        await using var lifecycle = _bus.Subscribe(Topics.Lifecycle, ConsumerGroup, consumer);
        await using var results = _bus.Subscribe(Topics.Results, ConsumerGroup, consumer);
        await Task.WhenAll(
            RunAsync(lifecycle, ToEvents, stoppingToken),
            RunAsync(results, ToStored, stoppingToken));
    }

    private async Task RunAsync<T>(IBusSubscription<T> subscription, Func<List<BusDelivery<T>>, StoreBatch> toBatch, CancellationToken stoppingToken)
        where T : class
    {
        var deliveries = new List<BusDelivery<T>>(_options.BatchSize);
        var flush = TimeSpan.FromMilliseconds(_options.FlushIntervalMs);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await ReadBatchAsync(subscription, deliveries, flush, stoppingToken) == 0)
                {
                    break; // topic completed
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            await WriteAsync(subscription, deliveries, toBatch, CancellationToken.None);
        }

        // Drain: everything still queued in this process is written before the store stops — including deliveries a
        // cancelled coalescing window had already taken.
        while (true)
        {
            if (deliveries.Count < _options.BatchSize)
            {
                using var drainTimeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
                try
                {
                    await subscription.ReadAsync(deliveries, _options.BatchSize - deliveries.Count, drainTimeout.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }

            if (deliveries.Count == 0)
            {
                break;
            }

            await WriteAsync(subscription, deliveries, toBatch, CancellationToken.None);
        }
    }

    private async Task<int> ReadBatchAsync<T>(IBusSubscription<T> subscription, List<BusDelivery<T>> deliveries, TimeSpan flush, CancellationToken stoppingToken)
        where T : class
    {
        var count = await subscription.ReadAsync(deliveries, _options.BatchSize, stoppingToken);
        if (count == 0 || flush <= TimeSpan.Zero || count >= _options.BatchSize)
        {
            return count;
        }

        // Coalesce: give the batch a short while to fill before writing it.
        using var window = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        window.CancelAfter(flush);
        try
        {
            while (deliveries.Count < _options.BatchSize)
            {
                if (await subscription.ReadAsync(deliveries, _options.BatchSize - deliveries.Count, window.Token) == 0)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
        }

        return deliveries.Count;
    }

    private async Task WriteAsync<T>(IBusSubscription<T> subscription, List<BusDelivery<T>> deliveries, Func<List<BusDelivery<T>>, StoreBatch> toBatch, CancellationToken cancellationToken)
        where T : class
    {
        var batch = toBatch(deliveries);
        var taken = deliveries.ToArray();
        deliveries.Clear();
        await _outbox.SubmitAsync(batch, async () =>
        {
            // Durable now (committed or journaled): only now may the bus forget the messages.
            foreach (var delivery in taken)
            {
                await subscription.AckAsync(delivery, CancellationToken.None);
            }

            if (typeof(T) == typeof(FrameResult))
            {
                foreach (var e in batch.Events)
                {
                    _busTelemetry.RecordFrameEvent(e);
                }
            }

            Interlocked.Increment(ref _batchesWritten);
        }, cancellationToken);
    }

    private static StoreBatch ToEvents(List<BusDelivery<FrameEvent>> deliveries)
    {
        var events = new FrameEvent[deliveries.Count];
        for (var i = 0; i < deliveries.Count; i++)
        {
            events[i] = deliveries[i].Message;
        }

        return new StoreBatch(events, []);
    }

    private StoreBatch ToStored(List<BusDelivery<FrameResult>> deliveries)
    {
        var events = new List<FrameEvent>(deliveries.Count);
        var detections = new List<DetectionRecord>();
        List<TrackedObjectEvent>? tracks = null;
        HashSet<Guid>? storedIds = null;
        var now = _time.GetUtcNow();
        foreach (var delivery in deliveries)
        {
            var result = delivery.Message;
            var metadata = result.Metadata;
            foreach (var t in result.TrackEvents)
            {
                (tracks ??= []).Add(TrackedObjectEvents.From(t, metadata.CameraId));
            }

            if (result.TrackEventsOnly)
            {
                continue; // the tracker's closing events: that frame has its own result, stored already
            }

            using var span = StorageTelemetry.ActivitySource.StartActivity(
                SpanNames.Store, ActivityKind.Consumer, metadata.Trace.ToActivityContext(), startTime: delivery.EnqueuedAt);
            if (span is { IsAllDataRequested: true })
            {
                span.SetTag(SemanticAttributes.FrameId, metadata.FrameId.ToString());
                span.SetTag(SemanticAttributes.CameraId, metadata.CameraId);
                span.SetTag(SemanticAttributes.PipelineStage, Stages.Store);
                span.SetTag(SemanticAttributes.DetectionCount, result.Detections.Count);
            }

            var latency = now - metadata.CaptureTime;
            var data = string.Create(
                CultureInfo.InvariantCulture,
                $"{{\"outcome\":\"{OutcomeName(result.Outcome)}\",\"detections\":{result.Detections.Count},\"latency_ms\":{latency.TotalMilliseconds:0.###}}}");
            // One stored event per frame, whatever the bus redelivers: its id comes from the frame (detections hang on it).
            var stored = FrameEvent.Create(
                FrameEventType.Stored, metadata, Stages.Store, _service.Name, now, span,
                duration: now - result.CompletedAt, reason: result.Outcome == FrameOutcome.Processed ? null : result.Reason, data: data)
                with { EventId = FrameEvent.OncePerFrameId(metadata, FrameEventType.Stored) };
            events.Add(stored);
            _telemetry.RecordLatency(metadata.CameraId, latency);
            // A result redelivered into the same batch: its stored event is dropped by id, its detections must not be copied twice.
            if (result.Detections.Count > 0 && (storedIds ??= []).Add(stored.EventId))
            {
                var frameId = metadata.FrameId.ToString();
                foreach (var d in result.Detections)
                {
                    detections.Add(new DetectionRecord(
                        frameId, metadata.CameraId, metadata.CaptureTime, d.Label, d.Confidence, d.Box.X, d.Box.Y, d.Box.Width, d.Box.Height,
                        d.Source, d.TrackId, stored.EventId));
                }
            }
        }

        return new StoreBatch(events, detections, tracks);
    }

    private static string OutcomeName(FrameOutcome outcome) => outcome switch
    {
        FrameOutcome.Processed => "processed",
        FrameOutcome.Skipped => "skipped",
        _ => "failed",
    };
}
