using System.Diagnostics;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;

namespace Detektor.Core.Journal;

/// <summary>
/// A <see cref="FrameEvent"/> as the on-disk journals keep it (the store's spill and the bus's lifecycle spill): plain
/// fields, times in microseconds since the Unix epoch. Serialize it with a snake_case JSON context.
/// </summary>
public sealed record JournaledFrameEvent(
    Guid Id, string Frame, string Camera, string Type, long TimeUs, string Stage, string Service,
    string? Trace, string? Span, long? DurationUs, string? Reason, string? Data)
{
    public static JournaledFrameEvent From(FrameEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return new JournaledFrameEvent(
            e.EventId, e.FrameId.ToString(), e.CameraId, e.Type.ToWireName(), ToMicros(e.Timestamp), e.Stage, e.Service,
            e.TraceId == default ? null : e.TraceId.ToHexString(), e.SpanId == default ? null : e.SpanId.ToHexString(),
            e.Duration is { } d ? d.Ticks / TimeSpan.TicksPerMicrosecond : null, e.Reason, e.Data);
    }

    /// <summary>Microseconds since the Unix epoch.</summary>
    public static long ToMicros(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;

    public static DateTimeOffset FromMicros(long micros) => DateTimeOffset.UnixEpoch.AddTicks(micros * TimeSpan.TicksPerMicrosecond);

    /// <summary>The event again; throws <see cref="InvalidDataException"/> (or <see cref="FormatException"/>) when a field is not valid.</summary>
    public FrameEvent ToFrameEvent()
    {
        if (!FrameEventTypes.TryParse(Type, out var type))
        {
            throw new InvalidDataException($"A journal record holds an unknown event type '{Type}'.");
        }

        return new FrameEvent
        {
            EventId = Id,
            FrameId = FrameId.Parse(Frame),
            CameraId = Camera,
            Type = type,
            Timestamp = FromMicros(TimeUs),
            Stage = Stage,
            Service = Service,
            TraceId = Trace is null ? default : ActivityTraceId.CreateFromString(Trace),
            SpanId = Span is null ? default : ActivitySpanId.CreateFromString(Span),
            Duration = DurationUs is { } us ? TimeSpan.FromTicks(us * TimeSpan.TicksPerMicrosecond) : null,
            Reason = Reason,
            Data = Data,
        };
    }
}
