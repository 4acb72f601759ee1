using Detektor.Bus.Abstractions;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Testing;
using static Detektor.Bus.Tests.TestFrames;

namespace Detektor.Bus.Tests.Conformance;

/// <summary>
/// What every <see cref="IFrameBus"/> promises, run against each implementation (in process and Redis Streams): the
/// same tests, the same assertions. A subclass only says how to start its bus.
/// </summary>
public abstract class FrameBusConformanceTests
{
    protected const string Processors = "processors";
    protected const string Store = "store";
    private static readonly TimeSpan ClaimIdle = TimeSpan.FromMilliseconds(500);

    /// <summary>Starts a bus with these settings (plus whatever the transport needs).</summary>
    protected abstract Task<BusHost> StartAsync(Dictionary<string, string?> settings);

    private Task<BusHost> StartAsync(int framesCapacity = 64, int durableCapacity = 100_000, int claimIdleMs = 500, int maxDeliveries = 3) =>
        StartAsync(new Dictionary<string, string?>
        {
            ["Detektor:Bus:FramesCapacity"] = BusHost.Ms(framesCapacity),
            ["Detektor:Bus:DurableCapacity"] = BusHost.Ms(durableCapacity),
            ["Detektor:Bus:ClaimIdleMs"] = BusHost.Ms(claimIdleMs),
            ["Detektor:Bus:MaxDeliveries"] = BusHost.Ms(maxDeliveries),
            ["Detektor:Bus:Backpressure:Enabled"] = "false",
        });

    [Fact]
    public async Task Publish_FrameWithPixelsAndTrace_ConsumerGetsSameMetadataPixelsAndTrace()
    {
        await using var host = await StartAsync();
        var sut = host.Bus;
        await using var consumer = sut.Subscribe(Topics.Frames, Processors, "c1");
        var frame = Frame("cam1", 7);
        var metadata = frame.Metadata;

        await sut.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken);
        var delivery = Assert.Single(await ReadAsync(consumer, 1));

        var got = delivery.Message;
        Assert.Equal(metadata, got.Metadata);
        Assert.Equal(metadata.Trace.TraceId, got.Metadata.Trace.TraceId);
        Assert.Equal(metadata.Trace.SpanId, got.Metadata.Trace.SpanId);
        Assert.Equal("vendor=detektor", got.Metadata.Trace.TraceState);
        Assert.Equal(ExpectedPixels(7), got.Pixels!.Span.ToArray());
        Assert.Equal(1, delivery.DeliveryCount);
        Assert.NotEqual(default, delivery.EnqueuedAt);
        await consumer.AckAsync(delivery, TestContext.Current.CancellationToken);
        got.Release();
    }

    [Fact]
    public async Task Read_FourConsumersAckingConcurrently_EveryFrameDeliveredOnceAndNoReadFaults()
    {
        // Regression: a reader that found deliveries in flight, then saw the last of them acknowledged by another consumer
        // before it computed its wake-up time, asked for a timer of ~10^4 years and threw (the process role's consumers
        // were restarted by the supervisor under load).
        const int frames = 2000;
        await using var host = await StartAsync(framesCapacity: frames);
        var sut = host.Bus;
        var token = TestContext.Current.CancellationToken;
        for (var i = 1; i <= frames; i++)
        {
            await sut.PublishAsync(Topics.Frames, Frame("cam1", i), token);
        }

        var seen = new System.Collections.Concurrent.ConcurrentDictionary<long, int>();
        var delivered = 0;
        var consumers = Enumerable.Range(1, 4).Select(n => Task.Run(async () =>
        {
            await using var consumer = sut.Subscribe(Topics.Frames, Processors, $"c{n}");
            var batch = new List<BusDelivery<FrameMessage>>();
            while (Volatile.Read(ref delivered) < frames)
            {
                batch.Clear();
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(token);
                wait.CancelAfter(TimeSpan.FromSeconds(2));
                try
                {
                    await consumer.ReadAsync(batch, 1, wait.Token);
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    continue;
                }

                foreach (var delivery in batch)
                {
                    seen.AddOrUpdate(delivery.Message.Metadata.FrameId.Sequence, 1, (_, c) => c + 1);
                    await consumer.AckAsync(delivery, token);
                    delivery.Message.Release();
                    Interlocked.Increment(ref delivered);
                }
            }
        }, token)).ToArray();

        await Task.WhenAll(consumers).WaitAsync(TimeSpan.FromMinutes(2), token);

        Assert.Equal(frames, seen.Count);
        Assert.All(seen.Values, count => Assert.Equal(1, count));
    }

    [Fact]
    public async Task Publish_ResultsAndEvents_RoundTripWithTheirTraceContext()
    {
        await using var host = await StartAsync();
        var sut = host.Bus;
        await using var results = sut.Subscribe(Topics.Results, Store, "s1");
        await using var events = sut.Subscribe(Topics.Lifecycle, Store, "s1");
        var frame = Frame("cam1", 1);
        var result = Result(frame);
        var captured = Event(frame);

        await sut.PublishAsync(Topics.Results, result, TestContext.Current.CancellationToken);
        await sut.PublishAsync(Topics.Lifecycle, captured, TestContext.Current.CancellationToken);
        var gotResult = Assert.Single(await ReadAsync(results, 1)).Message;
        var gotEvent = Assert.Single(await ReadAsync(events, 1)).Message;

        Assert.Equal(result.Metadata, gotResult.Metadata);
        Assert.Equal(FrameOutcome.Processed, gotResult.Outcome);
        Assert.Equal(result.CompletedAt, gotResult.CompletedAt);
        var detection = Assert.Single(gotResult.Detections);
        Assert.Equal(result.Detections[0], detection);
        Assert.Equal(captured, gotEvent);
        Assert.Equal(frame.Metadata.Trace.TraceId, gotEvent.TraceId);
    }

    [Fact]
    public async Task Read_OneConsumer_DeliversInPublishOrder()
    {
        await using var host = await StartAsync();
        var sut = host.Bus;
        await using var consumer = sut.Subscribe(Topics.Lifecycle, Store, "c1");
        var frames = Enumerable.Range(1, 20).Select(i => Frame("cam1", i)).ToList();
        foreach (var frame in frames)
        {
            await sut.PublishAsync(Topics.Lifecycle, Event(frame), TestContext.Current.CancellationToken);
        }

        var got = await ReadAsync(consumer, 20);

        Assert.Equal(frames.Select(f => f.Metadata.FrameId), got.Select(d => d.Message.FrameId));
    }

    [Fact]
    public async Task Subscribe_TwoConsumersInOneGroup_EachMessageGoesToExactlyOne()
    {
        await using var host = await StartAsync();
        var sut = host.Bus;
        await using var a = sut.Subscribe(Topics.Lifecycle, Store, "a");
        await using var b = sut.Subscribe(Topics.Lifecycle, Store, "b");
        var all = new List<BusDelivery<FrameEvent>>();
        var lockObject = new Lock();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        async Task Consume(IBusSubscription<FrameEvent> sub)
        {
            var batch = new List<BusDelivery<FrameEvent>>();
            try
            {
                while (true)
                {
                    await sub.ReadAsync(batch, 3, stop.Token);
                    foreach (var d in batch)
                    {
                        await sub.AckAsync(d, TestContext.Current.CancellationToken);
                    }

                    lock (lockObject)
                    {
                        all.AddRange(batch);
                    }

                    batch.Clear();
                    await Task.Yield();
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        var consumers = new[] { Consume(a), Consume(b) };
        var published = new List<string>();
        for (var i = 1; i <= 200; i++)
        {
            var e = Event(Frame("cam1", i));
            published.Add(e.EventId.ToString());
            await sut.PublishAsync(Topics.Lifecycle, e, TestContext.Current.CancellationToken);
        }

        await Eventually.WaitAsync(() => { lock (lockObject) { return all.Count >= 200; } }, TimeSpan.FromSeconds(60), "200 deliveries");
        await Task.Delay(ClaimIdle * 3, TestContext.Current.CancellationToken); // anything delivered twice would show up now
        await stop.CancelAsync();
        await Task.WhenAll(consumers);

        Assert.Equal(published.Order(StringComparer.Ordinal), all.Select(d => d.Message.EventId.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Ack_AckedDelivery_IsNeverDeliveredAgain()
    {
        await using var host = await StartAsync();
        var sut = host.Bus;
        await using var consumer = sut.Subscribe(Topics.Lifecycle, Store, "c1");
        await sut.PublishAsync(Topics.Lifecycle, Event(Frame("cam1", 1)), TestContext.Current.CancellationToken);
        var delivery = Assert.Single(await ReadAsync(consumer, 1));

        await consumer.AckAsync(delivery, TestContext.Current.CancellationToken);
        var again = await ReadForAsync(consumer, ClaimIdle * 4);

        Assert.Empty(again);
        var topic = (await sut.GetSnapshotAsync(TestContext.Current.CancellationToken)).Topics.Single(t => t.Name == Topics.Lifecycle.Name);
        Assert.Equal(0, topic.InFlight);
    }

    [Fact]
    public async Task Read_ConsumerCrashesWithoutAck_DeliveryReclaimedByAnotherWithCountTwo()
    {
        await using var host = await StartAsync();
        var sut = host.Bus;
        var crashed = sut.Subscribe(Topics.Lifecycle, Store, "crashed"); // never acked, never disposed: a dead process
        await using var survivor = sut.Subscribe(Topics.Lifecycle, Store, "survivor");
        var e = Event(Frame("cam1", 1));
        await sut.PublishAsync(Topics.Lifecycle, e, TestContext.Current.CancellationToken);
        var first = Assert.Single(await ReadAsync(crashed, 1));

        var reclaimed = Assert.Single(await ReadAsync(survivor, 1));

        Assert.Equal(e.EventId, reclaimed.Message.EventId);
        Assert.Equal(first.Id, reclaimed.Id);
        Assert.Equal(1, first.DeliveryCount);
        Assert.Equal(2, reclaimed.DeliveryCount);
        await survivor.AckAsync(reclaimed, TestContext.Current.CancellationToken);
        Assert.Empty(await ReadForAsync(survivor, ClaimIdle * 3));
    }

    [Fact]
    public async Task Dispose_WithUnackedDeliveries_HandsThemBackWithoutWaitingForTheClaimTime()
    {
        await using var host = await StartAsync(claimIdleMs: 600_000);
        var sut = host.Bus;
        var leaving = sut.Subscribe(Topics.Lifecycle, Store, "leaving");
        await using var staying = sut.Subscribe(Topics.Lifecycle, Store, "staying");
        for (var i = 1; i <= 3; i++)
        {
            await sut.PublishAsync(Topics.Lifecycle, Event(Frame("cam1", i)), TestContext.Current.CancellationToken);
        }

        var taken = await ReadAsync(leaving, 3);
        await leaving.DisposeAsync();
        var handedOver = await ReadAsync(staying, 3, TimeSpan.FromSeconds(60));

        Assert.Equal(taken.Select(d => d.Id).Order(StringComparer.Ordinal), handedOver.Select(d => d.Id).Order(StringComparer.Ordinal));
        Assert.All(handedOver, d => Assert.Equal(2, d.DeliveryCount));
    }

    [Fact]
    public async Task Nack_BelowMaxDeliveries_RedeliveredWithCountPlusOne()
    {
        await using var host = await StartAsync(maxDeliveries: 3);
        var sut = host.Bus;
        await using var consumer = sut.Subscribe(Topics.Lifecycle, Store, "c1");
        await sut.PublishAsync(Topics.Lifecycle, Event(Frame("cam1", 1)), TestContext.Current.CancellationToken);
        var first = Assert.Single(await ReadAsync(consumer, 1));

        await consumer.NackAsync(first, "transient", TestContext.Current.CancellationToken);
        var second = Assert.Single(await ReadAsync(consumer, 1));

        Assert.Equal(first.Id, second.Id);
        Assert.Equal(2, second.DeliveryCount);
        await consumer.AckAsync(second, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Nack_AtMaxDeliveries_FrameDeadLetteredAndRecordedAsDropped()
    {
        await using var host = await StartAsync(maxDeliveries: 2);
        var sut = host.Bus;
        await using var consumer = sut.Subscribe(Topics.Frames, Processors, "c1");
        await using var lifecycle = sut.Subscribe(Topics.Lifecycle, Store, "store");
        var frame = Frame("cam1", 1);
        var frameId = frame.Metadata.FrameId;
        await sut.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken);

        var first = Assert.Single(await ReadAsync(consumer, 1));
        await consumer.NackAsync(first, "boom 1", TestContext.Current.CancellationToken);
        var second = Assert.Single(await ReadAsync(consumer, 1));
        await consumer.NackAsync(second, "boom 2", TestContext.Current.CancellationToken);

        var dropped = Assert.Single(await ReadAsync(lifecycle, 1)).Message;
        Assert.Equal(FrameEventType.Dropped, dropped.Type);
        Assert.Equal(DropReasons.DeadLetter, dropped.Reason);
        Assert.Equal(frameId, dropped.FrameId);
        Assert.Equal(Stages.Bus, dropped.Stage);
        var dead = Assert.Single(await sut.GetDeadLettersAsync(10, TestContext.Current.CancellationToken));
        Assert.Equal(Topics.Frames.Name, dead.Topic);
        Assert.Equal(frameId.ToString(), dead.FrameId);
        Assert.Equal("cam1", dead.CameraId);
        Assert.Equal(2, dead.Attempts);
        Assert.Equal("boom 2", dead.Reason);
        Assert.Empty(await ReadForAsync(consumer, ClaimIdle * 3));
        await Eventually.WaitAsync(
            async () => (await sut.GetSnapshotAsync(TestContext.Current.CancellationToken)).Drops,
            drops => drops.Any(d => d is { Stage: Stages.Bus, Reason: DropReasons.DeadLetter, Count: 1 }),
            TimeSpan.FromSeconds(30),
            "the dead_letter drop in the snapshot");
    }

    [Fact]
    public async Task Read_DeliveredMaxTimesWithoutAck_DeadLetteredInsteadOfDeliveredAgain()
    {
        await using var host = await StartAsync(maxDeliveries: 2);
        var sut = host.Bus;
        var crash1 = sut.Subscribe(Topics.Results, Store, "crash1");
        var crash2 = sut.Subscribe(Topics.Results, Store, "crash2");
        await using var third = sut.Subscribe(Topics.Results, Store, "third");
        var result = Result(Frame("cam1", 1));
        await sut.PublishAsync(Topics.Results, result, TestContext.Current.CancellationToken);

        Assert.Equal(1, Assert.Single(await ReadAsync(crash1, 1)).DeliveryCount);
        Assert.Equal(2, Assert.Single(await ReadAsync(crash2, 1)).DeliveryCount);
        var none = await ReadForAsync(third, ClaimIdle * 4);

        Assert.Empty(none);
        var dead = await Eventually.WaitAsync(
            async () => await sut.GetDeadLettersAsync(10, TestContext.Current.CancellationToken),
            list => list.Count == 1,
            TimeSpan.FromSeconds(30),
            "one dead letter");
        Assert.Equal(Topics.Results.Name, dead[0].Topic);
        Assert.Equal(result.Metadata.FrameId.ToString(), dead[0].FrameId);
        Assert.Equal(2, dead[0].Attempts);
    }

    [Fact]
    public async Task ReplayDeadLetter_KnownId_DeliveredAgainAsFirstDeliveryAndRemoved()
    {
        await using var host = await StartAsync(maxDeliveries: 1);
        var sut = host.Bus;
        await using var consumer = sut.Subscribe(Topics.Frames, Processors, "c1");
        await sut.PublishAsync(Topics.Frames, Frame("cam1", 5), TestContext.Current.CancellationToken);
        var first = Assert.Single(await ReadAsync(consumer, 1));
        await consumer.NackAsync(first, "poison", TestContext.Current.CancellationToken);
        var dead = Assert.Single(await sut.GetDeadLettersAsync(10, TestContext.Current.CancellationToken));

        var replayed = await sut.ReplayDeadLetterAsync(dead.Id, TestContext.Current.CancellationToken);
        var again = Assert.Single(await ReadAsync(consumer, 1));

        Assert.True(replayed);
        Assert.Equal(1, again.DeliveryCount);
        Assert.Equal(first.Message.Metadata.FrameId, again.Message.Metadata.FrameId);
        Assert.Equal(ExpectedPixels(5), again.Message.Pixels!.Span.ToArray());
        Assert.Empty(await sut.GetDeadLettersAsync(10, TestContext.Current.CancellationToken));
        Assert.False(await sut.ReplayDeadLetterAsync(dead.Id, TestContext.Current.CancellationToken));
        Assert.False(await sut.ReplayDeadLetterAsync("frames:no-such-id", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Publish_MoreFramesThanCapacity_OldestDroppedEachRecordedAndNoneLost()
    {
        const int capacity = 8;
        const int published = 30;
        await using var host = await StartAsync(framesCapacity: capacity);
        var sut = host.Bus;
        await using var lifecycle = sut.Subscribe(Topics.Lifecycle, Store, "store");
        var ids = new List<string>();
        for (var i = 1; i <= published; i++)
        {
            var frame = Frame("cam1", i);
            ids.Add(frame.Metadata.FrameId.ToString());
            await sut.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken);
        }

        await using var consumer = sut.Subscribe(Topics.Frames, Processors, "c1");
        var delivered = await ReadAsync(consumer, capacity);
        await consumer.AckAsync(delivered, TestContext.Current.CancellationToken);
        var drops = await ReadAsync(lifecycle, published - capacity);
        await lifecycle.AckAsync(drops, TestContext.Current.CancellationToken);

        var deliveredIds = delivered.Select(d => d.Message.Metadata.FrameId.ToString()).ToList();
        var droppedIds = drops.Select(d => d.Message.FrameId.ToString()).ToList();
        Assert.Equal(ids.TakeLast(capacity), deliveredIds);
        Assert.Equal(ids.Take(published - capacity).Order(StringComparer.Ordinal), droppedIds.Order(StringComparer.Ordinal));
        Assert.All(drops, d =>
        {
            Assert.Equal(FrameEventType.Dropped, d.Message.Type);
            Assert.Equal(DropReasons.QueueFull, d.Message.Reason);
            Assert.Equal(Stages.Bus, d.Message.Stage);
            Assert.NotEqual(default, d.Message.TraceId);
        });
        var snapshot = await Eventually.WaitAsync(
            async () => await sut.GetSnapshotAsync(TestContext.Current.CancellationToken),
            s => s.Topics.Single(t => t.Name == Topics.Frames.Name).DroppedByReason.GetValueOrDefault(DropReasons.QueueFull) == published - capacity,
            TimeSpan.FromSeconds(30),
            "the queue_full count of the frames topic");
        Assert.Contains(snapshot.Drops, d => d is { Stage: Stages.Bus, Reason: DropReasons.QueueFull, Count: published - capacity });
        Assert.Empty(await ReadForAsync(lifecycle, TimeSpan.FromSeconds(1)));
        Assert.Empty(await ReadForAsync(consumer, ClaimIdle * 3));
    }

    [Fact]
    public async Task Publish_DurableTopicAtCapacity_WaitsUntilAConsumerTakesMessages()
    {
        await using var host = await StartAsync(durableCapacity: 5);
        var sut = host.Bus;
        var frame = Frame("cam1", 1);
        for (var i = 0; i < 5; i++)
        {
            await sut.PublishAsync(Topics.Results, Result(frame), TestContext.Current.CancellationToken);
        }

        await Eventually.WaitAsync(
            async () => (await sut.GetSnapshotAsync(TestContext.Current.CancellationToken)).Topics.SingleOrDefault(t => t.Name == Topics.Results.Name)?.Depth ?? 0,
            depth => depth == 5,
            TimeSpan.FromSeconds(30),
            "results depth 5");
        _ = sut.GetSnapshot();
        var sixth = sut.PublishAsync(Topics.Results, Result(frame), TestContext.Current.CancellationToken).AsTask();
        await Task.Delay(1000, TestContext.Current.CancellationToken);
        Assert.False(sixth.IsCompleted, "a publish on a full durable topic must wait");

        await using var consumer = sut.Subscribe(Topics.Results, Store, "s1");
        var taken = await ReadAsync(consumer, 5);
        await consumer.AckAsync(taken, TestContext.Current.CancellationToken);
        await sixth.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Single(await ReadAsync(consumer, 1));
    }

    [Fact]
    public async Task Snapshot_FramesWaitingAndHeld_ReportsDepthPendingAndConsumers()
    {
        await using var host = await StartAsync(framesCapacity: 50);
        var sut = host.Bus;
        await using var consumer = sut.Subscribe(Topics.Frames, Processors, "worker-1");
        for (var i = 1; i <= 10; i++)
        {
            await sut.PublishAsync(Topics.Frames, Frame("cam1", i), TestContext.Current.CancellationToken);
        }

        var held = await ReadAsync(consumer, 4);
        var snapshot = await Eventually.WaitAsync(
            async () => await sut.GetSnapshotAsync(TestContext.Current.CancellationToken),
            s => s.Topics.SingleOrDefault(t => t.Name == Topics.Frames.Name) is { Depth: 6, InFlight: 4 },
            TimeSpan.FromSeconds(30),
            "depth 6 and 4 in flight");

        var frames = snapshot.Topics.Single(t => t.Name == Topics.Frames.Name);
        Assert.Equal(50, frames.Capacity);
        Assert.Equal(10, frames.Published);
        Assert.Contains("worker-1", frames.Consumers);
        var group = Assert.Single(frames.Groups);
        Assert.Equal(Processors, group.Name);
        Assert.Equal(6, group.Lag);
        Assert.Equal(4, group.Pending);
        Assert.Equal(4, group.Consumers.Single(c => c.Name == "worker-1").Pending);
        Assert.True(group.LagAge > TimeSpan.Zero);
        await consumer.AckAsync(held, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Breaker_FillReachesHighWatermark_OpensAdmitsTheRatioAndClosesBelowLow()
    {
        await using var host = await StartAsync(new Dictionary<string, string?>
        {
            ["Detektor:Bus:FramesCapacity"] = "10",
            ["Detektor:Bus:Backpressure:LowWatermark"] = "0.3",
            ["Detektor:Bus:Backpressure:WarnWatermark"] = "0.5",
            ["Detektor:Bus:Backpressure:HighWatermark"] = "0.8",
            ["Detektor:Bus:Backpressure:OpenAdmitRatio"] = "0.25",
            ["Detektor:Bus:Backpressure:EvaluateIntervalMs"] = "0",
        });
        var sut = host.Gate;
        var bus = host.Bus;
        await using var consumer = bus.Subscribe(Topics.Frames, Processors, "c1");
        Assert.True(sut.TryAdmit("cam1"));
        for (var i = 1; i <= 8; i++)
        {
            await bus.PublishAsync(Topics.Frames, Frame("cam1", i), TestContext.Current.CancellationToken);
        }

        await Eventually.WaitAsync(() => sut.Status.State == "open", TimeSpan.FromSeconds(30), "the breaker to open");

        // What the gate reads (in process: from the topics' counters) is what the snapshot says: 8 of 10.
        Assert.Equal(0.8, bus.PerishableFill(), 3);
        Assert.Equal(bus.GetSnapshot().PerishableFill(), bus.PerishableFill(), 6);
        var admitted = Enumerable.Range(0, 8).Count(_ => sut.TryAdmit("cam1"));
        Assert.Equal(2, admitted);
        Assert.Equal("critical", sut.Status.Level);
        Assert.Equal(1, sut.Status.Opened);

        var taken = await ReadAsync(consumer, 6);
        await consumer.AckAsync(taken, TestContext.Current.CancellationToken);

        await Eventually.WaitAsync(() => sut.Status.State == "closed", TimeSpan.FromSeconds(30), "the breaker to close");
        Assert.True(sut.TryAdmit("cam1"));
        Assert.Equal(0.2, sut.Status.Fill, 3);
    }
}
