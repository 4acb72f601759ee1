using System.Diagnostics;
using System.Diagnostics.Metrics;
using Detektor.Capture.Cameras;
using Detektor.Core.Buffers;
using Detektor.Core.Telemetry;

namespace Detektor.Capture.Telemetry;

/// <summary>
/// The capture component's spans and metrics. Metric tags are bounded: camera name, state, health, transition reason —
/// never a URL, a frame id or free text.
/// </summary>
public sealed class CaptureTelemetry : IDisposable
{
    /// <summary>Span of one connection attempt of a camera (ffmpeg start to first frame or failure).</summary>
    public const string ConnectSpanName = "camera.connect";

    public const string StateTag = "camera.state";
    public const string ReasonTag = "camera.transition.reason";
    public const string HealthTag = "camera.health";

    public static readonly ActivitySource ActivitySource = new(TelemetryNames.Capture);

    private static readonly CameraState[] States = Enum.GetValues<CameraState>();
    private static readonly string[] HealthNames = ["healthy", "degraded", "unhealthy"];

    private readonly Meter _meter;
    private readonly Counter<long> _frames;
    private readonly Counter<long> _reconnects;
    private readonly Counter<long> _transitions;
    private readonly Counter<long> _decodeErrors;

    public CaptureTelemetry(IMeterFactory meterFactory, CameraRegistry cameras, FrameBufferPool pool)
    {
        _meter = meterFactory.Create(TelemetryNames.Capture);
        _frames = _meter.CreateCounter<long>("detektor.camera.frames", "{frame}", "Frames read from the camera.");
        _reconnects = _meter.CreateCounter<long>("detektor.camera.reconnects", "{reconnect}", "Reconnect attempts.");
        _transitions = _meter.CreateCounter<long>("detektor.camera.state.transitions", "{transition}", "Camera state changes, by new state and reason.");
        _decodeErrors = _meter.CreateCounter<long>("detektor.camera.decode_errors", "{error}", "Decode errors reported by ffmpeg.");
        _meter.CreateObservableGauge("detektor.camera.fps", () => PerCamera(cameras, c => c.MeasuredFps), "{frame}/s", "Measured frames per second.");
        _meter.CreateObservableGauge("detektor.camera.fps.configured", () => PerCamera(cameras, c => c.Options.Fps), "{frame}/s", "Configured frames per second.");
        _meter.CreateObservableGauge("detektor.camera.last_frame.age", ObserveAge(cameras), "s", "Seconds since the camera's last frame.");
        _meter.CreateObservableGauge("detektor.camera.state", ObserveState(cameras), "1", "1 for the camera's current state, 0 for the others.");
        _meter.CreateObservableGauge("detektor.camera.health", ObserveHealth(cameras), "1", "1 for the camera's current stream health, 0 for the others.");
        _meter.CreateObservableGauge("detektor.camera.motion.score", ObserveMotion(cameras), "1", "Motion score of the camera's last frame (share of changed area).");
        _meter.CreateObservableCounter(
            "detektor.frame_buffers.allocated", () => pool.Allocated, "{buffer}",
            "Frame buffers created because the pool had none idle of that size; flat in steady state (each one is a large-object-heap allocation).");
        _meter.CreateObservableCounter(
            "detektor.frame_buffers.discarded", () => pool.Discarded, "{buffer}", "Frame buffers returned to a full pool and left to the GC.");
        _meter.CreateObservableGauge(
            "detektor.frame_buffers.outstanding", () => pool.Outstanding, "{buffer}", "Frame buffers rented and not yet released (frames in flight).");
    }

    public void RecordFrame(string camera) => _frames.Add(1, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, camera));

    public void RecordReconnect(string camera) => _reconnects.Add(1, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, camera));

    public void RecordDecodeErrors(string camera, int count) => _decodeErrors.Add(count, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, camera));

    public void RecordTransition(string camera, CameraTransition transition) => _transitions.Add(1, new TagList
    {
        { SemanticAttributes.CameraId, camera },
        { StateTag, CameraHealth.StateName(transition.To) },
        { ReasonTag, transition.Reason },
    });

    public void Dispose() => _meter.Dispose();

    private static IEnumerable<Measurement<double>> PerCamera(CameraRegistry cameras, Func<CameraStatus, double> value)
    {
        foreach (var c in cameras.All)
        {
            yield return new Measurement<double>(value(c), new KeyValuePair<string, object?>(SemanticAttributes.CameraId, c.Name));
        }
    }

    private static Func<IEnumerable<Measurement<double>>> ObserveAge(CameraRegistry cameras) => () => Age(cameras);

    private static IEnumerable<Measurement<double>> Age(CameraRegistry cameras)
    {
        foreach (var c in cameras.All)
        {
            if (c.LastFrameAt is { } last)
            {
                yield return new Measurement<double>((c.Time.GetUtcNow() - last).TotalSeconds, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, c.Name));
            }
        }
    }

    private static Func<IEnumerable<Measurement<int>>> ObserveState(CameraRegistry cameras) => () => State(cameras);

    private static IEnumerable<Measurement<int>> State(CameraRegistry cameras)
    {
        foreach (var c in cameras.All)
        {
            var current = c.State;
            foreach (var state in States)
            {
                yield return new Measurement<int>(state == current ? 1 : 0, new TagList
                {
                    { SemanticAttributes.CameraId, c.Name },
                    { StateTag, CameraHealth.StateName(state) },
                });
            }
        }
    }

    private static Func<IEnumerable<Measurement<int>>> ObserveHealth(CameraRegistry cameras) => () => Health(cameras);

    private static IEnumerable<Measurement<int>> Health(CameraRegistry cameras)
    {
        foreach (var c in cameras.All)
        {
            var current = CameraHealth.StatusName(CameraHealth.Evaluate(c).Status);
            foreach (var name in HealthNames)
            {
                yield return new Measurement<int>(string.Equals(name, current, StringComparison.Ordinal) ? 1 : 0, new TagList
                {
                    { SemanticAttributes.CameraId, c.Name },
                    { HealthTag, name },
                });
            }
        }
    }

    private static Func<IEnumerable<Measurement<double>>> ObserveMotion(CameraRegistry cameras) => () => Motion(cameras);

    private static IEnumerable<Measurement<double>> Motion(CameraRegistry cameras)
    {
        foreach (var c in cameras.All)
        {
            if (c.LastMotionScore is { } score)
            {
                yield return new Measurement<double>(score, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, c.Name));
            }
        }
    }
}
