using System.Diagnostics.Metrics;
using Detektor.Core.Telemetry;

namespace Detektor.Core.Hosting.Supervision;

/// <summary>
/// The supervisor's metrics: <c>detektor.supervisor.restarts{loop, reason}</c> (reason <c>fault</c> or <c>stalled</c>)
/// and the gauge <c>detektor.supervisor.loop.state{loop, state}</c>: 1 for each supervised loop's current state
/// (running, restarting, failed), 0 for the others.
/// </summary>
public sealed class SupervisorTelemetry : IDisposable
{
    public const string LoopTag = "loop";
    public const string ReasonTag = "reason";
    public const string StateTag = "state";

    private static readonly LoopState[] States = [LoopState.Running, LoopState.Restarting, LoopState.Failed];

    private readonly Meter _meter;
    private readonly Counter<long> _restarts;
    private readonly Counter<long> _failures;
    private Func<IReadOnlyCollection<LoopStatus>>? _loops;

    public SupervisorTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(TelemetryNames.Core);
        _restarts = _meter.CreateCounter<long>(
            "detektor.supervisor.restarts", "{restart}", "Supervised loops restarted, by loop and reason (fault, stalled).");
        _failures = _meter.CreateCounter<long>(
            "detektor.supervisor.failures", "{failure}", "Supervised loops given up on (marked failed) after too many restarts.");
        _meter.CreateObservableGauge(
            "detektor.supervisor.loop.state", Observe, "1", "1 for each supervised loop's current state (running, restarting, failed), 0 for the others.");
    }

    internal void Attach(Func<IReadOnlyCollection<LoopStatus>> loops) => _loops = loops;

    internal void RecordRestart(string loop, string reason) =>
        _restarts.Add(1, new KeyValuePair<string, object?>(LoopTag, loop), new KeyValuePair<string, object?>(ReasonTag, reason));

    internal void RecordFailure(string loop) => _failures.Add(1, new KeyValuePair<string, object?>(LoopTag, loop));

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<int>> Observe()
    {
        if (_loops is not { } loops)
        {
            yield break;
        }

        foreach (var loop in loops())
        {
            var state = loop.State;
            foreach (var s in States)
            {
                yield return new Measurement<int>(
                    state == s ? 1 : 0, new KeyValuePair<string, object?>(LoopTag, loop.Name), new KeyValuePair<string, object?>(StateTag, LoopStatus.StateName(s)));
            }
        }
    }
}
