using Detektor.Processing.Pipeline;

namespace Detektor.Processing.Processors;

/// <summary>
/// Stands in for an expensive processor (a detector on a slow box): waits a fixed time per frame and does nothing else.
/// For load tests, demos of backpressure and fault tests that need a processor to hold frames when it is killed.
/// Enabled with <c>Detektor:Processing:SimulatedWorkMs</c> &gt; 0.
/// </summary>
public sealed class SimulatedWorkProcessor(TimeSpan work, TimeProvider time) : FrameProcessor
{
    public const string ConfigurationKey = "Detektor:Processing:SimulatedWorkMs";

    public override string Name => "simulated";

    public override async ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        await Task.Delay(work, time, cancellationToken);
        return ProcessorResult.Continue;
    }
}
