using System.Diagnostics;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Core.Messages;

namespace Detektor.Processing.Pipeline;

/// <summary>
/// Base class of every processor (motion gate, detectors, tracker, your own). Implement <see cref="ProcessAsync"/>; the
/// pipeline does the rest: it consumes the frame from the bus, opens a span named <c>process {Name}</c> in the frame's
/// trace, records <c>processing_started</c> / <c>processing_completed</c> / <c>skipped</c> / <c>processing_failed</c>,
/// retries on exceptions, enforces the timeout, publishes the result and acknowledges the frame.
/// </summary>
public abstract class FrameProcessor
{
    /// <summary>Stage name in events, spans and metrics: lowercase, stable, unique in the chain (e.g. <c>motion</c>).</summary>
    public abstract string Name { get; }

    /// <summary>What this processor offers (e.g. <c>objects</c>, <c>faces</c>), announced to the processor registry.</summary>
    public virtual IReadOnlyList<string> Capabilities => [Name];

    /// <summary>
    /// True for processors that depend on something that can fail for a while (a detector, a remote service): the pipeline
    /// runs them through a circuit breaker named after them (<see cref="ProcessorBreakers"/>).
    /// </summary>
    public virtual bool UsesCircuitBreaker => false;

    /// <summary>
    /// Processes one frame. Return <see cref="ProcessorResult.Continue"/> to pass it on,
    /// <see cref="ProcessorResult.Skip"/> with a reason to stop the chain on purpose. Throw to fail (the pipeline retries).
    /// </summary>
    public abstract ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken);

    /// <summary>
    /// True for processors that keep state across frames (a tracker): they are shown, through
    /// <see cref="ObserveUnprocessedAsync"/>, the frames an earlier processor skipped or that failed, so that time passes
    /// for them too (an object that stops moving behind a motion gate still leaves).
    /// </summary>
    public virtual bool ObservesUnprocessedFrames => false;

    /// <summary>
    /// Sees a frame that did not reach this processor (skipped or failed earlier in the chain). No span, no lifecycle
    /// events, no retries; an exception is logged and otherwise ignored. It may add <see cref="FrameContext.TrackEvents"/>.
    /// </summary>
    public virtual ValueTask ObserveUnprocessedAsync(FrameContext frame, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// Called once when the pipeline stops, after its last frame. A processor that keeps state across frames closes it
    /// and returns, per camera, the tracked-object events closing made (the tracker: <c>left</c> for every object still in
    /// view). Each goes out on a result of its own (<see cref="FrameResult.TrackEventsOnly"/>). An exception is logged.
    /// </summary>
    public virtual IReadOnlyList<ClosingEvents> Close() => [];
}

/// <summary>Track events a processor made when the pipeline stopped, for the camera whose last frame is <paramref name="LastFrame"/>.</summary>
public sealed record ClosingEvents(FrameMetadata LastFrame, IReadOnlyList<TrackEvent> TrackEvents);

public enum ProcessorResultKind
{
    Continue,
    Skip,
}

/// <summary>What a processor decided about a frame.</summary>
public readonly record struct ProcessorResult(ProcessorResultKind Kind, string? Reason)
{
    public static ProcessorResult Continue { get; } = new(ProcessorResultKind.Continue, null);

    /// <summary>Stops the chain; the frame is recorded as <c>skipped</c> with this reason code (e.g. <c>no_motion</c>).</summary>
    public static ProcessorResult Skip(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return new ProcessorResult(ProcessorResultKind.Skip, reason);
    }
}

/// <summary>One frame as the processors of a chain see it.</summary>
public sealed class FrameContext
{
    private List<Detection>? _detections;

    public FrameContext(FrameMessage message) => Message = message;

    public FrameMessage Message { get; }

    public FrameMetadata Metadata => Message.Metadata;

    /// <summary>How long the frame waited on the bus before this process took it (the load signal of load shedding).</summary>
    public TimeSpan QueueWait { get; init; }

    /// <summary>The frame's pixels (in process), laid out as <see cref="FrameMetadata.PixelFormat"/>; null when the bus carried none.</summary>
    public FrameBuffer? Pixels => Message.Pixels;

    /// <summary>The current processor's span, when sampled. Add tags with <c>IsAllDataRequested</c> checked.</summary>
    public Activity? Activity { get; internal set; }

    /// <summary>Detections found so far by earlier processors in the chain.</summary>
    public List<Detection> Detections => _detections ??= [];

    internal bool HasDetections => _detections is { Count: > 0 };

    internal int DetectionCount => _detections?.Count ?? 0;

    /// <summary>Tracked-object events produced for this frame; they travel on its result to the store.</summary>
    public List<TrackEvent> TrackEvents => _trackEvents ??= [];

    internal bool HasTrackEvents => _trackEvents is { Count: > 0 };

    private List<TrackEvent>? _trackEvents;

    /// <summary>Free-form state shared along the chain for this frame.</summary>
    public Dictionary<string, object?> Items => _items ??= new Dictionary<string, object?>(StringComparer.Ordinal);

    private Dictionary<string, object?>? _items;
}
