using System.Diagnostics;
using Detektor.Bus.Abstractions;
using Detektor.Core;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;

namespace Detektor.Bus.Lifecycle;

/// <summary>
/// Asked by capture before a frame's pixels are published: a frame the processing chain would skip anyway (no motion, not
/// due at the camera's detect fps) is better skipped where it was read, so that its pixels never cross the bus.
/// </summary>
public interface ICaptureGate
{
    /// <summary>Null to publish the frame; otherwise the reason it is skipped at capture (a <see cref="SkipReasons"/> code).</summary>
    string? SkipReason(FrameMetadata metadata);
}

/// <summary>How capture records a frame it decided not to publish (capture gate, backpressure breaker).</summary>
public static class CaptureSkip
{
    /// <summary>
    /// Records <c>skipped</c> at capture with <paramref name="reason"/>, and publishes a skipped result so the store closes the
    /// frame's journey (<c>stored</c>, outcome skipped).
    /// </summary>
    public static ValueTask RecordAsync(
        ILifecycleRecorder recorder, IFrameBus bus, ServiceIdentity service, FrameMetadata metadata, Activity? span, string reason, DateTimeOffset now,
        CancellationToken cancellationToken = default)
    {
        span?.SetTag(Core.Telemetry.SemanticAttributes.Outcome, "skipped");
        span?.SetTag(Core.Telemetry.SemanticAttributes.Reason, reason);

        // Both go out before either is awaited: over Redis, one round trip instead of two.
        return ValueTasks.WhenBoth(
            recorder.RecordAsync(FrameEvent.Create(FrameEventType.Skipped, metadata, Stages.Capture, service.Name, now, span, reason: reason), cancellationToken),
            bus.PublishAsync(Topics.Results, new FrameResult { Metadata = metadata, Outcome = FrameOutcome.Skipped, Reason = reason, CompletedAt = now }, cancellationToken));
    }
}
