using System.Diagnostics;
using System.Diagnostics.Metrics;
using Detektor.Core.Telemetry;

namespace Detektor.Storage.Telemetry;

public sealed class StorageTelemetry : IDisposable
{
    public static readonly ActivitySource ActivitySource = new(TelemetryNames.Storage);

    private readonly Meter _meter;
    private readonly Counter<long> _eventsWritten;
    private readonly Counter<long> _writeFailures;
    private readonly Histogram<double> _batchDuration;
    private readonly Histogram<double> _latency;

    public StorageTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(TelemetryNames.Storage);
        _eventsWritten = _meter.CreateCounter<long>("detektor.store.events.written", "{event}", "Lifecycle events written to the event store.");
        _writeFailures = _meter.CreateCounter<long>("detektor.store.write.failures", "{batch}", "Batches whose write failed (and was retried).");
        _batchDuration = _meter.CreateHistogram(
            "detektor.store.batch.duration", "s", "Time to write one batch.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5] });
        _latency = _meter.CreateHistogram(
            "detektor.frame.latency", "s", "Capture to stored, per frame.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10] });
    }

    public void RecordBatch(int written, TimeSpan duration, string provider)
    {
        var tag = new KeyValuePair<string, object?>("db.system", provider);
        _eventsWritten.Add(written, tag);
        _batchDuration.Record(duration.TotalSeconds, tag);
    }

    public void RecordWriteFailure(string provider) => _writeFailures.Add(1, new KeyValuePair<string, object?>("db.system", provider));

    public void RecordLatency(string cameraId, TimeSpan latency) =>
        _latency.Record(latency.TotalSeconds, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, cameraId));

    public void Dispose() => _meter.Dispose();
}
