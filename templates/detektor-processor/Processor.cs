using Detektor.Processing.Pipeline;

namespace Detektor.Processor1;

/// <summary>
/// Your processor. The pipeline calls <see cref="ProcessAsync"/> once per frame inside a span named "process {Name}" and
/// records processing_started / processing_completed (or skipped / processing_failed) for you.
/// </summary>
public sealed class Processor : FrameProcessor
{
    public override string Name => "processor-name";

    public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        if (frame.Pixels is null)
        {
            return ValueTask.FromResult(ProcessorResult.Skip("no_pixels"));
        }

        // Look at frame.Pixels.Span (laid out as frame.Metadata.PixelFormat, e.g. rgb24), add frame.Detections,
        // set frame.Metadata.Tags, tag frame.Activity (check IsAllDataRequested first).
        frame.Metadata.Tags["processor-name.seen"] = "true";
        return ValueTask.FromResult(ProcessorResult.Continue);
    }
}
