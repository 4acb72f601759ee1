using Detektor.Core.Lifecycle;
using Detektor.Processing.Pipeline;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Processors;

/// <summary>
/// Skips frames in which nothing moves (<c>no_motion</c>): the motion score capture measured (share of changed area) is
/// below the camera's threshold. A frame without a score (capture did not measure one) counts as motion. A threshold of
/// 0 turns the gate off.
/// </summary>
public sealed class MotionGateProcessor(IOptions<DetectionOptions> options) : FrameProcessor
{
    public const string ProcessorName = "motion";

    private readonly DetectionOptions _options = options.Value;

    public override string Name => ProcessorName;

    public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        if (DetectGates.BelowMotionThreshold(_options, frame.Metadata) is { } threshold)
        {
            if (frame.Activity is { IsAllDataRequested: true } span)
            {
                span.SetTag("frame.motion_score", frame.Metadata.MotionScore);
                span.SetTag("detection.motion_threshold", threshold);
            }

            return ValueTask.FromResult(ProcessorResult.Skip(SkipReasons.NoMotion));
        }

        return ValueTask.FromResult(ProcessorResult.Continue);
    }
}
