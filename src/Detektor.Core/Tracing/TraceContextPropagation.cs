using System.Diagnostics;
using Detektor.Core.Telemetry;
using OpenTelemetry.Context.Propagation;

namespace Detektor.Core.Tracing;

/// <summary>
/// Injects and extracts the W3C <c>traceparent</c>/<c>tracestate</c> pair into any string-keyed carrier (bus message
/// headers, HTTP headers, dictionaries) through OpenTelemetry's standard <see cref="TraceContextPropagator"/>.
/// A malformed <c>traceparent</c> is ignored (the result is an empty context) and counted in
/// <c>detektor.trace_context.malformed</c>; it never throws.
/// </summary>
public static class TraceContextPropagation
{
    public const string TraceParentHeader = "traceparent";
    public const string TraceStateHeader = "tracestate";

    private static readonly TraceContextPropagator Propagator = new();

    public static void Inject<T>(ActivityContext context, T carrier, Action<T, string, string> setter)
    {
        if (context == default)
        {
            return;
        }

        Propagator.Inject(new PropagationContext(context, default), carrier, setter);
    }

    public static void Inject(ActivityContext context, IDictionary<string, string> carrier) =>
        Inject(context, carrier, static (c, k, v) => c[k] = v);

    public static ActivityContext Extract<T>(T carrier, Func<T, string, IEnumerable<string>?> getter)
    {
        try
        {
            var result = Propagator.Extract(default, carrier, getter);
            if (result.ActivityContext == default)
            {
                var values = getter(carrier, TraceParentHeader);
                if (values is not null && values.Any(v => !string.IsNullOrEmpty(v)))
                {
                    CoreTelemetry.RecordMalformedTraceContext();
                }
            }

            return result.ActivityContext;
        }
        catch (Exception)
        {
            // A broken carrier must not break a frame: count it and carry on without a parent.
            CoreTelemetry.RecordMalformedTraceContext();
            return default;
        }
    }

    public static ActivityContext Extract(IReadOnlyDictionary<string, string> carrier) =>
        Extract(carrier, static (c, k) => c.TryGetValue(k, out var v) ? [v] : null);

    /// <summary>Formats a context as a <c>traceparent</c> header value without a carrier.</summary>
    public static string? ToTraceParent(ActivityContext context)
    {
        if (context == default)
        {
            return null;
        }

        var holder = new string?[1];
        Inject(context, holder, static (h, key, v) =>
        {
            if (key == TraceParentHeader)
            {
                h[0] = v;
            }
        });
        return holder[0];
    }

    /// <summary>Parses a <c>traceparent</c> (and optional <c>tracestate</c>) value; empty when malformed (counted).</summary>
    public static ActivityContext FromTraceParent(string? traceParent, string? traceState = null)
    {
        if (string.IsNullOrEmpty(traceParent))
        {
            return default;
        }

        return Extract((traceParent, traceState), static (c, key) => key switch
        {
            TraceParentHeader => [c.traceParent],
            TraceStateHeader when c.traceState is not null => [c.traceState],
            _ => null,
        });
    }
}
