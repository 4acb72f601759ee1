using System.Diagnostics;
using System.Diagnostics.Metrics;
using Detektor.Capture.Cameras;
using Detektor.Core.Telemetry;

namespace Detektor.Capture.Telemetry;

public sealed class CaptureTelemetry : IDisposable
{
    public static readonly ActivitySource ActivitySource = new(TelemetryNames.Capture);

    private readonly Meter _meter;
    private readonly Counter<long> _reconnects;
    private readonly Counter<long> _transitions;

    public CaptureTelemetry(IMeterFactory meterFactory, CameraRegistry cameras)
    {
        _meter = meterFactory.Create(TelemetryNames.Capture);
        _reconnects = _meter.CreateCounter<long>("detektor.camera.reconnects", "{reconnect}", "Reconnect attempts, by camera.");
        _transitions = _meter.CreateCounter<long>("detektor.camera.state.transitions", "{transition}", "Camera state changes, by camera and new state.");
        _meter.CreateObservableGauge("detektor.camera.fps", () => cameras.All.Select(c =>
            new Measurement<double>(c.MeasuredFps, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, c.Name))),
            "{frame}/s", "Measured frames per second.");
        _meter.CreateObservableGauge("detektor.camera.streaming", () => cameras.All.Select(c =>
            new Measurement<int>(c.State == CameraState.Streaming ? 1 : 0, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, c.Name))),
            "1", "1 while the camera is streaming, else 0.");
        _meter.CreateObservableGauge("detektor.camera.last_frame.age", () => cameras.All.Where(c => c.LastFrameAt is not null).Select(c =>
            new Measurement<double>((c.Time.GetUtcNow() - c.LastFrameAt!.Value).TotalSeconds, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, c.Name))),
            "s", "Seconds since the camera's last frame.");
    }

    public void RecordReconnect(string camera) => _reconnects.Add(1, new KeyValuePair<string, object?>(SemanticAttributes.CameraId, camera));

    public void RecordTransition(string camera, CameraState state) => _transitions.Add(1, new TagList
    {
        { SemanticAttributes.CameraId, camera },
        { "camera.state", state.ToString().ToLowerInvariant() },
    });

    public void Dispose() => _meter.Dispose();
}
