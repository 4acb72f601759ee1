using System.Diagnostics;
using System.Diagnostics.Metrics;
using Detektor.Core.Telemetry;
using Detektor.Detection.Detectors;
using Detektor.Detection.Gpu;

namespace Detektor.Detection.Telemetry;

/// <summary>The detection component's spans and metrics (meter and source <c>Detektor.Detection</c>).</summary>
public sealed class DetectionTelemetry : IDisposable
{
    public const string DetectorTag = "detection.detector";
    public const string ProviderTag = "detection.provider";
    public const string StepTag = "detection.step";
    public const string LabelTag = "detection.label";
    public const string GpuIndexTag = "gpu.index";

    public static readonly ActivitySource ActivitySource = new(TelemetryNames.Detection);

    private static readonly double[] DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5];

    private readonly Meter _meter;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _detections;

    public DetectionTelemetry(IMeterFactory meterFactory, GpuMonitor gpu)
    {
        _meter = meterFactory.Create(TelemetryNames.Detection);
        _duration = _meter.CreateHistogram(
            "detektor.detection.duration", "s", "Time of one detection step (preprocess, inference, postprocess) per frame or image.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _detections = _meter.CreateCounter<long>("detektor.detection.detections", "{detection}", "Things found, by detector and label.");
        _meter.CreateObservableGauge("detektor.gpu.utilization", () => Gpu(gpu, r => r.UtilizationPercent), "%", "GPU utilisation (NVML), when a GPU is present.");
        _meter.CreateObservableGauge("detektor.gpu.memory.used", () => Gpu(gpu, r => (double)r.MemoryUsedBytes), "By", "GPU memory in use (NVML), when a GPU is present.");
        _meter.CreateObservableGauge("detektor.gpu.temperature", () => Gpu(gpu, r => r.TemperatureCelsius), "Cel", "GPU temperature (NVML), when a GPU is present.");
    }

    public void Record(string detector, string provider, DetectionTiming timing)
    {
        var d = new KeyValuePair<string, object?>(DetectorTag, detector);
        var p = new KeyValuePair<string, object?>(ProviderTag, provider);
        _duration.Record(timing.Preprocess.TotalSeconds, d, p, new KeyValuePair<string, object?>(StepTag, "preprocess"));
        _duration.Record(timing.Inference.TotalSeconds, d, p, new KeyValuePair<string, object?>(StepTag, "inference"));
        _duration.Record(timing.Postprocess.TotalSeconds, d, p, new KeyValuePair<string, object?>(StepTag, "postprocess"));
    }

    public void Found(string detector, string label) =>
        _detections.Add(1, new KeyValuePair<string, object?>(DetectorTag, detector), new KeyValuePair<string, object?>(LabelTag, label));

    private static IEnumerable<Measurement<double>> Gpu(GpuMonitor gpu, Func<GpuReading, double> value)
    {
        foreach (var reading in gpu.Read())
        {
            yield return new Measurement<double>(value(reading), new KeyValuePair<string, object?>(GpuIndexTag, reading.Index));
        }
    }

    public void Dispose() => _meter.Dispose();
}
