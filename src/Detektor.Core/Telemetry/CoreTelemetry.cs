using System.Diagnostics.Metrics;

namespace Detektor.Core.Telemetry;

/// <summary>Telemetry of the core library itself (static: the core helpers are static and need no DI).</summary>
public static class CoreTelemetry
{
    private static readonly Meter Meter = new(TelemetryNames.Core);

    private static readonly Counter<long> MalformedTraceContext = Meter.CreateCounter<long>(
        "detektor.trace_context.malformed",
        unit: "{carrier}",
        description: "Carriers whose traceparent could not be parsed and was ignored.");

    internal static void RecordMalformedTraceContext() => MalformedTraceContext.Add(1);
}
