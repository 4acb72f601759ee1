using Detektor.Bus.Abstractions;
using Detektor.Bus.Telemetry;
using Detektor.Core.Lifecycle;

namespace Detektor.Bus.Lifecycle;

/// <summary>Records a frame lifecycle event: counts it and sends it, never dropped, towards the event store.</summary>
public interface ILifecycleRecorder
{
    ValueTask RecordAsync(FrameEvent frameEvent, CancellationToken cancellationToken = default);
}

/// <summary>Publishes lifecycle events on the durable <see cref="Topics.Lifecycle"/> topic (publishers wait when it is full).</summary>
public sealed class BusLifecycleRecorder(IFrameBus bus, BusTelemetry telemetry) : ILifecycleRecorder
{
    public ValueTask RecordAsync(FrameEvent frameEvent, CancellationToken cancellationToken = default)
    {
        telemetry.RecordFrameEvent(frameEvent);
        return bus.PublishAsync(Topics.Lifecycle, frameEvent, cancellationToken);
    }
}
