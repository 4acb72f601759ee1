using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Detektor.Core.Frames;
using Detektor.Core.Messages;
using Detektor.Core.Resilience;
using Detektor.Detection.Shedding;
using Detektor.Processing;
using Detektor.Processing.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Detektor.Benchmarks;

/// <summary>
/// What a closed circuit breaker adds to one processor attempt (ProcessorBreakers, as the pipeline calls it) and what the
/// load-shed decision costs per frame, against calling the processor directly. The processor itself does nothing, so the
/// numbers are the overhead alone. Goal: well under 1 µs per frame (a detector attempt takes tens of milliseconds).
/// </summary>
[MemoryDiagnoser]
public class ResilienceBenchmarks
{
    private readonly NoOpProcessor _processor = new();
    private ServiceProvider _services = null!;
    private ProcessorBreakers _breakers = null!;
    private LoadShedController _shed = null!;
    private FrameContext _frame = null!;

    [GlobalSetup]
    public void Setup()
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var breakers = new CircuitBreakers(
            Options.Create(new ResilienceOptions()), new ResilienceTelemetry(_services.GetRequiredService<IMeterFactory>()), TimeProvider.System,
            NullLogger<CircuitBreakers>.Instance);
        _breakers = new ProcessorBreakers([_processor], breakers, Options.Create(new ProcessingOptions()));
        _shed = new LoadShedController(new LoadSheddingOptions(), _ => 0, TimeProvider.System);
        var metadata = new FrameMetadata { FrameId = new FrameIdGenerator(TimeProvider.System, 1).Next("bench", 1), CameraId = "bench", CaptureTime = DateTimeOffset.UnixEpoch };
        _frame = new FrameContext(new FrameMessage(metadata, null));
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    [Benchmark(Baseline = true, Description = "processor called directly")]
    public ValueTask<ProcessorResult> Direct() => _processor.ProcessAsync(_frame, CancellationToken.None);

    [Benchmark(Description = "through its closed breaker")]
    public ValueTask<ProcessorResult> ThroughBreaker() => _breakers.ProcessAsync(_processor, _frame, CancellationToken.None);

    [Benchmark(Description = "load-shed decision")]
    public bool ShedDecision() => _shed.Admit("bench", TimeSpan.FromMilliseconds(5));

    private sealed class NoOpProcessor : FrameProcessor
    {
        public override string Name => "objects";

        public override bool UsesCircuitBreaker => true;

        public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken) =>
            ValueTask.FromResult(ProcessorResult.Continue);
    }
}
