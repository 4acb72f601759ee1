using Detektor.Bus.Lifecycle;
using Detektor.Core.Journal;
using Detektor.Core.Lifecycle;
using Detektor.Testing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using static Detektor.Bus.Tests.TestFrames;

namespace Detektor.Bus.Tests.Lifecycle;

/// <summary>The on-disk lifecycle spill on a real temp directory: order, bound, restart, torn tails, health.</summary>
public sealed class LifecycleSpillTests : IDisposable
{
    private readonly TempDirectory _dir = new("detektor-spill");

    public void Dispose() => _dir.Dispose();

    private static List<FrameEvent> Journeys(int frames)
    {
        var events = new List<FrameEvent>();
        for (var i = 1; i <= frames; i++)
        {
            var frame = Frame("cam1", i);
            events.Add(Event(frame));
            events.Add(Event(frame, FrameEventType.Queued));
            events.Add(Event(frame, FrameEventType.Dropped, "bus_unavailable"));
            frame.Release();
        }

        return events;
    }

    /// <summary>A process that spilled <paramref name="events"/> and stopped before Redis came back.</summary>
    private void SpillAndStop(List<FrameEvent> events)
    {
        using var earlier = new LifecycleSpill(_dir.Path, 1 << 20, dropWhenFull: false);
        earlier.Append(events[0]);
        foreach (var e in events.Skip(1))
        {
            earlier.TryAppendIfSpilling(e);
        }
    }

    private static List<FrameEvent> ReplayAll(LifecycleSpill sut)
    {
        var replayed = new List<FrameEvent>();
        while (sut.TakeOldest() is { } segment)
        {
            var events = LifecycleSpill.Read(segment).ToList();
            replayed.AddRange(events);
            sut.MarkReplayed(segment, events.Count);
            sut.Complete(segment);
        }

        return replayed;
    }

    [Fact]
    public void Append_ThenReplay_ReturnsEveryEventInOrderAndSpillingEndsWhenEmpty()
    {
        using var sut = new LifecycleSpill(_dir.Path, 1 << 20, dropWhenFull: false);
        var events = Journeys(20);

        Assert.Equal(SpillOutcome.NotSpilling, sut.TryAppendIfSpilling(events[0]));
        Assert.False(sut.IsSpilling);
        Assert.Equal(SpillOutcome.Spilled, sut.Append(events[0]));
        foreach (var e in events.Skip(1))
        {
            Assert.Equal(SpillOutcome.Spilled, sut.TryAppendIfSpilling(e)); // spilling stays on: later events queue behind
        }

        Assert.True(sut.IsSpilling);
        Assert.Equal(60, sut.Events);
        var replayed = ReplayAll(sut);

        Assert.Equal(events, replayed); // records compare by value: every field survives the round trip
        Assert.False(sut.IsSpilling);
        Assert.Equal((0, 0), (sut.Events, sut.Bytes));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*" + SegmentJournal.Extension));
    }

    [Fact]
    public void Append_WhileASegmentIsReplayed_GoesBehindItAndSpillingStaysOn()
    {
        using var sut = new LifecycleSpill(_dir.Path, 1 << 20, dropWhenFull: false);
        var events = Journeys(2);
        sut.Append(events[0]);
        sut.TryAppendIfSpilling(events[1]);
        var segment = sut.TakeOldest()!;
        Assert.Equal(SpillOutcome.Spilled, sut.TryAppendIfSpilling(events[2])); // arrives during the replay

        var first = LifecycleSpill.Read(segment).ToList();
        sut.MarkReplayed(segment, first.Count);
        Assert.False(sut.Complete(segment));

        Assert.True(sut.IsSpilling);
        Assert.Equal([events[0], events[1]], first);
        Assert.Equal([events[2]], ReplayAll(sut));
        Assert.False(sut.IsSpilling);
    }

    [Fact]
    public async Task Append_AtTheBound_ReturnsFullWritesNothingAndIsFullUntilReplayMakesRoom()
    {
        var events = Journeys(40);
        using var sut = new LifecycleSpill(_dir.Path, 8 * 1024, dropWhenFull: true);
        var spilled = 0;
        var outcome = sut.Append(events[0]);
        while (outcome == SpillOutcome.Spilled)
        {
            spilled++;
            outcome = sut.TryAppendIfSpilling(events[spilled]);
        }

        Assert.Equal(SpillOutcome.Full, outcome);
        Assert.True(sut.IsFull);
        Assert.True(sut.Bytes <= 8 * 1024, $"{sut.Bytes} bytes");
        Assert.Equal(spilled, sut.Events);
        Assert.Equal(SpillOutcome.Full, sut.TryAppendIfSpilling(events[spilled]));
        var health = await new LifecycleSpillHealthCheck(sut).CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
        Assert.Equal(HealthStatus.Unhealthy, health.Status);
        Assert.Contains("new lifecycle events are dropped", health.Description, StringComparison.Ordinal);

        var replayed = ReplayAll(sut);

        Assert.Equal(events.Take(spilled), replayed);
        Assert.False(sut.IsFull);
        Assert.Equal(SpillOutcome.Spilled, sut.Append(events[spilled]));
    }

    [Fact]
    public void Open_LeftoverSpillFromAnEarlierRun_StartsSpillingAndReplaysItInOrder()
    {
        var events = Journeys(5);
        SpillAndStop(events);

        using var sut = new LifecycleSpill(_dir.Path, 1 << 20, dropWhenFull: false);

        Assert.True(sut.IsSpilling);
        Assert.Equal(15, sut.Events);
        Assert.Equal(SpillOutcome.Spilled, sut.TryAppendIfSpilling(events[0] with { EventId = Guid.CreateVersion7() }));
        var replayed = ReplayAll(sut);
        Assert.Equal(events, replayed.Take(15));
        Assert.Equal(16, replayed.Count);
    }

    [Fact]
    public void Open_TornRecordAtTheEnd_CutsItOffAndKeepsEveryCompleteEvent()
    {
        var events = Journeys(3);
        SpillAndStop(events);

        var file = Directory.GetFiles(_dir.Path, "*" + SegmentJournal.Extension).Single();
        var complete = new FileInfo(file).Length;
        using (var append = new FileStream(file, FileMode.Append))
        {
            append.Write("DKJ1\u0040\0\0\0{\"id\":"u8); // a crash in the middle of an append: header and half a payload
        }

        using var sut = new LifecycleSpill(_dir.Path, 1 << 20, dropWhenFull: false);

        Assert.Equal(1, sut.DiscardedAtOpen);
        Assert.Equal(complete, new FileInfo(file).Length);
        Assert.Equal(events, ReplayAll(sut));
    }

    [Fact]
    public void Constructor_DirectoryUsedByAnotherSpill_ThrowsNamingTheKey()
    {
        using var first = new LifecycleSpill(_dir.Path, 1 << 20, dropWhenFull: false);

        var ex = Assert.Throws<InvalidOperationException>(() => new LifecycleSpill(_dir.Path, 1 << 20, dropWhenFull: false));

        Assert.Contains("Detektor:Bus:Redis:LifecycleSpill:Path", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthCheck_EmptySpillingFull_HealthyDegradedUnhealthyWithTheDepth()
    {
        var events = Journeys(30);
        using var spill = new LifecycleSpill(_dir.Path, 4 * 1024, dropWhenFull: false);
        var sut = new LifecycleSpillHealthCheck(spill);

        var empty = await sut.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
        spill.Append(events[0]);
        spill.TryAppendIfSpilling(events[1]);
        var spilling = await sut.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
        var i = 2;
        while (spill.TryAppendIfSpilling(events[i]) == SpillOutcome.Spilled)
        {
            i++;
        }

        var full = await sut.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);

        Assert.Equal(HealthStatus.Healthy, empty.Status);
        Assert.Equal(HealthStatus.Degraded, spilling.Status);
        Assert.Equal(2L, spilling.Data["events"]);
        Assert.StartsWith("2 lifecycle events", spilling.Description, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Unhealthy, full.Status);
        Assert.Equal((long)i, full.Data["events"]);
        Assert.Contains("publishers wait", full.Description, StringComparison.Ordinal);
    }
}
