using System.Diagnostics.Metrics;
using Detektor.Core.Health;
using Detektor.Core.Hosting.Supervision;
using Detektor.Core.Telemetry;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Options;

namespace Detektor.Core.Tests.Hosting;

/// <summary>The supervisor with real time and short windows; waits are generous bounds, never timing assertions.</summary>
public sealed class LoopSupervisorTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly CancellationTokenSource _stop = new();
    private readonly HealthRegistry _health = new();
    private readonly MetricCollector<long> _restarts;
    private readonly MetricCollector<long> _failures;
    private readonly SupervisorTelemetry _telemetry;

    public LoopSupervisorTests()
    {
        var meters = _services.GetRequiredService<IMeterFactory>();
        _restarts = new MetricCollector<long>(meters, TelemetryNames.Core, "detektor.supervisor.restarts");
        _failures = new MetricCollector<long>(meters, TelemetryNames.Core, "detektor.supervisor.failures");
        _telemetry = new SupervisorTelemetry(meters);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
        _restarts.Dispose();
        _failures.Dispose();
        _telemetry.Dispose();
        _services.Dispose();
    }

    private LoopSupervisor Create(int maxRestarts = 5, double stallSeconds = 30, double windowSeconds = 300) =>
        new(
            Options.Create(new SupervisorOptions
            {
                MaxRestarts = maxRestarts,
                Window = TimeSpan.FromSeconds(windowSeconds),
                BackoffInitial = TimeSpan.FromMilliseconds(10),
                BackoffMax = TimeSpan.FromMilliseconds(40),
                StallTimeout = TimeSpan.FromSeconds(stallSeconds),
            }),
            _telemetry,
            _health,
            TimeProvider.System);

    private long Restarts(string reason) =>
        _restarts.GetMeasurementSnapshot().Where(m => Equals(m.Tags[SupervisorTelemetry.ReasonTag], reason)).Sum(m => m.Value);

    private async Task<HealthStatus?> LoopHealthAsync(string loop)
    {
        var registration = _health.Snapshot().FirstOrDefault(r => r.Name == "loop:" + loop);
        if (registration is null)
        {
            return null;
        }

        var result = await registration.Factory(_services).CheckHealthAsync(new HealthCheckContext { Registration = registration });
        return result.Status;
    }

    [Fact]
    public async Task RunAsync_LoopThrowsTwice_RestartedAndRunsWithFaultsCounted()
    {
        var sut = Create();
        var runs = 0;
        var run = sut.RunAsync("flaky", async (_, token) =>
        {
            if (Interlocked.Increment(ref runs) <= 2)
            {
                throw new InvalidOperationException("boom");
            }

            await Task.Delay(Timeout.Infinite, token);
        }, _stop.Token);

        await Eventually.WaitAsync(() => Volatile.Read(ref runs) == 3, Wait, "the third run");
        var status = sut.Find("flaky")!;
        await Eventually.WaitAsync(() => status.State == LoopState.Running, Wait, "running again");
        Assert.Equal(2, status.Restarts);
        Assert.Equal(2, Restarts(LoopSupervisor.FaultReason));
        Assert.Contains("boom", status.LastError, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Healthy, await LoopHealthAsync("flaky"));

        await _stop.CancelAsync();
        await run.WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Null(await LoopHealthAsync("flaky"));
        Assert.Null(sut.Find("flaky"));
        Assert.Equal(3, runs);
    }

    [Fact]
    public async Task RunAsync_LoopKeepsFailing_MarkedFailedAfterMaxRestartsAndNotRunAgain()
    {
        var sut = Create(maxRestarts: 3);
        var runs = 0;
        var run = sut.RunAsync("broken", (_, _) =>
        {
            Interlocked.Increment(ref runs);
            throw new InvalidOperationException("always");
        }, _stop.Token);

        await Eventually.WaitAsync(() => sut.Find("broken")?.State == LoopState.Failed, Wait, "the loop marked failed");
        Assert.Equal(4, Volatile.Read(ref runs)); // the first run and 3 restarts
        Assert.Equal(3, sut.Find("broken")!.Restarts);
        Assert.Equal(3, Restarts(LoopSupervisor.FaultReason));
        Assert.Equal(1, _failures.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(HealthStatus.Unhealthy, await LoopHealthAsync("broken"));
        Assert.False(run.IsCompleted); // failed, not spinning, and not gone: it stays visible until the host stops

        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Equal(4, Volatile.Read(ref runs));
        await _stop.CancelAsync();
        await run.WaitAsync(Wait, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task RunAsync_RestartsSpreadBeyondTheWindow_NeverFails()
    {
        var sut = Create(maxRestarts: 1, windowSeconds: 1);
        var runs = 0;
        var run = sut.RunAsync("occasional", async (_, token) =>
        {
            if (Interlocked.Increment(ref runs) <= 3)
            {
                // Each failure comes after the previous one left the window.
                await Task.Delay(TimeSpan.FromSeconds(1.5), token);
                throw new InvalidOperationException("now and then");
            }

            await Task.Delay(Timeout.Infinite, token);
        }, _stop.Token);

        await Eventually.WaitAsync(() => Volatile.Read(ref runs) == 4, Wait, "the fourth run");
        Assert.Equal(3, Restarts(LoopSupervisor.FaultReason));
        Assert.Equal(LoopState.Running, sut.Find("occasional")!.State);
        Assert.Empty(_failures.GetMeasurementSnapshot());
        await _stop.CancelAsync();
        await run.WaitAsync(Wait, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task RunAsync_BusyWithoutProgress_CancelledAndRestartedAsStalled()
    {
        var sut = Create(stallSeconds: 0.2);
        var runs = 0;
        var sawStall = false;
        var run = sut.RunAsync("hangs-once", async (loop, token) =>
        {
            if (Interlocked.Increment(ref runs) == 1)
            {
                loop.WorkStarted();
                try
                {
                    await Task.Delay(Timeout.Infinite, token); // cooperative: returns when cancelled
                }
                catch (OperationCanceledException)
                {
                    sawStall = loop.StallDetected;
                    return;
                }
            }

            // Busy, but making progress: never stalled.
            while (!token.IsCancellationRequested)
            {
                loop.WorkStarted();
                await Task.Delay(20, CancellationToken.None);
                loop.WorkFinished();
            }
        }, _stop.Token);

        await Eventually.WaitAsync(() => Volatile.Read(ref runs) == 2, Wait, "the restart after the stall");
        Assert.True(sawStall);
        Assert.Equal(1, Restarts(LoopSupervisor.StalledReason));
        await Eventually.WaitAsync(() => sut.Find("hangs-once")!.Progress > 20, Wait, "progress of the second run");
        Assert.Equal(1, Restarts(LoopSupervisor.StalledReason));
        Assert.Equal(0, Restarts(LoopSupervisor.FaultReason));
        await _stop.CancelAsync();
        await run.WaitAsync(Wait, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task RunAsync_StalledRunIgnoresCancellation_AbandonedAndItsWorkAccounted()
    {
        var sut = Create(stallSeconds: 0.2);
        var runs = 0;
        var accounted = 0;
        var hung = new TaskCompletionSource();
        var run = sut.RunAsync("hangs-hard", async (loop, token) =>
        {
            if (Interlocked.Increment(ref runs) == 1)
            {
                loop.OnAbandoned(() =>
                {
                    Interlocked.Increment(ref accounted);
                    return ValueTask.CompletedTask;
                });
                loop.WorkStarted();
                await hung.Task; // ignores the token
                return;
            }

            await Task.Delay(Timeout.Infinite, token);
        }, _stop.Token);

        await Eventually.WaitAsync(() => Volatile.Read(ref runs) == 2, Wait, "the restart after abandoning");
        Assert.Equal(1, Volatile.Read(ref accounted));
        Assert.Equal(1, Restarts(LoopSupervisor.StalledReason));
        await _stop.CancelAsync();
        await run.WaitAsync(Wait, TestContext.Current.CancellationToken);
        hung.SetResult();
    }

    [Fact]
    public async Task RunAsync_IdleLoopWithoutWork_IsNeverStalled()
    {
        var sut = Create(stallSeconds: 0.1);
        var run = sut.RunAsync("idle", (_, token) => Task.Delay(Timeout.Infinite, token), _stop.Token);
        await Task.Delay(600, TestContext.Current.CancellationToken);
        Assert.Equal(0, sut.Find("idle")!.Restarts);
        Assert.Empty(_restarts.GetMeasurementSnapshot());
        await _stop.CancelAsync();
        await run.WaitAsync(Wait, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task RunAsync_LoopReturnsOnItsOwn_NotRestarted()
    {
        var sut = Create();
        var runs = 0;
        await sut.RunAsync("finite", (_, _) =>
        {
            Interlocked.Increment(ref runs);
            return Task.CompletedTask;
        }, _stop.Token).WaitAsync(Wait, TestContext.Current.CancellationToken);

        Assert.Equal(1, runs);
        Assert.Empty(_restarts.GetMeasurementSnapshot());
        Assert.Empty(_health.Snapshot());
    }

    [Fact]
    public async Task RunAsync_HostStopsDuringDrain_WaitsForTheShutdownPath()
    {
        var sut = Create();
        var drained = false;
        var run = sut.RunAsync("drains", async (_, token) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            catch (OperationCanceledException)
            {
                await Task.Delay(100, CancellationToken.None);
                drained = true;
            }
        }, _stop.Token);

        await Eventually.WaitAsync(() => sut.Find("drains") is not null, Wait, "the loop registered");
        await _stop.CancelAsync();
        await run.WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.True(drained);
        Assert.Empty(_restarts.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task RunAsync_SameNameTwice_Throws()
    {
        var sut = Create();
        var first = sut.RunAsync("twin", (_, token) => Task.Delay(Timeout.Infinite, token), _stop.Token);
        await Eventually.WaitAsync(() => sut.Find("twin") is not null, Wait, "the first loop registered");
        await Assert.ThrowsAsync<InvalidOperationException>(() => sut.RunAsync("twin", (_, _) => Task.CompletedTask, _stop.Token));
        await _stop.CancelAsync();
        await first.WaitAsync(Wait, TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData(1, 10)]
    [InlineData(2, 20)]
    [InlineData(3, 40)]
    [InlineData(4, 40)]
    [InlineData(40, 40)]
    public void Backoff_Restart_DoublesFromInitialUpToMax(int restart, int expectedMs)
    {
        var sut = Create();
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), sut.Backoff(restart));
    }

    [Fact]
    public void Validate_BadValues_NamesEachKeyOnItsOwnLine()
    {
        var sut = new SupervisorOptionsValidator();
        var result = sut.Validate(null, new SupervisorOptions
        {
            MaxRestarts = -1,
            Window = TimeSpan.Zero,
            BackoffInitial = TimeSpan.FromSeconds(10),
            BackoffMax = TimeSpan.FromSeconds(5),
            StallTimeout = TimeSpan.FromMilliseconds(1),
        });

        Assert.True(result.Failed);
        var lines = result.Failures!.ToList();
        Assert.Equal(4, lines.Count);
        Assert.Contains(lines, l => l.StartsWith("Detektor:Supervisor:MaxRestarts: -1 is out of range; allowed 0 to 1000", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("Detektor:Supervisor:Window: 00:00:00 is out of range", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("Detektor:Supervisor:StallTimeout:", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("Detektor:Supervisor:BackoffMax: 00:00:05 is out of range; must be at least Detektor:Supervisor:BackoffInitial", StringComparison.Ordinal));
        Assert.True(sut.Validate(null, new SupervisorOptions()).Succeeded);
    }
}
