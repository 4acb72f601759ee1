using Detektor.Core.Health;
using Detektor.Core.Hosting.Supervision;
using Detektor.Core.Lifecycle;
using Detektor.Processing.Processors;
using Detektor.Testing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Detektor.Processing.Tests.Pipeline;

/// <summary>Fault injection on the real worker and in-process bus: a processor that hangs for ever (the test hook).</summary>
public sealed class SupervisedWorkerTests
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(30);

    private readonly HealthRegistry _health = new();

    private Func<System.Diagnostics.Metrics.IMeterFactory, LoopSupervisor> Supervisor(TimeSpan stall) => meters => new LoopSupervisor(
        Options.Create(new SupervisorOptions { StallTimeout = stall, BackoffInitial = TimeSpan.FromMilliseconds(50), BackoffMax = TimeSpan.FromMilliseconds(200) }),
        new SupervisorTelemetry(meters),
        _health,
        TimeProvider.System);

    private async Task<HealthStatus?> HealthOfAsync(string name)
    {
        var registration = _health.Snapshot().FirstOrDefault(r => r.Name == name);
        return registration is null
            ? null
            : (await registration.Factory(null!).CheckHealthAsync(new HealthCheckContext { Registration = registration })).Status;
    }

    [Fact]
    public async Task Consumer_ProcessorHangsOnAFrame_WatchdogRestartsItAndTheHungFrameIsRecordedDroppedStalled()
    {
        var hook = new HangingProcessor(hangOnFrame: 3);
        await using var harness = new WorkerHarness(
            new ProcessingOptions { Concurrency = 1, MaxAttempts = 1, ProcessorTimeoutSeconds = 1 }, Supervisor(TimeSpan.FromSeconds(2)), hook);
        var sut = harness.Sut;
        await harness.StartAsync();
        await Eventually.WaitAsync(() => harness.Supervisor!.Find("process:consumer-0") is not null, Recovery, "the consumer loop");
        Assert.Equal(HealthStatus.Healthy, await HealthOfAsync("loop:process:consumer-0"));

        var published = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            published.Add((await harness.PublishFrameAsync()).FrameId.ToString());
        }

        // Frames 1, 2 and (after the restart) 4, 5, 6 come out with a result; frame 3 hung.
        var results = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            results.Add((await harness.NextResultAsync(Recovery)).Metadata.FrameId.ToString());
        }

        Assert.Equal([published[0], published[1], published[3], published[4], published[5]], results);
        var loop = harness.Supervisor!.Find("process:consumer-0")!;
        Assert.Equal(1, loop.Restarts);
        Assert.Equal(LoopState.Running, loop.State);
        Assert.Contains("no progress", loop.LastError, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Healthy, await HealthOfAsync("loop:process:consumer-0"));
        Assert.Equal(6, hook.Seen);
        Assert.Equal(5, sut.FramesHandled);

        // Not lost: the hung frame has exactly one terminal event, dropped with the reason stalled.
        var events = await harness.DrainEventsAsync();
        var hung = events.Where(e => e.FrameId.ToString() == published[2] && e.Type is FrameEventType.Dropped or FrameEventType.ProcessingCompleted).ToList();
        var dropped = Assert.Single(hung);
        Assert.Equal(FrameEventType.Dropped, dropped.Type);
        Assert.Equal(DropReasons.Stalled, dropped.Reason);
        Assert.DoesNotContain(events, e => e.Type == FrameEventType.Dropped && e.FrameId.ToString() != published[2]);
    }

    [Fact]
    public async Task Consumer_Unsupervised_StillRunsWithoutLoopChecks()
    {
        await using var harness = new WorkerHarness(new ProcessingOptions { Concurrency = 2 }, new SampleProcessor());
        await harness.StartAsync();
        var frame = await harness.PublishFrameAsync();
        Assert.Equal(frame.FrameId, (await harness.NextResultAsync(Recovery)).Metadata.FrameId);
        Assert.Empty(_health.Snapshot());
    }
}
