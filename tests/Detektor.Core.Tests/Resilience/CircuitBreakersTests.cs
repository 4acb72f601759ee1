using System.Diagnostics.Metrics;
using Detektor.Core.Resilience;
using Detektor.Core.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Polly.CircuitBreaker;

namespace Detektor.Core.Tests.Resilience;

public sealed class CircuitBreakersTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => _services.Dispose();

    [Fact]
    public async Task Get_FailuresReachTheRatio_OpensRefusesThenClosesAfterASuccessfulProbe()
    {
        var meters = _services.GetRequiredService<IMeterFactory>();
        using var state = new MetricCollector<int>(meters, TelemetryNames.Core, "detektor.circuit_breaker.state");
        using var transitions = new MetricCollector<long>(meters, TelemetryNames.Core, "detektor.circuit_breaker.transitions");
        var sut = Create(new CircuitBreakerOptions { MinimumThroughput = 4, FailureRatio = 0.5, SamplingDurationSeconds = 10, BreakDurationSeconds = 5 });
        var breaker = sut.Get("objects");
        var calls = 0;

        Assert.Equal(1, await RunAsync(breaker, () => ++calls));
        Assert.Equal(2, await RunAsync(breaker, () => ++calls));
        await Assert.ThrowsAsync<InvalidOperationException>(() => RunAsync(breaker, () => throw new InvalidOperationException("model broke")));
        Assert.Equal(BreakerState.Closed, breaker.State); // 1 failure in 3 calls: below the throughput
        await Assert.ThrowsAsync<InvalidOperationException>(() => RunAsync(breaker, () => throw new InvalidOperationException("model broke")));

        Assert.Equal(BreakerState.Open, breaker.State); // 2 of 4 failed: ratio 0.5 reached
        Assert.Equal(_time.GetUtcNow(), breaker.Status.Since);
        await Assert.ThrowsAsync<BrokenCircuitException>(() => RunAsync(breaker, () => ++calls));
        Assert.Equal(2, calls); // refused calls are not made
        state.RecordObservableInstruments();
        Assert.Equal(2, state.LastMeasurement!.Value);
        Assert.Equal("objects", state.LastMeasurement.Tags[ResilienceTelemetry.BreakerTag]);

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(3, await RunAsync(breaker, () => ++calls)); // the half-open probe succeeds

        Assert.Equal(BreakerState.Closed, breaker.State);
        state.RecordObservableInstruments();
        Assert.Equal(0, state.LastMeasurement!.Value);
        Assert.Equal(["open", "half_open", "closed"], transitions.GetMeasurementSnapshot().Select(m => (string)m.Tags[ResilienceTelemetry.StateTag]!).ToArray());
    }

    [Fact]
    public async Task Get_ProbeFails_OpensAgainForAnotherBreak()
    {
        var sut = Create(new CircuitBreakerOptions { MinimumThroughput = 2, FailureRatio = 1, BreakDurationSeconds = 2 });
        var breaker = sut.Get("store");
        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<TimeoutException>(() => RunAsync(breaker, () => throw new TimeoutException()));
        }

        _time.Advance(TimeSpan.FromSeconds(2));
        await Assert.ThrowsAsync<TimeoutException>(() => RunAsync(breaker, () => throw new TimeoutException()));

        Assert.Equal(BreakerState.Open, breaker.State);
        _time.Advance(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAsync<BrokenCircuitException>(() => RunAsync(breaker, () => 1));
    }

    [Fact]
    public async Task Get_ExceptionTheCallerDoesNotCount_LeavesTheBreakerClosed()
    {
        var sut = Create(new CircuitBreakerOptions { MinimumThroughput = 2, FailureRatio = 0.5 });
        var breaker = sut.Get("store", ex => ex is not ArgumentException);

        for (var i = 0; i < 5; i++)
        {
            await Assert.ThrowsAsync<ArgumentException>(() => RunAsync(breaker, () => throw new ArgumentException("bad row")));
        }

        Assert.Equal(BreakerState.Closed, breaker.State);
    }

    [Fact]
    public async Task Get_Disabled_NeverOpensAndReportsClosed()
    {
        var sut = Create(new CircuitBreakerOptions { Enabled = false, MinimumThroughput = 2 });
        var breaker = sut.Get("redis");

        for (var i = 0; i < 5; i++)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => RunAsync(breaker, () => throw new InvalidOperationException()));
        }

        Assert.Equal(BreakerState.Closed, breaker.State);
        Assert.False(Assert.Single(sut.Snapshot()).Enabled);
    }

    [Fact]
    public void Snapshot_BreakersTakenAtStart_ListedClosedByName()
    {
        var sut = Create(new CircuitBreakerOptions());
        _ = sut.Get("store");
        _ = sut.Get("objects");
        _ = sut.Get("store");

        var snapshot = sut.Snapshot();

        Assert.Equal(["objects", "store"], snapshot.Select(s => s.Name).ToArray());
        Assert.All(snapshot, s => Assert.Equal("closed", s.StateText));
    }

    private CircuitBreakers Create(CircuitBreakerOptions options)
    {
        var o = new ResilienceOptions();
        o.Breakers["objects"] = options;
        o.Breakers["store"] = options;
        o.Breakers["redis"] = options;
        return new CircuitBreakers(
            Options.Create(o), new ResilienceTelemetry(_services.GetRequiredService<IMeterFactory>()), _time, NullLogger<CircuitBreakers>.Instance);
    }

    private static Task<int> RunAsync(CircuitBreaker breaker, Func<int> call) =>
        breaker.ExecuteAsync(static (c, _) => ValueTask.FromResult(c()), call, CancellationToken.None).AsTask();
}
