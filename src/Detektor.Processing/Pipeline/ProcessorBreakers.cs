using Detektor.Core.Lifecycle;
using Detektor.Core.Resilience;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;

namespace Detektor.Processing.Pipeline;

/// <summary>
/// Circuit breakers of the processors that ask for one (<see cref="FrameProcessor.UsesCircuitBreaker"/>: the detectors),
/// one per processor, named after it. Each attempt of such a processor runs through its breaker; an exception or a
/// watchdog timeout counts as a failure. While the breaker is open the processor is not called and the frame gets the
/// processor's policy (<c>Detektor:Processing:Processors:{name}:OnBreakerOpen</c>): fail-open skips it with
/// <c>detector_unavailable</c>, fail-closed throws <see cref="BrokenCircuitException"/> and the frame fails with
/// <c>circuit_open</c>, not retried.
/// </summary>
public sealed class ProcessorBreakers
{
    private readonly Dictionary<string, (CircuitBreaker Breaker, BreakerOpenPolicy Policy)> _guarded = new(StringComparer.Ordinal);

    public ProcessorBreakers(IEnumerable<FrameProcessor> processors, CircuitBreakers breakers, IOptions<ProcessingOptions> options)
    {
        foreach (var processor in processors)
        {
            if (processor.UsesCircuitBreaker)
            {
                _guarded[processor.Name] = (breakers.Get(processor.Name, static _ => true), options.Value.OnBreakerOpen(processor.Name));
            }
        }
    }

    /// <summary>The breaker of processor <paramref name="name"/>, or null when it has none.</summary>
    public CircuitBreaker? For(string name) => _guarded.TryGetValue(name, out var g) ? g.Breaker : null;

    /// <summary>Runs one attempt of <paramref name="processor"/>, through its breaker when it has one.</summary>
    public ValueTask<ProcessorResult> ProcessAsync(FrameProcessor processor, FrameContext frame, CancellationToken cancellationToken)
    {
        if (!_guarded.TryGetValue(processor.Name, out var guarded))
        {
            return processor.ProcessAsync(frame, cancellationToken);
        }

        return guarded.Policy == BreakerOpenPolicy.FailClosed
            ? guarded.Breaker.ExecuteAsync(static (s, ct) => s.processor.ProcessAsync(s.frame, ct), (processor, frame), cancellationToken)
            : FailOpenAsync(guarded.Breaker, processor, frame, cancellationToken);
    }

    private static async ValueTask<ProcessorResult> FailOpenAsync(CircuitBreaker breaker, FrameProcessor processor, FrameContext frame, CancellationToken cancellationToken)
    {
        try
        {
            return await breaker.ExecuteAsync(static (s, ct) => s.processor.ProcessAsync(s.frame, ct), (processor, frame), cancellationToken);
        }
        catch (BrokenCircuitException)
        {
            frame.Activity?.SetTag("pipeline.circuit_breaker", "open");
            return ProcessorResult.Skip(SkipReasons.DetectorUnavailable);
        }
    }
}
