using System.Diagnostics;
using System.Diagnostics.Metrics;
using Detektor.Core.Telemetry;

namespace Detektor.Processing.Telemetry;

public sealed class ProcessingTelemetry : IDisposable
{
    public static readonly ActivitySource ActivitySource = new(TelemetryNames.Processing);

    private readonly Meter _meter;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _timeouts;
    private readonly UpDownCounter<long> _inFlight;

    public ProcessingTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(TelemetryNames.Processing);
        _retries = _meter.CreateCounter<long>("detektor.processor.retries", "{attempt}", "Processor attempts that threw and were retried.");
        _timeouts = _meter.CreateCounter<long>("detektor.processor.timeouts", "{attempt}", "Processor attempts cancelled by the watchdog.");
        _inFlight = _meter.CreateUpDownCounter<long>("detektor.processor.in_flight", "{frame}", "Frames being processed now.");
    }

    public void RecordRetry(string processor) => _retries.Add(1, new KeyValuePair<string, object?>(SemanticAttributes.Processor, processor));

    public void RecordTimeout(string processor) => _timeouts.Add(1, new KeyValuePair<string, object?>(SemanticAttributes.Processor, processor));

    public void InFlight(int delta) => _inFlight.Add(delta);

    public void Dispose() => _meter.Dispose();
}
