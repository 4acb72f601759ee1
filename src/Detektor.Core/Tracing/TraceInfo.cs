using System.Diagnostics;

namespace Detektor.Core.Tracing;

/// <summary>
/// The W3C trace context of a frame as carried in its metadata: the trace id, the span that produced the current step,
/// that span's parent, flags and the vendor <c>tracestate</c>. Held as structs: no strings until it is serialized.
/// </summary>
public readonly record struct TraceInfo(
    ActivityTraceId TraceId,
    ActivitySpanId SpanId,
    ActivitySpanId ParentSpanId,
    ActivityTraceFlags Flags,
    string? TraceState)
{
    public bool IsEmpty => TraceId == default;

    public static TraceInfo From(Activity activity) =>
        new(activity.TraceId, activity.SpanId, activity.ParentSpanId, activity.ActivityTraceFlags, activity.TraceStateString);

    public static TraceInfo From(ActivityContext context) =>
        new(context.TraceId, context.SpanId, default, context.TraceFlags, context.TraceState);

    /// <summary>The context under which the next step's span is started (its parent is <see cref="SpanId"/>).</summary>
    public ActivityContext ToActivityContext() =>
        IsEmpty ? default : new ActivityContext(TraceId, SpanId, Flags, TraceState, isRemote: true);
}
