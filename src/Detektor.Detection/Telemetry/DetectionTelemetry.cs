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
    private readonly Histogram<double> _laneWait;
    private readonly Counter<long> _detections;
    private readonly Counter<long> _trackEvents;
    private readonly Counter<long> _snapshotFailures;
    private Func<IEnumerable<(string Camera, int Count)>>? _tracks;
    private Func<IEnumerable<(string Camera, int Step)>>? _shed;
    private Func<int>? _pending;

    public DetectionTelemetry(IMeterFactory meterFactory, GpuMonitor gpu)
    {
        _meter = meterFactory.Create(TelemetryNames.Detection);
        _duration = _meter.CreateHistogram(
            "detektor.detection.duration", "s", "Time of one detection step (preprocess, inference, postprocess) per frame or image.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _laneWait = _meter.CreateHistogram(
            "detektor.detection.lane_wait", "s", "Time a detection waited for a free inference lane (Detection:InferenceConcurrency), per frame or image.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _detections = _meter.CreateCounter<long>("detektor.detection.detections", "{detection}", "Things found, by detector and label.");
        _trackEvents = _meter.CreateCounter<long>("detektor.tracker.events", "{event}", "Tracked-object events emitted, by type (entered, updated, left) and label.");
        _snapshotFailures = _meter.CreateCounter<long>("detektor.tracker.snapshot_failures", "{snapshot}", "Best snapshots that could not be written (disk full, permissions).");
        _meter.CreateObservableGauge("detektor.tracker.objects", ObserveTracks, "{object}", "Objects being followed now (confirmed tracks), by camera.");
        _meter.CreateObservableGauge("detektor.detection.inference_pending", () => _pending?.Invoke() ?? 0, "{inference}", "Inferences queued for a lane or running now (Detection:InferenceConcurrency run at once).");
        _meter.CreateObservableGauge("detektor.load_shed.level", ObserveShed, "{step}", "Load shedding step per camera: 0 full detect rate, s = one frame in 2^s detected.");
        _meter.CreateObservableGauge("detektor.gpu.utilization", () => Gpu(gpu, r => r.UtilizationPercent), "%", "GPU utilisation (NVML), when a GPU is present.");
        _meter.CreateObservableGauge("detektor.gpu.memory.used", () => Gpu(gpu, r => (double)r.MemoryUsedBytes), "By", "GPU memory in use (NVML), when a GPU is present.");
        _meter.CreateObservableGauge("detektor.gpu.memory.total", () => Gpu(gpu, r => (double)r.MemoryTotalBytes), "By", "GPU memory in all (NVML), when a GPU is present.");
        _meter.CreateObservableGauge("detektor.gpu.temperature", () => Gpu(gpu, r => r.TemperatureCelsius), "Cel", "GPU temperature (NVML), when a GPU is present.");
    }

    public void Record(string detector, string provider, DetectionTiming timing, TimeSpan laneWait)
    {
        var d = new KeyValuePair<string, object?>(DetectorTag, detector);
        var p = new KeyValuePair<string, object?>(ProviderTag, provider);
        _laneWait.Record(laneWait.TotalSeconds, d);
        _duration.Record(timing.Preprocess.TotalSeconds, d, p, new KeyValuePair<string, object?>(StepTag, "preprocess"));
        _duration.Record(timing.Inference.TotalSeconds, d, p, new KeyValuePair<string, object?>(StepTag, "inference"));
        _duration.Record(timing.Postprocess.TotalSeconds, d, p, new KeyValuePair<string, object?>(StepTag, "postprocess"));
    }

    /// <summary>Where <c>detektor.tracker.objects</c> reads the confirmed tracks per camera (set by the tracker).</summary>
    public void ObserveTracks(Func<IEnumerable<(string Camera, int Count)>> tracks) => _tracks = tracks;

    public void TrackEvent(Core.Messages.TrackEventType type, string label) =>
        _trackEvents.Add(1, new KeyValuePair<string, object?>("tracker.event", type switch
        {
            Core.Messages.TrackEventType.Entered => "entered",
            Core.Messages.TrackEventType.Updated => "updated",
            _ => "left",
        }), new KeyValuePair<string, object?>(LabelTag, label));

    public void SnapshotFailed() => _snapshotFailures.Add(1);

    /// <summary>Where <c>detektor.detection.inference_pending</c> reads the inferences queued or running (set by the runtime's lanes).</summary>
    public void ObserveInferencePending(Func<int> pending) => _pending = pending;

    /// <summary>Where <c>detektor.load_shed.level</c> reads each camera's shed step (set by the shed stage).</summary>
    public void ObserveShedSteps(Func<IEnumerable<(string Camera, int Step)>> steps) => _shed = steps;

    private IEnumerable<Measurement<int>> ObserveShed()
    {
        foreach (var (camera, step) in _shed?.Invoke() ?? [])
        {
            yield return new Measurement<int>(step, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, camera));
        }
    }

    private IEnumerable<Measurement<int>> ObserveTracks()
    {
        foreach (var (camera, count) in _tracks?.Invoke() ?? [])
        {
            yield return new Measurement<int>(count, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, camera));
        }
    }

    public void Found(string detector, string label) =>
        _detections.Add(1, new KeyValuePair<string, object?>(DetectorTag, detector), new KeyValuePair<string, object?>(LabelTag, label));

    private static IEnumerable<Measurement<double>> Gpu(GpuMonitor gpu, Func<GpuReading, double> value)
    {
        foreach (var reading in gpu.Read())
        {
            // A value NVML could not read is NaN: left out rather than exported as NaN (an alert on it would never fire).
            if (double.IsNaN(value(reading)))
            {
                continue;
            }

            yield return new Measurement<double>(value(reading), new KeyValuePair<string, object?>(GpuIndexTag, reading.Index));
        }
    }

    public void Dispose() => _meter.Dispose();
}
