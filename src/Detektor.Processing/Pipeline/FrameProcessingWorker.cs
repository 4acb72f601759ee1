using System.Diagnostics;
using System.Globalization;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Lifecycle;
using Detektor.Core;
using Detektor.Core.Frames;
using Detektor.Core.Hosting;
using Detektor.Core.Hosting.Supervision;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Security;
using Detektor.Core.Telemetry;
using Detektor.Processing.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detektor.Processing.Pipeline;

/// <summary>
/// The process role. <see cref="ProcessingOptions.Concurrency"/> consumers share the <c>frames</c> topic; each frame runs
/// through the registered <see cref="FrameProcessor"/>s in order. For every frame it records <c>dequeued</c> (with the
/// queue wait), each processor's outcome, and publishes exactly one <see cref="FrameResult"/> (processed, skipped or
/// failed) before acknowledging it. Frames still queued in process at shutdown are recorded as dropped (<c>shutdown</c>).
/// </summary>
public sealed partial class FrameProcessingWorker : PipelineWorker
{
    private readonly IFrameBus _bus;
    private readonly FrameProcessor[] _processors;
    private readonly string[] _spanNames;
    private readonly string _chain;
    private readonly ILifecycleRecorder _recorder;
    private readonly ProcessingTelemetry _telemetry;
    private readonly ServiceIdentity _service;
    private readonly TimeProvider _time;
    private readonly ProcessingOptions _options;
    private readonly ILogger<FrameProcessingWorker> _logger;
    private readonly ProcessorBreakers? _breakers;
    private long _processed;

    public FrameProcessingWorker(
        IFrameBus bus,
        IEnumerable<FrameProcessor> processors,
        ILifecycleRecorder recorder,
        ProcessingTelemetry telemetry,
        ServiceIdentity service,
        TimeProvider time,
        IOptions<ProcessingOptions> options,
        ILogger<FrameProcessingWorker> logger,
        LoopSupervisor? supervisor = null,
        ProcessorBreakers? breakers = null)
        : base(supervisor)
    {
        _bus = bus;
        _processors = [.. processors];
        var duplicate = _processors.GroupBy(p => p.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"Two processors are named '{duplicate.Key}'; processor names must be unique.");
        }

        _spanNames = [.. _processors.Select(p => SpanNames.ProcessPrefix + p.Name)];
        _chain = string.Join(" -> ", _processors.Select(p => p.Name));
        _recorder = recorder;
        _telemetry = telemetry;
        _service = service;
        _time = time;
        _options = options.Value;
        _logger = logger;
        _breakers = breakers;
    }

    public IReadOnlyList<FrameProcessor> Processors => _processors;

    /// <summary>Frames that went through the chain (any outcome) in this process.</summary>
    public long FramesHandled => Interlocked.Read(ref _processed);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Log.Started(_logger, _options.Concurrency, _chain);
        var consumers = new Task[_options.Concurrency];
        for (var i = 0; i < consumers.Length; i++)
        {
            consumers[i] = Supervisor is { } supervisor
                ? SuperviseConsumerAsync(supervisor, i, stoppingToken)
                : ConsumeAsync(ConsumerName(i), null, stoppingToken);
        }

        try
        {
            await Task.WhenAll(consumers);
        }
        finally
        {
            await PublishClosingEventsAsync();
        }
    }

    /// <summary>After the last frame: what the processors close (objects still in view leave), each on a result of its own.</summary>
    private async Task PublishClosingEventsAsync()
    {
        foreach (var processor in _processors)
        {
            IReadOnlyList<ClosingEvents> closing;
            try
            {
                closing = processor.Close();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.CloseFailed(_logger, processor.Name, ex);
                continue;
            }

            foreach (var c in closing)
            {
                await _bus.PublishAsync(
                    Topics.Results,
                    new FrameResult
                    {
                        Metadata = c.LastFrame, Outcome = FrameOutcome.Processed, TrackEvents = c.TrackEvents, TrackEventsOnly = true, CompletedAt = _time.GetUtcNow(),
                    },
                    CancellationToken.None);
            }
        }
    }

    private async Task ConsumeAsync(string consumer, LoopContext? loop, CancellationToken stoppingToken)
    {
        await using var subscription = _bus.Subscribe(Topics.Frames, _options.ConsumerGroup, consumer);
        var held = loop is null ? null : new HeldDelivery();
        loop?.OnAbandoned(() => AbandonAsync(subscription, held!));
        var batch = new List<BusDelivery<FrameMessage>>(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await subscription.ReadAsync(batch, 1, stoppingToken) == 0)
                {
                    break;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            foreach (var delivery in batch)
            {
                held?.Hold(delivery);
                loop?.WorkStarted();
                await HandleAsync(subscription, delivery, held, loop, stoppingToken);
                loop?.WorkFinished();
            }

            batch.Clear();
        }

        // A run the supervisor cancelled as stalled is restarted: what is queued stays for the next run.
        if (!_bus.SurvivesRestart && loop?.StallDetected != true)
        {
            await DrainAsShutdownAsync(subscription, batch);
        }
    }

    /// <summary>Runs one frame through the chain. Public so tests and the HTTP dequeue API can drive a delivery directly.</summary>
    public Task HandleAsync(IBusSubscription<FrameMessage> subscription, BusDelivery<FrameMessage> delivery, CancellationToken stoppingToken) =>
        HandleAsync(subscription, delivery, null, null, stoppingToken);

    private async Task HandleAsync(
        IBusSubscription<FrameMessage> subscription, BusDelivery<FrameMessage> delivery, HeldDelivery? held, LoopContext? loop, CancellationToken stoppingToken)
    {
        var message = delivery.Message;
        var metadata = message.Metadata;
        var parent = metadata.Trace.ToActivityContext();
        var dequeuedAt = _time.GetUtcNow();
        _telemetry.InFlight(1);
        try
        {
            using (var queueSpan = ProcessingTelemetry.ActivitySource.StartActivity(SpanNames.Queue, ActivityKind.Consumer, parent, startTime: delivery.EnqueuedAt))
            {
                if (queueSpan is { IsAllDataRequested: true })
                {
                    queueSpan.SetTag(SemanticAttributes.FrameId, metadata.FrameId.ToString());
                    queueSpan.SetTag(SemanticAttributes.CameraId, metadata.CameraId);
                    queueSpan.SetTag(SemanticAttributes.QueueName, subscription.Topic);
                    queueSpan.SetTag(SemanticAttributes.PipelineStage, Stages.Bus);
                }

                await _recorder.RecordAsync(
                    FrameEvent.Create(FrameEventType.Dequeued, metadata, Stages.Bus, _service.Name, dequeuedAt, queueSpan, dequeuedAt - delivery.EnqueuedAt),
                    CancellationToken.None);
            }

            var context = new FrameContext(message) { QueueWait = dequeuedAt - delivery.EnqueuedAt };
            var outcome = FrameOutcome.Processed;
            string? reason = null;
            for (var i = 0; i < _processors.Length; i++)
            {
                (outcome, reason) = await RunProcessorAsync(i, context, parent, stoppingToken);
                if (outcome != FrameOutcome.Processed)
                {
                    await ObserveUnprocessedAsync(i + 1, context, stoppingToken);
                    break;
                }
            }

            var result = new FrameResult
            {
                Metadata = metadata,
                Outcome = outcome,
                Reason = reason,
                Detections = context.HasDetections ? context.Detections : [],
                TrackEvents = context.HasTrackEvents ? context.TrackEvents : [],
                CompletedAt = _time.GetUtcNow(),
            };
            message.Release();
            if (held is not null && !held.TryClaim(delivery))
            {
                return; // the supervisor gave up on this run and accounted the frame already
            }

            await _bus.PublishAsync(Topics.Results, result, CancellationToken.None);
            await subscription.AckAsync(delivery, CancellationToken.None);
            Interlocked.Increment(ref _processed);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            message.Release();
            if (held is not null && !held.TryClaim(delivery))
            {
                return;
            }

            if (!_bus.SurvivesRestart)
            {
                var dropReason = loop?.StallDetected == true ? DropReasons.Stalled : DropReasons.Shutdown;
                await _recorder.RecordAsync(
                    FrameEvent.Create(FrameEventType.Dropped, metadata, Stages.Process, _service.Name, _time.GetUtcNow(), reason: dropReason),
                    CancellationToken.None);
                await subscription.AckAsync(delivery, CancellationToken.None);
            }

            // On a bus that survives restarts the unacknowledged frame is redelivered to another consumer.
        }
        finally
        {
            _telemetry.InFlight(-1);
        }
    }

    /// <summary>Shows a frame the chain stopped on to the later processors that keep state across frames.</summary>
    private async Task ObserveUnprocessedAsync(int from, FrameContext context, CancellationToken stoppingToken)
    {
        for (var j = from; j < _processors.Length; j++)
        {
            var processor = _processors[j];
            if (!processor.ObservesUnprocessedFrames)
            {
                continue;
            }

            try
            {
                context.Activity = null;
                await processor.ObserveUnprocessedAsync(context, stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                Log.ObserverFailed(_logger, processor.Name, context.Metadata.FrameId.ToString(), SecretMasker.MaskSecrets($"{ex.GetType().Name}: {ex.Message}"));
            }
        }
    }

    private async Task<(FrameOutcome Outcome, string? Reason)> RunProcessorAsync(int index, FrameContext context, ActivityContext parent, CancellationToken stoppingToken)
    {
        var processor = _processors[index];
        var metadata = context.Metadata;
        var stage = new ProcessingStage { Name = processor.Name, Service = _service.Name, Status = StageStatus.Processing };
        metadata.Stages.Add(stage);
        for (var attempt = 1; ; attempt++)
        {
            using var span = ProcessingTelemetry.ActivitySource.StartActivity(_spanNames[index], ActivityKind.Internal, parent);
            if (span is { IsAllDataRequested: true })
            {
                span.SetTag(SemanticAttributes.FrameId, metadata.FrameId.ToString());
                span.SetTag(SemanticAttributes.CameraId, metadata.CameraId);
                span.SetTag(SemanticAttributes.PipelineStage, processor.Name);
                span.SetTag(SemanticAttributes.Processor, processor.Name);
                if (attempt > 1)
                {
                    span.SetTag("pipeline.attempt", attempt);
                }
            }

            context.Activity = span;
            var started = _time.GetUtcNow();
            stage.Started ??= started;
            await _recorder.RecordAsync(
                FrameEvent.Create(FrameEventType.ProcessingStarted, metadata, processor.Name, _service.Name, started, span,
                    data: attempt > 1 ? string.Create(CultureInfo.InvariantCulture, $"{{\"attempt\":{attempt}}}") : null),
                CancellationToken.None);
            var detectionsBefore = context.DetectionCount;
            var startTimestamp = _time.GetTimestamp();
            ProcessorResult result;
            using var watchdog = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            watchdog.CancelAfter(TimeSpan.FromSeconds(_options.ProcessorTimeoutSeconds));
            try
            {
                result = _breakers is null
                    ? await processor.ProcessAsync(context, watchdog.Token)
                    : await _breakers.ProcessAsync(processor, context, watchdog.Token);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                var timedOut = ex is OperationCanceledException && watchdog.IsCancellationRequested;
                var refused = ex is Polly.CircuitBreaker.BrokenCircuitException; // fail-closed processor, breaker open: no retry
                var error = refused ? FailureReasons.CircuitOpen : timedOut
                    ? $"timed out after {_options.ProcessorTimeoutSeconds} s"
                    : SecretMasker.MaskSecrets($"{ex.GetType().Name}: {ex.Message}");
                span?.SetStatus(ActivityStatusCode.Error, error);
                if (timedOut)
                {
                    _telemetry.RecordTimeout(processor.Name);
                }

                if (attempt < _options.MaxAttempts && !refused)
                {
                    _telemetry.RecordRetry(processor.Name);
                    Log.ProcessorRetry(_logger, processor.Name, metadata.FrameId.ToString(), attempt, error);
                    continue;
                }

                var failedAt = _time.GetUtcNow();
                stage.Status = StageStatus.Failed;
                stage.Completed = failedAt;
                stage.DurationMs = _time.GetElapsedTime(startTimestamp).TotalMilliseconds;
                stage.Error = error;
                Log.ProcessorFailed(_logger, processor.Name, metadata.FrameId.ToString(), attempt, error);
                await _recorder.RecordAsync(
                    FrameEvent.Create(FrameEventType.ProcessingFailed, metadata, processor.Name, _service.Name, failedAt, span,
                        _time.GetElapsedTime(startTimestamp), reason: error),
                    CancellationToken.None);
                return (FrameOutcome.Failed, error);
            }

            var elapsed = _time.GetElapsedTime(startTimestamp);
            var completedAt = _time.GetUtcNow();
            stage.Completed = completedAt;
            stage.DurationMs = elapsed.TotalMilliseconds;
            if (result.Kind == ProcessorResultKind.Skip)
            {
                stage.Status = StageStatus.Skipped;
                stage.Error = result.Reason;
                span?.SetTag(SemanticAttributes.Outcome, "skipped");
                span?.SetTag(SemanticAttributes.Reason, result.Reason);
                await _recorder.RecordAsync(
                    FrameEvent.Create(FrameEventType.Skipped, metadata, processor.Name, _service.Name, completedAt, span, elapsed, result.Reason),
                    CancellationToken.None);
                return (FrameOutcome.Skipped, result.Reason);
            }

            stage.Status = StageStatus.Completed;
            var found = context.DetectionCount - detectionsBefore;
            await _recorder.RecordAsync(
                FrameEvent.Create(FrameEventType.ProcessingCompleted, metadata, processor.Name, _service.Name, completedAt, span, elapsed,
                    data: found > 0 ? string.Create(CultureInfo.InvariantCulture, $"{{\"detections\":{found}}}") : null),
                CancellationToken.None);
            if (found > 0)
            {
                span?.SetTag(SemanticAttributes.DetectionCount, found);
                await _recorder.RecordAsync(
                    FrameEvent.Create(FrameEventType.Detected, metadata, processor.Name, _service.Name, completedAt, span,
                        data: DetectionSummary(context.Detections, detectionsBefore)),
                    CancellationToken.None);
            }

            return (FrameOutcome.Processed, null);
        }
    }

    private static string DetectionSummary(List<Detection> detections, int from)
    {
        var labels = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (var i = from; i < detections.Count; i++)
        {
            labels[detections[i].Label] = labels.GetValueOrDefault(detections[i].Label) + 1;
        }

        var parts = labels.Select(kv => string.Create(CultureInfo.InvariantCulture, $"\"{kv.Key}\":{kv.Value}"));
        return string.Create(CultureInfo.InvariantCulture, $"{{\"count\":{detections.Count - from},\"labels\":{{{string.Join(',', parts)}}}}}");
    }

    private async Task DrainAsShutdownAsync(IBusSubscription<FrameMessage> subscription, List<BusDelivery<FrameMessage>> batch)
    {
        var drained = 0;
        while (true)
        {
            batch.Clear();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
            try
            {
                if (await subscription.ReadAsync(batch, 64, timeout.Token) == 0)
                {
                    break;
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }

            foreach (var delivery in batch)
            {
                delivery.Message.Release();
                await _recorder.RecordAsync(
                    FrameEvent.Create(FrameEventType.Dropped, delivery.Message.Metadata, Stages.Bus, _service.Name, _time.GetUtcNow(), reason: DropReasons.Shutdown),
                    CancellationToken.None);
                await subscription.AckAsync(delivery, CancellationToken.None);
                drained++;
            }
        }

        if (drained > 0)
        {
            Log.DrainedAtShutdown(_logger, drained);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Processing started with {Concurrency} consumers; chain: {Chain}")]
        public static partial void Started(ILogger logger, int concurrency, string chain);

        [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Processor {Processor} failed to close at shutdown")]
        public static partial void CloseFailed(ILogger logger, string processor, Exception exception);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Processor {Processor} failed on frame {FrameId} (attempt {Attempt}), retrying: {Error}")]
        public static partial void ProcessorRetry(ILogger logger, string processor, string frameId, int attempt, string error);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Error, Message = "Processor {Processor} failed on frame {FrameId} after {Attempt} attempts: {Error}")]
        public static partial void ProcessorFailed(ILogger logger, string processor, string frameId, int attempt, string error);

        [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Recorded {Count} queued frames as dropped (shutdown)")]
        public static partial void DrainedAtShutdown(ILogger logger, int count);

        [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Processor {Processor} failed observing the unprocessed frame {FrameId}: {Error}")]
        public static partial void ObserverFailed(ILogger logger, string processor, string frameId, string error);
    }
}
