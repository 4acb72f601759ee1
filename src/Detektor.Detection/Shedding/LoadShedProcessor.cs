using Detektor.Core.Lifecycle;
using Detektor.Detection.Telemetry;
using Detektor.Processing.Pipeline;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Shedding;

/// <summary>
/// The shed stage, between the detect-fps gate and the detectors: frames the <see cref="LoadShedController"/> sheds are
/// recorded <c>skipped</c> with reason <c>load_shed</c> (and the later detectors never see them). The frame's queue wait
/// on the <c>frames</c> topic is the load signal.
/// </summary>
public sealed class LoadShedProcessor : FrameProcessor
{
    public const string ProcessorName = "shed";

    private readonly LoadShedController _controller;

    public LoadShedProcessor(IOptions<DetectionOptions> options, DetectionTelemetry telemetry, TimeProvider time)
    {
        var o = options.Value;
        _controller = new LoadShedController(o.LoadShedding, camera => o.Camera(camera)?.Priority ?? 0, time);
        telemetry.ObserveShedSteps(_controller.Steps);
    }

    public override string Name => ProcessorName;

    public LoadShedController Controller => _controller;

    public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_controller.Admit(frame.Metadata.CameraId, frame.QueueWait)
            ? ProcessorResult.Continue
            : ProcessorResult.Skip(SkipReasons.LoadShed));
}
