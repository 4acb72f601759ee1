using Detektor.Bus.Lifecycle;
using Detektor.Bus.Routing;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Processors;

/// <summary>
/// The camera's detect fps applied at capture (<c>Detektor:Detection:GateAtCapture</c>, on by default), so that frames the
/// chain would skip never reach the bus. Only for a camera with a detect fps (0 = every frame: nothing is gated here):
/// <list type="bullet">
/// <item>a frame with motion (or no score) goes through the same rate as the chain's <c>fps</c> stage, and is skipped
/// <c>fps</c> here when it is not due;</item>
/// <item>a still frame (below the motion threshold) is published at most at the detect fps too, on a rate of its own, and
/// skipped <c>no_motion</c> otherwise. The chain's motion gate skips the ones published; they are what keeps the tracker's
/// clock going in a still scene (a tracked object that stops moving still leaves), ADR 0003.</item>
/// </list>
/// So the chain detects exactly the frames it would detect if every frame were published, and every other frame is skipped
/// with the reason the chain would have given. Cameras routed to a capability (<c>Detektor:Bus:Routes</c>) are left to their
/// processors.
/// </summary>
public sealed class DetectionCaptureGate(IOptions<DetectionOptions> options, FrameRouter router) : ICaptureGate
{
    private readonly DetectionOptions _options = options.Value;
    private readonly DetectRate _moving = new();
    private readonly DetectRate _still = new();

    public string? SkipReason(FrameMetadata metadata)
    {
        var fps = DetectGates.DetectFps(_options, metadata.CameraId);
        if (fps <= 0 || router.CapabilityOf(metadata.CameraId) is not null)
        {
            return null;
        }

        return DetectGates.BelowMotionThreshold(_options, metadata) is not null
            ? _still.TryAdmit(metadata.CameraId, metadata.CaptureTime, fps) ? null : SkipReasons.NoMotion
            : _moving.TryAdmit(metadata.CameraId, metadata.CaptureTime, fps) ? null : SkipReasons.Fps;
    }
}
