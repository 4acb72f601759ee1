using System.Diagnostics.Metrics;
using Detektor.Bus.Abstractions;
using Detektor.Core.Lifecycle;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using static Detektor.Bus.Tests.TestFrames;

namespace Detektor.Bus.Tests.Redis;

/// <summary>Redis itself failing: killed mid-run (AOF, fsync always) and absent at start. Each test owns its server.</summary>
public sealed class RedisFaultTests
{
    private static Dictionary<string, string?> Settings(RedisServer server)
    {
        var settings = BusHost.RedisSettings(server);
        settings["Detektor:Bus:ClaimIdleMs"] = "1000";
        settings["Detektor:Bus:Backpressure:Enabled"] = "false";
        return settings;
    }

    private static async Task<HealthReportEntry> RedisHealthAsync(BusHost host)
    {
        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == "redis", TestContext.Current.CancellationToken);
        return report.Entries["redis"];
    }

    [Fact]
    public async Task RedisKilledAndRestarted_MidRun_NoAcknowledgedEventLostAndPipelineResumesByItself()
    {
        await using var server = await RedisServer.StartAsync(appendFsync: "always");
        await using var host = await BusHost.StartAsync(Settings(server));
        var bus = host.Bus;
        var acked = new List<Guid>();
        var lockObject = new Lock();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        await using var store = bus.Subscribe(Topics.Lifecycle, "store", "store-1");
        var consumer = Task.Run(
            async () =>
        {
            var batch = new List<BusDelivery<FrameEvent>>();
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await store.ReadAsync(batch, 16, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                await store.AckAsync(batch, CancellationToken.None); // waits out the outage: an ack is never given up
                lock (lockObject)
                {
                    acked.AddRange(batch.Select(d => d.Message.EventId));
                }

                batch.Clear();
            }
        },
            TestContext.Current.CancellationToken);

        var published = new List<Guid>();
        for (var i = 1; i <= 200; i++)
        {
            if (i == 80)
            {
                await server.KillAsync();
                Assert.Equal(HealthStatus.Unhealthy, (await RedisHealthAsync(host)).Status);
                _ = Task.Run(
                    async () =>
                    {
                        await Task.Delay(1500, TestContext.Current.CancellationToken);
                        await server.StartAgainAsync();
                    },
                    TestContext.Current.CancellationToken);
            }

            var e = Event(Frame("cam1", i));
            await bus.PublishAsync(Topics.Lifecycle, e, TestContext.Current.CancellationToken); // returns once Redis or the spill has it
            published.Add(e.EventId);
        }

        await Eventually.WaitAsync(
            () => { lock (lockObject) { return acked.Distinct().Count() >= 200; } },
            TimeSpan.FromSeconds(90),
            "all 200 events acknowledged by the consumer");
        await Task.Delay(3000, TestContext.Current.CancellationToken); // redeliveries of unacknowledged reads would arrive now
        await stop.CancelAsync();
        await consumer;

        Assert.Equal(published.Order(), acked.Distinct().Order());
        Assert.Equal(HealthStatus.Healthy, (await RedisHealthAsync(host)).Status);
        var lifecycle = (await bus.GetSnapshotAsync(TestContext.Current.CancellationToken)).Topics.Single(t => t.Name == Topics.Lifecycle.Name);
        Assert.Equal(0, lifecycle.Depth);
        Assert.Equal(0, lifecycle.InFlight);
    }

    [Fact]
    public async Task RedisDownAtStart_SpillOffHealthUnhealthyAndPublishWaits_ThenRecoversWhenRedisComesUp()
    {
        await using var server = RedisServer.Create();
        var settings = Settings(server);
        settings["Detektor:Bus:Redis:LifecycleSpill:Enabled"] = "false"; // without the spill, lifecycle publishers wait
        await using var host = await BusHost.StartAsync(settings);
        var bus = host.Bus;

        var down = await RedisHealthAsync(host);
        Assert.Equal(HealthStatus.Unhealthy, down.Status);
        Assert.Contains($"redis at {server.Endpoint} is unreachable", down.Description, StringComparison.Ordinal);
        var e = Event(Frame("cam1", 1));
        var publish = bus.PublishAsync(Topics.Lifecycle, e, TestContext.Current.CancellationToken).AsTask();
        await Task.Delay(1000, TestContext.Current.CancellationToken);
        Assert.False(publish.IsCompleted, "a durable publish waits for Redis");

        await server.StartAgainAsync();
        await publish.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        await using var store = bus.Subscribe(Topics.Lifecycle, "store", "s1");
        var got = Assert.Single(await ReadAsync(store, 1, TimeSpan.FromSeconds(60)));

        Assert.Equal(e.EventId, got.Message.EventId);
        await Eventually.WaitAsync(async () => (await RedisHealthAsync(host)).Status, s => s == HealthStatus.Healthy, TimeSpan.FromSeconds(30), "redis healthy");
    }

    [Fact]
    public async Task FramePublish_RedisUnreachableLongerThanTheTimeout_DroppedAsBusUnavailableSpilledAndPublishedOnceRedisIsBack()
    {
        await using var server = RedisServer.Create();
        var settings = Settings(server);
        settings["Detektor:Bus:Redis:FramePublishTimeoutMs"] = "300";
        await using var host = await BusHost.StartAsync(settings);
        var bus = host.Bus;
        var frame = Frame("cam1", 1);

        // Redis comes back only once the bus has given up on the frame (its drop is counted): on a busy machine the first
        // connection attempt alone can outlast any fixed delay.
        var drops = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "detektor.frames.dropped")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (Equals(tag.Value, Detektor.Bus.Redis.BusDropReasons.BusUnavailable))
                {
                    Interlocked.Add(ref drops, (int)value);
                }
            }
        });
        listener.Start();
        var publish = bus.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken).AsTask();
        await Eventually.WaitAsync(() => Volatile.Read(ref drops) > 0, TimeSpan.FromSeconds(60), "the frame dropped while Redis is down");
        await publish.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken); // the drop event is spilled: nothing waits for Redis
        Assert.Equal(1, host.Services.GetRequiredService<Detektor.Bus.Redis.RedisFrameBus>().Spill!.Events);
        await server.StartAgainAsync();
        await using var store = bus.Subscribe(Topics.Lifecycle, "store", "s1");
        var dropped = Assert.Single(await ReadAsync(store, 1, TimeSpan.FromSeconds(60))).Message;

        Assert.Equal(frame.Metadata.FrameId, dropped.FrameId);
        Assert.Equal(Detektor.Bus.Redis.BusDropReasons.BusUnavailable, dropped.Reason);
        Assert.Equal(0, (await bus.GetSnapshotAsync(TestContext.Current.CancellationToken)).Topics.Single(t => t.Name == "frames").Length);
    }
}
