using System.Diagnostics.Metrics;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Redis;
using Detektor.Core.Health;
using Detektor.Core.Lifecycle;
using Detektor.Core.Resilience;
using Detektor.Core.Telemetry;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using static Detektor.Bus.Tests.TestFrames;

namespace Detektor.Bus.Tests.Redis;

/// <summary>
/// The Redis bus during an outage of a real redis-server: frames fail fast (breaker <c>redis</c>), lifecycle events go to
/// the on-disk spill and reach Redis, in order, once it is back — also from a spill an earlier process left.
/// </summary>
public sealed class RedisLifecycleSpillTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    private static Dictionary<string, string?> Settings(RedisServer server, TempDirectory? dataDir = null)
    {
        var settings = BusHost.RedisSettings(server);
        if (dataDir is not null)
        {
            settings["Detektor:DataDir"] = dataDir.Path; // the spill outlives the host
        }

        settings["Detektor:Bus:Backpressure:Enabled"] = "false";
        settings["Detektor:Bus:Redis:FramePublishTimeoutMs"] = "200";
        settings["Detektor:Resilience:Breakers:redis:MinimumThroughput"] = "2";
        settings["Detektor:Resilience:Breakers:redis:SamplingDurationSeconds"] = "2";
        settings["Detektor:Resilience:Breakers:redis:BreakDurationSeconds"] = "1";
        return settings;
    }

    /// <summary>Reads and acknowledges the lifecycle topic as the store would, keeping what arrived in order.</summary>
    private sealed class LifecycleReader : IAsyncDisposable
    {
        private readonly IBusSubscription<FrameEvent> _subscription;
        private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        private readonly List<FrameEvent> _events = [];
        private readonly Lock _lock = new();
        private readonly Task _loop;

        public LifecycleReader(IFrameBus bus)
        {
            _subscription = bus.Subscribe(Topics.Lifecycle, "store", "store-1");
            _loop = Task.Run(RunAsync, TestContext.Current.CancellationToken);
        }

        public List<FrameEvent> Events
        {
            get
            {
                lock (_lock)
                {
                    return [.. _events];
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            await _subscription.DisposeAsync();
            _stop.Dispose();
        }

        private async Task RunAsync()
        {
            var batch = new List<BusDelivery<FrameEvent>>();
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await _subscription.ReadAsync(batch, 64, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                await _subscription.AckAsync(batch, CancellationToken.None);
                lock (_lock)
                {
                    _events.AddRange(batch.Select(d => d.Message));
                }

                batch.Clear();
            }
        }
    }

    /// <summary>What capture does per frame: captured, queued, then the frame itself; returns the events it recorded.</summary>
    private static async Task<List<FrameEvent>> CaptureAsync(IFrameBus bus, int from, int to)
    {
        var recorded = new List<FrameEvent>();
        for (var i = from; i <= to; i++)
        {
            var frame = Frame("cam1", i);
            foreach (var e in new[] { Event(frame), Event(frame, FrameEventType.Queued) })
            {
                await bus.PublishAsync(Topics.Lifecycle, e, TestContext.Current.CancellationToken).AsTask().WaitAsync(Wait, TestContext.Current.CancellationToken);
                recorded.Add(e);
            }

            await bus.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken).AsTask().WaitAsync(Wait, TestContext.Current.CancellationToken);
        }

        return recorded;
    }

    private static async Task<HealthCheckResult> SpillHealthAsync(BusHost host)
    {
        var registration = Assert.Single(host.Services.GetRequiredService<HealthRegistry>().Snapshot(), r => r.Name == LifecycleSpillHealthCheck.Name);
        return await registration.Factory(host.Services).CheckHealthAsync(new HealthCheckContext { Registration = registration }, TestContext.Current.CancellationToken);
    }

    private static bool Transitioned(MetricCollector<long> transitions, string state) =>
        transitions.GetMeasurementSnapshot().Any(m => Equals(m.Tags[ResilienceTelemetry.BreakerTag], RedisFrameBus.BreakerName) && Equals(m.Tags[ResilienceTelemetry.StateTag], state));

    [Fact]
    public async Task RedisKilled_CaptureSequenceCompletesWhileDown_EventsSpilledThenReplayedInOrderAndBreakerOpensThenCloses()
    {
        await using var server = await RedisServer.StartAsync(appendFsync: "always");
        await using var host = await BusHost.StartAsync(Settings(server));
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        using var transitions = new MetricCollector<long>(meters, TelemetryNames.Core, "detektor.circuit_breaker.transitions");
        using var spilled = new MetricCollector<long>(meters, TelemetryNames.Bus, "detektor.bus.lifecycle_spill.spilled");
        using var replayed = new MetricCollector<long>(meters, TelemetryNames.Bus, "detektor.bus.lifecycle_spill.replayed");
        using var dropped = new MetricCollector<long>(meters, TelemetryNames.Bus, "detektor.frames.dropped");
        var bus = host.Bus;
        var spill = host.Services.GetRequiredService<RedisFrameBus>().Spill!;
        await using var reader = new LifecycleReader(bus);
        var before = await CaptureAsync(bus, 1, 5);
        await Eventually.WaitAsync(() => reader.Events.Count >= before.Count, Wait, "the events before the outage");

        await server.KillAsync();
        var during = await CaptureAsync(bus, 6, 35); // completes with Redis down: nothing on the capture path waits for it
        var spilling = await SpillHealthAsync(host);

        // The replayer keeps probing through the breaker; once the failures outweigh the calls that went through before the
        // outage (within the sampling window), it opens.
        await Eventually.WaitAsync(() => Transitioned(transitions, "open"), Wait, "the redis breaker open");
        Assert.True(spill.IsSpilling);
        Assert.Equal(HealthStatus.Degraded, spilling.Status);
        Assert.Equal(spill.Events, (long)spilling.Data["events"]);
        Assert.NotEqual(BreakerState.Closed, host.Services.GetRequiredService<CircuitBreakers>().Get(RedisFrameBus.BreakerName).State); // its probes fail while Redis is down

        await server.StartAgainAsync();
        await Eventually.WaitAsync(() => !spill.IsSpilling, Wait, "the spill replayed");
        var expected = before.Count + during.Count + 30; // each outage frame also has its dropped event
        var all = await Eventually.WaitAsync(() => Task.FromResult(reader.Events), e => e.Count >= expected, Wait, $"{expected} lifecycle events in Redis");
        await Eventually.WaitAsync(() => Transitioned(transitions, "closed"), Wait, "the redis breaker closed");

        // Every event arrived once; each frame's in the order recorded: captured, queued, dropped (bus_unavailable).
        Assert.Equal(expected, all.Count);
        Assert.Equal(expected, all.Select(e => e.EventId).Distinct().Count());
        Assert.Equal(before, all.Take(before.Count));
        foreach (var frame in all.Skip(before.Count).GroupBy(e => e.FrameId))
        {
            Assert.Equal([FrameEventType.Captured, FrameEventType.Queued, FrameEventType.Dropped], frame.Select(e => e.Type));
            Assert.Equal(BusDropReasons.BusUnavailable, frame.Last().Reason);
        }

        Assert.Equal(during, all.Where(e => e.Type != FrameEventType.Dropped).Skip(before.Count));
        Assert.Equal(30, dropped.GetMeasurementSnapshot().Where(m => Equals(m.Tags["pipeline.reason"], BusDropReasons.BusUnavailable)).Sum(m => m.Value));
        var spilledTotal = spilled.GetMeasurementSnapshot().Sum(m => m.Value);
        Assert.True(spilledTotal >= 60, $"{spilledTotal} spilled"); // captured + queued of 30 frames at least; most drop events too
        Assert.Equal(spilledTotal, replayed.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal((0, 0), (spill.Events, spill.Bytes));
        Assert.Equal(HealthStatus.Healthy, (await SpillHealthAsync(host)).Status);
        Assert.Equal(5, (await bus.GetSnapshotAsync(TestContext.Current.CancellationToken)).Topics.Single(t => t.Name == Topics.Frames.Name).Length); // only the frames from before
    }

    [Fact]
    public async Task Start_SpillLeftByAProcessThatStoppedWhileRedisWasDown_ReplaysItInOrderOnceRedisAnswers()
    {
        await using var server = RedisServer.Create();
        using var dataDir = new TempDirectory("detektor-spill-restart");
        var settings = Settings(server, dataDir);
        var events = Enumerable.Range(1, 10).Select(i => Event(Frame("cam1", i))).ToList();
        await using (var first = await BusHost.StartAsync(settings, "first"))
        {
            foreach (var e in events)
            {
                await first.Bus.PublishAsync(Topics.Lifecycle, e, TestContext.Current.CancellationToken).AsTask().WaitAsync(Wait, TestContext.Current.CancellationToken);
            }

            Assert.Equal(10, first.Services.GetRequiredService<RedisFrameBus>().Spill!.Events);
        }

        await server.StartAgainAsync();
        await using var sut = await BusHost.StartAsync(settings, "second");
        var spill = sut.Services.GetRequiredService<RedisFrameBus>().Spill!;
        Assert.Equal(HealthStatus.Degraded, (await SpillHealthAsync(sut)).Status);
        await using var reader = new LifecycleReader(sut.Bus);

        var arrived = await Eventually.WaitAsync(() => Task.FromResult(reader.Events), e => e.Count >= 10, Wait, "the leftover spill in Redis");
        await Eventually.WaitAsync(() => !spill.IsSpilling, Wait, "the spill empty");

        Assert.Equal(events, arrived);
        Assert.Empty(Directory.GetFiles(Path.Combine(dataDir.Path, "lifecycle-spill"), "*.dkj"));
    }

    [Fact]
    public async Task Stop_SpillWithRedisBackBeforeTheReplayerRan_LastRoundAtShutdownPublishesIt()
    {
        await using var server = RedisServer.Create();
        using var dataDir = new TempDirectory("detektor-spill-stop");
        var settings = Settings(server, dataDir);
        settings["Detektor:Bus:Redis:MonitorIntervalMs"] = "60000"; // the replayer's next round is far away
        var events = Enumerable.Range(1, 6).Select(i => Event(Frame("cam1", i))).ToList();
        var host = await BusHost.StartAsync(settings, "stopping");
        try
        {
            foreach (var e in events)
            {
                await host.Bus.PublishAsync(Topics.Lifecycle, e, TestContext.Current.CancellationToken).AsTask().WaitAsync(Wait, TestContext.Current.CancellationToken);
            }

            Assert.Equal(6, host.Services.GetRequiredService<RedisFrameBus>().Spill!.Events);
            await server.StartAgainAsync();
            await Eventually.WaitAsync(
                async () => (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == "redis", TestContext.Current.CancellationToken)).Status,
                s => s == HealthStatus.Healthy,
                Wait,
                "the bus connected to Redis again");
        }
        finally
        {
            await host.DisposeAsync();
        }

        // Another process on the same keys finds the events in Redis; nothing was left on disk.
        var readerSettings = new Dictionary<string, string?>(settings);
        readerSettings.Remove("Detektor:DataDir");
        readerSettings["Detektor:Bus:Redis:MonitorIntervalMs"] = "50";
        await using var other = await BusHost.StartAsync(readerSettings, "reader");
        await using var store = other.Bus.Subscribe(Topics.Lifecycle, "store", "s1");
        var arrived = await ReadAsync(store, 6, Wait);

        Assert.Equal(events, arrived.Select(d => d.Message));
        Assert.Empty(Directory.GetFiles(Path.Combine(dataDir.Path, "lifecycle-spill"), "*.dkj"));
    }
}
