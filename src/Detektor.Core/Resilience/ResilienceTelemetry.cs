using System.Diagnostics.Metrics;
using Detektor.Core.Telemetry;

namespace Detektor.Core.Resilience;

/// <summary>
/// Metrics of the circuit breakers (meter <c>Detektor.Core</c>): <c>detektor.circuit_breaker.state</c> per breaker
/// (0 closed, 1 half-open, 2 open) and <c>detektor.circuit_breaker.transitions</c> by breaker and the state entered.
/// </summary>
public sealed class ResilienceTelemetry : IDisposable
{
    public const string BreakerTag = "breaker";
    public const string StateTag = "state";

    private readonly Meter _meter;
    private readonly Counter<long> _transitions;
    private Func<IEnumerable<CircuitBreakerStatus>>? _breakers;

    public ResilienceTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(TelemetryNames.Core);
        _transitions = _meter.CreateCounter<long>(
            "detektor.circuit_breaker.transitions", "{transition}", "Circuit breaker state changes, by breaker and the state entered (closed, half_open, open).");
        _meter.CreateObservableGauge(
            "detektor.circuit_breaker.state", ObserveStates, "{state}", "Circuit breaker state per breaker: 0 closed, 1 half-open, 2 open.");
    }

    /// <summary>Where the state gauge reads the breakers (set by <see cref="CircuitBreakers"/>).</summary>
    internal void Observe(Func<IEnumerable<CircuitBreakerStatus>> breakers) => _breakers = breakers;

    internal void Transition(string breaker, BreakerState state) => _transitions.Add(
        1, new KeyValuePair<string, object?>(BreakerTag, breaker), new KeyValuePair<string, object?>(StateTag, CircuitBreakerStatus.StateName(state)));

    private IEnumerable<Measurement<int>> ObserveStates()
    {
        foreach (var status in _breakers?.Invoke() ?? [])
        {
            yield return new Measurement<int>((int)status.State, new KeyValuePair<string, object?>(BreakerTag, status.Name));
        }
    }

    public void Dispose() => _meter.Dispose();
}
