using Detektor.Core.Lifecycle;
using Detektor.Processing.Pipeline;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Processors;

/// <summary>
/// Limits detection to the camera's detect fps: a frame captured less than one interval after the last detected frame
/// of its camera is skipped (<c>fps</c>); see <see cref="DetectRate"/>. 0 = every frame.
/// </summary>
public sealed class DetectFpsProcessor(IOptions<DetectionOptions> options) : FrameProcessor
{
    public const string ProcessorName = "fps";

    private readonly DetectionOptions _options = options.Value;
    private readonly DetectRate _rate = new();

    public override string Name => ProcessorName;

    public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        var metadata = frame.Metadata;
        return ValueTask.FromResult(
            _rate.TryAdmit(metadata.CameraId, metadata.CaptureTime, DetectGates.DetectFps(_options, metadata.CameraId))
                ? ProcessorResult.Continue
                : ProcessorResult.Skip(SkipReasons.Fps));
    }
}
