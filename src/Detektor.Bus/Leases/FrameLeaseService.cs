using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Registry;
using Detektor.Bus.Telemetry;
using Detektor.Core;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Resilience;
using Detektor.Core.Telemetry;
using Microsoft.Extensions.Options;

namespace Detektor.Bus.Leases;

/// <summary>
/// Frames for processors outside the process, over HTTP: <see cref="DequeueAsync"/> leases frames from the processors'
/// consumer group (one bus consumer per external processor, <c>http-{name}</c>); <see cref="CompleteAsync"/> takes the
/// result, publishes it and acknowledges the frame. A lease is the bus delivery itself: not completed within
/// <see cref="BusOptions.ClaimIdleMs"/>, the bus hands the frame to another consumer (a redelivery), and the late result
/// is refused. Every external processor is kept in the registry (kind <c>http</c>) while it keeps polling.
/// <para>
/// Each external processor has a circuit breaker, <c>http-{name}</c> (settings <c>Detektor:Resilience:Breakers:http-{name}</c>):
/// every lease is one call through it, a failure when the lease runs out or the result is <c>failed</c>. While it is open
/// the frames the processor takes are not leased to it but get its policy
/// (<c>Detektor:Processing:Processors:{name}:OnBreakerOpen</c>): fail-open records them <c>skipped</c>
/// (<c>processor_unavailable</c>), fail-closed <c>processing_failed</c> (<c>circuit_open</c>); either way the result is
/// published and the frame acknowledged at once instead of waiting out a lease. Half-open, one frame is leased as the probe.
/// </para>
/// </summary>
public sealed class FrameLeaseService : IAsyncDisposable
{
    public const int MaxCount = 64;
    public const int MaxWaitSeconds = 30;

    private readonly ConcurrentDictionary<string, ExternalProcessor> _processors = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lease> _leases = new(StringComparer.Ordinal);
    private readonly IFrameBus _bus;
    private readonly ILifecycleRecorder _recorder;
    private readonly IProcessorRegistry _registry;
    private readonly ServiceIdentity _service;
    private readonly TimeProvider _time;
    private readonly BusOptions _options;
    private readonly CircuitBreakers _breakers;
    private readonly ProcessorPoliciesOptions _policies;

    public FrameLeaseService(
        IFrameBus bus,
        ILifecycleRecorder recorder,
        IProcessorRegistry registry,
        ServiceIdentity service,
        TimeProvider time,
        IOptions<BusOptions> options,
        CircuitBreakers breakers,
        IOptions<ProcessorPoliciesOptions> policies)
    {
        _bus = bus;
        _recorder = recorder;
        _registry = registry;
        _service = service;
        _time = time;
        _options = options.Value;
        _breakers = breakers;
        _policies = policies.Value;
    }

    /// <summary>The circuit breaker of external processor <paramref name="processor"/>.</summary>
    public static string BreakerName(string processor) => "http-" + processor;

    /// <summary>Frames leased and not yet completed or expired.</summary>
    public int ActiveLeases => _leases.Count;

    /// <summary>
    /// Leases up to <paramref name="count"/> frames for <paramref name="processor"/>, waiting up to <paramref name="wait"/>
    /// for the first (long poll). Returns what it got, possibly nothing.
    /// </summary>
    public async Task<DequeueResult> DequeueAsync(string processor, int count, TimeSpan wait, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var external = _processors.GetOrAdd(processor, name => new ExternalProcessor(
            _bus.Subscribe(Topics.Frames, _options.ProcessorGroup, "http-" + name),
            new SemaphoreSlim(1, 1),
            _breakers.Get(BreakerName(name), static ex => ex is ExternalProcessorFailedException),
            _policies.OnBreakerOpen(name)));
        await RegisterAsync(processor, count, cancellationToken);
        SweepExpired();

        var deliveries = new List<BusDelivery<FrameMessage>>(count);
        await external.Gate.WaitAsync(cancellationToken);
        try
        {
            using var window = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            window.CancelAfter(wait < TimeSpan.FromMilliseconds(100) ? TimeSpan.FromMilliseconds(100) : wait);
            try
            {
                await external.Subscription.ReadAsync(deliveries, count, window.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Nothing arrived within the wait: an empty answer.
            }
        }
        finally
        {
            external.Gate.Release();
        }

        var leased = new List<Lease>(deliveries.Count);
        var refused = new List<string>();
        var now = _time.GetUtcNow();
        foreach (var delivery in deliveries)
        {
            var metadata = delivery.Message.Metadata;
            using (var span = BusTelemetry.ActivitySource.StartActivity(
                       SpanNames.Queue, ActivityKind.Consumer, metadata.Trace.ToActivityContext(), startTime: delivery.EnqueuedAt))
            {
                if (span is { IsAllDataRequested: true })
                {
                    span.SetTag(SemanticAttributes.FrameId, metadata.FrameId.ToString());
                    span.SetTag(SemanticAttributes.CameraId, metadata.CameraId);
                    span.SetTag(SemanticAttributes.QueueName, Topics.Frames.Name);
                    span.SetTag(SemanticAttributes.Processor, processor);
                }

                await _recorder.RecordAsync(
                    FrameEvent.Create(FrameEventType.Dequeued, metadata, Stages.Bus, ServiceName(processor), now, span, now - delivery.EnqueuedAt,
                        data: string.Create(CultureInfo.InvariantCulture, $"{{\"lease\":\"http\",\"delivery\":{delivery.DeliveryCount}}}")),
                    CancellationToken.None);
            }

            // The lease ends a little before the bus would hand the frame to another consumer, so a late result is refused rather than doubled.
            var margin = TimeSpan.FromMilliseconds(Math.Min(1000, _options.ClaimIdleMs / 10));
            var expiresAt = now + _options.ClaimIdle - margin;
            var verdict = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!await AdmitAsync(external.Breaker, verdict, expiresAt - now))
            {
                await RefuseAsync(processor, external, delivery, now);
                refused.Add(metadata.FrameId.ToString());
                continue;
            }

            var lease = new Lease(metadata.FrameId.ToString(), processor, delivery, external.Subscription, now, expiresAt) { Verdict = verdict };
            _leases[lease.FrameId] = lease;
            leased.Add(lease);
        }

        return new DequeueResult(leased, refused, external.Breaker.State);
    }

    /// <summary>
    /// Starts the breaker call that stands for one lease: it ends when the lease is completed (<paramref name="verdict"/>:
    /// true for a processed or skipped result, false for failed or expired) or at the lease's end. False when the breaker
    /// refuses the call (open, or half-open with its probe already out).
    /// </summary>
    private async ValueTask<bool> AdmitAsync(CircuitBreaker breaker, TaskCompletionSource<bool> verdict, TimeSpan leaseTime)
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var call = breaker.ExecuteAsync(
            static async (s, _) =>
            {
                s.Entered.TrySetResult();
                bool ok;
                try
                {
                    ok = await s.Verdict.Task.WaitAsync(s.LeaseTime, s.Time, CancellationToken.None);
                }
                catch (TimeoutException)
                {
                    ok = false;
                }

                return ok ? true : throw new ExternalProcessorFailedException();
            },
            (Entered: entered, Verdict: verdict, LeaseTime: leaseTime, Time: _time),
            CancellationToken.None).AsTask();
        _ = call.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        var first = await Task.WhenAny(entered.Task, call);
        return first == entered.Task || !call.IsFaulted;
    }

    /// <summary>The breaker is open: the frame gets the processor's policy, its result is published and the frame acknowledged.</summary>
    private async Task RefuseAsync(string processor, ExternalProcessor external, BusDelivery<FrameMessage> delivery, DateTimeOffset now)
    {
        var metadata = delivery.Message.Metadata;
        var failClosed = external.Policy == BreakerOpenPolicy.FailClosed;
        using (var span = BusTelemetry.ActivitySource.StartActivity(
                   SpanNames.ProcessPrefix + processor, ActivityKind.Internal, metadata.Trace.ToActivityContext(), startTime: now))
        {
            if (span is { IsAllDataRequested: true })
            {
                span.SetTag(SemanticAttributes.FrameId, metadata.FrameId.ToString());
                span.SetTag(SemanticAttributes.Processor, processor);
                span.SetTag("pipeline.circuit_breaker", "open");
            }

            await _recorder.RecordAsync(
                FrameEvent.Create(
                    failClosed ? FrameEventType.ProcessingFailed : FrameEventType.Skipped, metadata, processor, ServiceName(processor), now, span, TimeSpan.Zero,
                    failClosed ? FailureReasons.CircuitOpen : SkipReasons.ProcessorUnavailable),
                CancellationToken.None);
        }

        await PublishAndAckAsync(
            processor, external.Subscription, delivery, failClosed ? FrameOutcome.Failed : FrameOutcome.Skipped, failClosed ? FailureReasons.CircuitOpen : SkipReasons.ProcessorUnavailable, [], now);
    }

    /// <summary>Completes a lease with the external processor's result: events, the result message, then the acknowledgement.</summary>
    public async Task<CompleteOutcome> CompleteAsync(string frameId, string processor, ExternalResult result, CancellationToken cancellationToken)
    {
        if (!_leases.TryGetValue(frameId, out var lease))
        {
            return CompleteOutcome.NotLeased;
        }

        if (!string.Equals(lease.Processor, processor, StringComparison.Ordinal))
        {
            return CompleteOutcome.OtherProcessor;
        }

        var now = _time.GetUtcNow();
        if (now >= lease.ExpiresAt)
        {
            _leases.TryRemove(new KeyValuePair<string, Lease>(frameId, lease));
            lease.Verdict?.TrySetResult(false);
            return CompleteOutcome.Expired;
        }

        if (!_leases.TryRemove(new KeyValuePair<string, Lease>(frameId, lease)))
        {
            return CompleteOutcome.NotLeased; // completed concurrently
        }

        lease.Verdict?.TrySetResult(result.Outcome != FrameOutcome.Failed);

        var message = lease.Delivery.Message;
        var metadata = message.Metadata;
        var duration = result.Duration ?? now - lease.LeasedAt;
        using (var span = BusTelemetry.ActivitySource.StartActivity(
                   SpanNames.ProcessPrefix + processor, ActivityKind.Internal, metadata.Trace.ToActivityContext(), startTime: lease.LeasedAt))
        {
            if (span is { IsAllDataRequested: true })
            {
                span.SetTag(SemanticAttributes.FrameId, metadata.FrameId.ToString());
                span.SetTag(SemanticAttributes.CameraId, metadata.CameraId);
                span.SetTag(SemanticAttributes.Processor, processor);
                span.SetTag(SemanticAttributes.Outcome, Redis.FrameOutcomeJsonConverter.ToWire(result.Outcome));
                span.SetTag(SemanticAttributes.DetectionCount, result.Detections.Count);
            }

            var service = ServiceName(processor);
            var type = result.Outcome switch
            {
                FrameOutcome.Processed => FrameEventType.ProcessingCompleted,
                FrameOutcome.Skipped => FrameEventType.Skipped,
                _ => FrameEventType.ProcessingFailed,
            };
            await _recorder.RecordAsync(FrameEvent.Create(FrameEventType.ProcessingStarted, metadata, processor, service, lease.LeasedAt, span), CancellationToken.None);
            await _recorder.RecordAsync(
                FrameEvent.Create(type, metadata, processor, service, now, span, duration, result.Outcome == FrameOutcome.Processed ? null : result.Reason,
                    data: result.Detections.Count > 0 ? string.Create(CultureInfo.InvariantCulture, $"{{\"detections\":{result.Detections.Count}}}") : null),
                CancellationToken.None);
            if (result.Detections.Count > 0)
            {
                // A microsecond later: stores order a journey by time, and detected follows processing_completed.
                await _recorder.RecordAsync(
                    FrameEvent.Create(FrameEventType.Detected, metadata, processor, service, now.AddMicroseconds(1), span,
                        data: string.Create(CultureInfo.InvariantCulture, $"{{\"count\":{result.Detections.Count}}}")),
                    CancellationToken.None);
            }
        }

        await PublishAndAckAsync(processor, lease.Subscription, lease.Delivery, result.Outcome, result.Reason, result.Detections, now);
        return CompleteOutcome.Completed;
    }

    private async Task PublishAndAckAsync(
        string processor,
        IBusSubscription<FrameMessage> subscription,
        BusDelivery<FrameMessage> delivery,
        FrameOutcome outcome,
        string? reason,
        IReadOnlyList<Detection> detections,
        DateTimeOffset now)
    {
        var message = delivery.Message;
        message.Release();
        await _bus.PublishAsync(
            Topics.Results,
            new FrameResult
            {
                Metadata = message.Metadata,
                Outcome = outcome,
                Reason = reason,
                Detections = [.. detections.Select(d => d with { Source = d.Source ?? processor })],
                CompletedAt = now,
            },
            CancellationToken.None);
        await subscription.AckAsync(delivery, CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var lease in _leases.Values)
        {
            lease.Verdict?.TrySetCanceled(); // not the processor's failure: the breaker does not count it
        }

        foreach (var external in _processors.Values)
        {
            await external.Subscription.DisposeAsync();
            external.Gate.Dispose();
        }

        _processors.Clear();
        _leases.Clear();
    }

    private static string ServiceName(string processor) => "http:" + processor;

    private async Task RegisterAsync(string processor, int count, CancellationToken cancellationToken)
    {
        var id = ServiceName(processor);
        var load = new ProcessorLoad(_leases.Values.Count(l => l.Processor == processor), 0);
        if (!await _registry.HeartbeatAsync(id, load, cancellationToken))
        {
            await _registry.RegisterAsync(new ProcessorRegistration(id, _service.Name, "http", ["http"], count, _options.ProcessorGroup), cancellationToken);
        }
    }

    /// <summary>Forgets leases past their time: the bus has given (or will give) those frames to another consumer.</summary>
    private void SweepExpired()
    {
        var now = _time.GetUtcNow();
        foreach (var (id, lease) in _leases)
        {
            if (now >= lease.ExpiresAt && _leases.TryRemove(new KeyValuePair<string, Lease>(id, lease)))
            {
                lease.Verdict?.TrySetResult(false);
            }
        }
    }

    private sealed record ExternalProcessor(IBusSubscription<FrameMessage> Subscription, SemaphoreSlim Gate, CircuitBreaker Breaker, BreakerOpenPolicy Policy);
}

/// <summary>What one dequeue gave: the leases, the frames the open breaker refused (they got the policy), and its state.</summary>
public sealed record DequeueResult(IReadOnlyList<Lease> Leases, IReadOnlyList<string> Refused, BreakerState Breaker);

/// <summary>A lease that ran out or a <c>failed</c> result: what the external processor's breaker counts as a failure.</summary>
public sealed class ExternalProcessorFailedException : Exception
{
    public ExternalProcessorFailedException()
        : base("the external processor let the lease run out or reported the frame failed")
    {
    }

    public ExternalProcessorFailedException(string message)
        : base(message)
    {
    }

    public ExternalProcessorFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>A frame leased to an external processor until <see cref="ExpiresAt"/>.</summary>
public sealed record Lease(
    string FrameId,
    string Processor,
    BusDelivery<FrameMessage> Delivery,
    IBusSubscription<FrameMessage> Subscription,
    DateTimeOffset LeasedAt,
    DateTimeOffset ExpiresAt)
{
    /// <summary>Completed with the lease's outcome for the processor's circuit breaker (true: the processor did its job).</summary>
    internal TaskCompletionSource<bool>? Verdict { get; init; }
}

/// <summary>What an external processor reports for a leased frame.</summary>
public sealed record ExternalResult(FrameOutcome Outcome, string? Reason, IReadOnlyList<Detection> Detections, TimeSpan? Duration);

public enum CompleteOutcome
{
    Completed,
    NotLeased,
    Expired,
    OtherProcessor,
}
