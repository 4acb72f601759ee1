using System.Diagnostics.Metrics;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Telemetry;
using Detektor.Storage.Tests.Support;
using Detektor.Storage.Writer;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detektor.Storage.Tests.Conformance;

/// <summary>
/// What every <see cref="IEventStore"/> must do, run against each implementation on a real database (a SQLite file, a
/// PostgreSQL server). A store passes when it answers exactly like the others.
/// </summary>
public abstract class EventStoreConformanceTests : IAsyncLifetime
{
    private readonly List<IEventStore> _stores = [];

    /// <summary>A fresh, empty store (its own file or database), not yet migrated.</summary>
    protected abstract Task<IEventStore> CreateEmptyStoreAsync();

    /// <summary>A second store object on the same file or database as <paramref name="store"/>.</summary>
    protected abstract IEventStore Reopen(IEventStore store);

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        foreach (var store in _stores)
        {
            switch (store)
            {
                case IAsyncDisposable a:
                    await a.DisposeAsync();
                    break;
                case IDisposable d:
                    d.Dispose();
                    break;
            }
        }

        GC.SuppressFinalize(this);
    }

    protected async Task<IEventStore> NewStoreAsync()
    {
        var store = Track(await CreateEmptyStoreAsync());
        await store.MigrateAsync(TestContext.Current.CancellationToken);
        return store;
    }

    protected IEventStore Track(IEventStore store)
    {
        _stores.Add(store);
        return store;
    }

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MigrateAsync_FromEmptyThenAgain_AppliesEverythingOnceAndReportsTheVersion()
    {
        var sut = Track(await CreateEmptyStoreAsync());

        var first = await sut.MigrateAsync(Ct);
        var second = await sut.MigrateAsync(Ct);
        var third = await Track(Reopen(sut)).MigrateAsync(Ct);

        Assert.NotEmpty(first.Applied);
        Assert.Empty(second.Applied);
        Assert.Empty(third.Applied);
        Assert.True(first.Info.SchemaVersion >= 2);
        Assert.Equal(first.Info.SchemaVersion, third.Info.SchemaVersion);
        Assert.Equal(sut.Provider, first.Info.Provider);
    }

    [Fact]
    public async Task WriteAsync_SameBatchTwice_StoresAndCountsItOnce()
    {
        var sut = await NewStoreAsync();
        var t = TestFrames.Now().AddMinutes(-10);
        var frames = Enumerable.Range(1, 5).Select(i => TestFrames.Frame("front", t.AddMilliseconds(100 * i), i, detections: 2)).ToList();
        var batch = TestFrames.Batch(frames);

        var first = await sut.WriteAsync(batch, Ct);
        var second = await sut.WriteAsync(batch, Ct);
        var third = await sut.WriteAsync(batch with { Replay = true }, Ct);

        Assert.Equal(batch.Events.Count, first);
        Assert.Equal(0, second);
        Assert.Equal(0, third);
        var journey = await sut.GetJourneyAsync(frames[0].FrameId, Ct);
        Assert.NotNull(journey);
        Assert.Equal(frames[0].Events.Count, journey.Events.Count);
        Assert.Equal(2, journey.Detections.Count);
        var stats = await sut.GetStatsAsync(new StatsQuery("front", t.AddMinutes(-1), t.AddMinutes(2), TimeSpan.FromMinutes(60)), Ct);
        var bucket = Assert.Single(stats);
        Assert.Equal(5, bucket.Frames);
        Assert.Equal(5, bucket.Stored);
        Assert.Equal(10, bucket.Detections);
    }

    [Fact]
    public async Task WriteAsync_OneBatchHoldingItsEventsTwice_StoresProjectsAndCountsThemOnce()
    {
        // What a journal replay hands over when a result was journaled twice (StoreOutbox.Combine keeps the detections of
        // the first copy): every event twice in one write. CI stored such frames twice in the minute stats (80 for 60).
        var sut = await NewStoreAsync();
        var t = TestFrames.Now().AddMinutes(-10);
        var frames = Enumerable.Range(1, 4).Select(i => TestFrames.Frame("front", t.AddMilliseconds(100 * i), i, detections: 2)).ToList();
        var batch = TestFrames.Batch(frames);

        var written = await sut.WriteAsync(new StoreBatch([.. batch.Events, .. batch.Events], batch.Detections) { Replay = true }, Ct);

        Assert.Equal(batch.Events.Count, written);
        var journey = await sut.GetJourneyAsync(frames[0].FrameId, Ct);
        Assert.NotNull(journey);
        Assert.Equal(frames[0].Events.Count, journey.Events.Count);
        Assert.Equal(2, journey.Detections.Count);
        var bucket = Assert.Single(await sut.GetStatsAsync(new StatsQuery("front", t.AddMinutes(-1), t.AddMinutes(2), TimeSpan.FromMinutes(60)), Ct));
        Assert.Equal((4L, 4L, 8L), (bucket.Frames, bucket.Stored, bucket.Detections));
    }

    [Fact]
    public async Task WriteAsync_ResultRedeliveredLater_KeepsOneStoredEventAndItsDetectionsOnce()
    {
        var sut = await NewStoreAsync();
        var frame = TestFrames.Frame("front", TestFrames.Now().AddMinutes(-4), 1, detections: 2);
        var frameId = FrameId.Parse(frame.FrameId);
        var metadata = new FrameMetadata { FrameId = frameId, CameraId = "front", CaptureTime = frameId.Timestamp };
        var id = FrameEvent.OncePerFrameId(metadata, FrameEventType.Stored);
        StoreBatch StoredAt(TimeSpan later)
        {
            // What the store writer makes of one result, as a second delivery of it would make it again a little later.
            var stored = frame.Events.Single(e => e.Type == FrameEventType.Stored);
            var again = stored with { EventId = id, Timestamp = stored.Timestamp + later };
            return new StoreBatch([again], [.. frame.Detections.Select(d => d with { StoredEventId = id })]);
        }

        await sut.WriteAsync(new StoreBatch([.. frame.Events.Where(e => e.Type != FrameEventType.Stored)], []), Ct);
        var first = await sut.WriteAsync(StoredAt(TimeSpan.Zero), Ct);
        var second = await sut.WriteAsync(StoredAt(TimeSpan.FromSeconds(3)), Ct);

        Assert.Equal(1, first);
        Assert.Equal(0, second);
        var journey = await sut.GetJourneyAsync(frame.FrameId, Ct);
        Assert.NotNull(journey);
        Assert.Single(journey.Events, e => e.Type == FrameEventType.Stored);
        Assert.Equal(2, journey.Detections.Count);
    }

    [Fact]
    public async Task WriteAsync_BatchOverlappingStoredEvents_StoresOnlyTheNewOnes()
    {
        var sut = await NewStoreAsync();
        var t = TestFrames.Now().AddMinutes(-5);
        var a = TestFrames.Frame("front", t, 1, detections: 1);
        var b = TestFrames.Frame("front", t.AddSeconds(1), 2, detections: 3);
        await sut.WriteAsync(a.Batch, Ct);

        // Not marked as a replay: the store has to notice the repeat by itself.
        var written = await sut.WriteAsync(TestFrames.Batch([a, b]), Ct);

        Assert.Equal(b.Events.Count, written);
        Assert.Single((await sut.GetJourneyAsync(a.FrameId, Ct))!.Detections);
        Assert.Equal(3, (await sut.GetJourneyAsync(b.FrameId, Ct))!.Detections.Count);
        var stats = await sut.GetStatsAsync(new StatsQuery(null, t.AddMinutes(-1), t.AddMinutes(2), TimeSpan.FromHours(1)), Ct);
        Assert.Equal(2, stats.Sum(s => s.Frames));
        Assert.Equal(4, stats.Sum(s => s.Detections));
    }

    [Fact]
    public async Task GetJourneyAsync_FullLifecycle_ReturnsEventsInOrderWithStagesOutcomeAndTrace()
    {
        var sut = await NewStoreAsync();
        var frame = TestFrames.Frame("yard", TestFrames.Now().AddMinutes(-3), 7, detections: 2, latencyMs: 40);
        // Events arrive out of order (lifecycle and results come on different topics).
        await sut.WriteAsync(new StoreBatch([.. frame.Events.Reverse()], frame.Detections), Ct);

        var journey = await sut.GetJourneyAsync(frame.FrameId, Ct);

        Assert.NotNull(journey);
        Assert.Equal(frame.Events.Select(e => e.Type), journey.Events.Select(e => e.Type));
        Assert.Equal("stored", journey.Frame.State);
        Assert.Equal("processed", journey.Frame.Outcome);
        Assert.Null(journey.Frame.Reason);
        Assert.Equal(frame.Trace.ToHexString(), journey.Frame.TraceId);
        Assert.Equal(frame.Id.Timestamp, journey.Frame.CapturedAt);
        Assert.Equal(frame.Stored.Timestamp, journey.Frame.UpdatedAt);
        Assert.Equal(frame.Events.Count, journey.Frame.EventCount);
        Assert.Equal(40, journey.TotalMs!.Value, 3);
        Assert.Equal(["capture", "queue", "sample", "store"], journey.Stages.Select(s => s.Stage));
        Assert.Equal(4, journey.Stages.Single(s => s.Stage == "queue").DurationMs, 3);
        Assert.Equal(20, journey.Stages.Single(s => s.Stage == "sample").DurationMs, 3);
    }

    [Fact]
    public async Task GetJourneyAsync_EveryField_RoundTripsExactly()
    {
        var sut = await NewStoreAsync();
        var frame = TestFrames.Frame("lab-2", TestFrames.Now().AddMinutes(-2), 99, ending: Ending.Skipped, detections: 3);
        await sut.WriteAsync(frame.Batch, Ct);

        var journey = await sut.GetJourneyAsync(frame.FrameId, Ct);

        Assert.NotNull(journey);
        var expected = frame.Events.OrderBy(e => e.Timestamp).ThenBy(e => e.Type.Rank()).ToList();
        Assert.Equal(expected, journey.Events); // records: every field, including trace, span, duration, reason and data text
        Assert.Equal(frame.Detections, journey.Detections);
        Assert.Equal("skipped", journey.Frame.Outcome);
        Assert.Equal(SkipReasons.NoMotion, journey.Frame.Reason);
    }

    [Fact]
    public async Task GetJourneyAsync_UnknownOrMalformedFrameId_ReturnsNull()
    {
        var sut = await NewStoreAsync();
        var frame = TestFrames.Frame("front", TestFrames.Now().AddMinutes(-2), 1);
        await sut.WriteAsync(frame.Batch, Ct);

        Assert.Null(await sut.GetJourneyAsync(TestFrames.Frame("front", TestFrames.Now().AddMinutes(-2), 2).FrameId, Ct));
        Assert.Null(await sut.GetJourneyAsync("x' OR '1'='1", Ct));
    }

    [Fact]
    public async Task QueryFramesAsync_ByCamera_ReturnsNewestFirstWithStateOutcomeAndReason()
    {
        var sut = await NewStoreAsync();
        var t = TestFrames.Now().AddMinutes(-20);
        var processed = TestFrames.Frame("front", t, 1);
        var skipped = TestFrames.Frame("front", t.AddSeconds(1), 2, Ending.Skipped);
        var dropped = TestFrames.Frame("front", t.AddSeconds(2), 3, Ending.Dropped, reason: DropReasons.QueueFull);
        var failed = TestFrames.Frame("front", t.AddSeconds(3), 4, Ending.Failed);
        var other = TestFrames.Frame("back", t.AddSeconds(4), 1);
        await sut.WriteAsync(TestFrames.Batch([processed, skipped, dropped, failed, other]), Ct);

        var page = await sut.QueryFramesAsync(new FrameQuery(CameraId: "front"), Ct);

        Assert.Equal([failed.FrameId, dropped.FrameId, skipped.FrameId, processed.FrameId], page.Items.Select(f => f.FrameId));
        Assert.Null(page.NextCursor);
        var byId = page.Items.ToDictionary(f => f.FrameId);
        Assert.Equal(("stored", "processed", (string?)null), (byId[processed.FrameId].State, byId[processed.FrameId].Outcome, byId[processed.FrameId].Reason));
        Assert.Equal(("stored", "skipped", SkipReasons.NoMotion), (byId[skipped.FrameId].State, byId[skipped.FrameId].Outcome, byId[skipped.FrameId].Reason));
        Assert.Equal(("dropped", "dropped", DropReasons.QueueFull), (byId[dropped.FrameId].State, byId[dropped.FrameId].Outcome, byId[dropped.FrameId].Reason));
        Assert.Equal(("stored", "failed", "boom"), (byId[failed.FrameId].State, byId[failed.FrameId].Outcome, byId[failed.FrameId].Reason));
        Assert.Equal(processed.Events.Count, byId[processed.FrameId].EventCount);
        Assert.Equal("front", byId[dropped.FrameId].CameraId);
    }

    [Fact]
    public async Task QueryFramesAsync_ByTraceId_FindsOnlyThatFrame()
    {
        var sut = await NewStoreAsync();
        var t = TestFrames.Now().AddMinutes(-4);
        var frames = Enumerable.Range(1, 4).Select(i => TestFrames.Frame(i % 2 == 0 ? "a" : "b", t.AddSeconds(i), i)).ToList();
        await sut.WriteAsync(TestFrames.Batch(frames), Ct);

        var page = await sut.QueryFramesAsync(new FrameQuery(TraceId: frames[2].Trace.ToHexString()), Ct);
        var none = await sut.QueryFramesAsync(new FrameQuery(TraceId: "0123456789abcdef0123456789abcdef"), Ct);

        var only = Assert.Single(page.Items);
        Assert.Equal(frames[2].FrameId, only.FrameId);
        Assert.Equal(frames[2].Trace.ToHexString(), only.TraceId);
        Assert.Empty(none.Items);
    }

    [Fact]
    public async Task QueryFramesAsync_TimeRange_IncludesFromExcludesTo()
    {
        var sut = await NewStoreAsync();
        var t = TestFrames.Now().AddHours(-3);
        var frames = Enumerable.Range(0, 6).Select(i => TestFrames.Frame("front", t.AddMinutes(30 * i), i + 1)).ToList();
        await sut.WriteAsync(TestFrames.Batch(frames), Ct);

        var page = await sut.QueryFramesAsync(new FrameQuery(From: t.AddMinutes(30), To: t.AddMinutes(120)), Ct);

        Assert.Equal([frames[3].FrameId, frames[2].FrameId, frames[1].FrameId], page.Items.Select(f => f.FrameId));
    }

    [Fact]
    public async Task QueryFramesAsync_PagingWhileNewFramesArrive_PagesNeitherOverlapNorSkip()
    {
        var sut = await NewStoreAsync();
        var t = TestFrames.Now().AddMinutes(-30);
        var existing = Enumerable.Range(1, 23).Select(i => TestFrames.Frame("front", t.AddSeconds(i), i)).ToList();
        await sut.WriteAsync(TestFrames.Batch(existing), Ct);

        var seen = new List<string>();
        string? cursor = null;
        var next = 100;
        do
        {
            var page = await sut.QueryFramesAsync(new FrameQuery(CameraId: "front", Limit: 5, Before: cursor), Ct);
            seen.AddRange(page.Items.Select(f => f.FrameId));
            cursor = page.NextCursor;
            // New frames (newer than everything) and late events of frames already listed arrive between pages.
            await sut.WriteAsync(TestFrames.Frame("front", TestFrames.Now().AddSeconds(next), next++).Batch, Ct);
        }
        while (cursor is not null);

        Assert.Equal(existing.Select(f => f.FrameId).Reverse(), seen);
    }

    [Fact]
    public async Task QueryEventsAsync_KeysetPagesWhileEventsArrive_CoverEveryEventOnceInOrder()
    {
        var sut = await NewStoreAsync();
        var t = TestFrames.Now().AddMinutes(-40);
        var frames = Enumerable.Range(1, 9).Select(i => TestFrames.Frame("gate", t.AddSeconds(i), i)).ToList();
        await sut.WriteAsync(TestFrames.Batch(frames), Ct);
        await sut.WriteAsync(TestFrames.Frame("other", t.AddSeconds(3), 1).Batch, Ct);
        var from = t;
        var to = t.AddSeconds(20);

        var seen = new List<FrameEvent>();
        EventCursor? cursor = null;
        var i = 1000;
        do
        {
            var page = await sut.QueryEventsAsync(new EventQuery("gate", from, to, Limit: 7, After: cursor), Ct);
            seen.AddRange(page.Items);
            cursor = page.Next;
            // Outside the range, and another camera: must not appear.
            await sut.WriteAsync(TestFrames.Frame("gate", t.AddMinutes(5).AddSeconds(i), i++).Batch, Ct);
            await sut.WriteAsync(TestFrames.Frame("other", t.AddSeconds(10), i++).Batch, Ct);
        }
        while (cursor is not null);

        var expected = frames.SelectMany(f => f.Events)
            .OrderBy(e => e.FrameId.ToString(), StringComparer.Ordinal)
            .ThenBy(e => e.EventId.ToString("N"), StringComparer.Ordinal)
            .Select(e => e.EventId);
        Assert.Equal(expected, seen.Select(e => e.EventId));
    }

    [Fact]
    public async Task GetStatsAsync_MixedOutcomes_CountsReasonsDetectionsAndLatency()
    {
        var sut = await NewStoreAsync();
        var minute = FrameTimes.Minute(TestFrames.Now().AddMinutes(-15));
        var frames = new List<TestFrame>();
        double[] latencies = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000];
        for (var i = 0; i < latencies.Length; i++)
        {
            frames.Add(TestFrames.Frame("front", minute.AddSeconds(i), i + 1, detections: i % 3, latencyMs: latencies[i]));
        }

        frames.Add(TestFrames.Frame("front", minute.AddSeconds(20), 20, Ending.Skipped, latencyMs: 15));
        frames.Add(TestFrames.Frame("front", minute.AddSeconds(21), 21, Ending.Skipped, reason: SkipReasons.Fps, latencyMs: 15));
        frames.Add(TestFrames.Frame("front", minute.AddSeconds(22), 22, Ending.Skipped, latencyMs: 15));
        frames.Add(TestFrames.Frame("front", minute.AddSeconds(23), 23, Ending.Dropped, reason: DropReasons.QueueFull));
        frames.Add(TestFrames.Frame("front", minute.AddSeconds(24), 24, Ending.Failed, latencyMs: 15));
        frames.Add(TestFrames.Frame("back", minute.AddSeconds(25), 1, detections: 5));
        await sut.WriteAsync(TestFrames.Batch(frames), Ct);

        var stats = await sut.GetStatsAsync(new StatsQuery("front", minute, minute.AddMinutes(1), TimeSpan.FromMinutes(1)), Ct);

        var s = Assert.Single(stats);
        Assert.Equal(minute, s.Start);
        Assert.Equal(minute.AddMinutes(1), s.End);
        Assert.Equal(15, s.Frames);
        Assert.Equal(14, s.Stored);
        Assert.Equal(3, s.Skipped);
        Assert.Equal(1, s.Dropped);
        Assert.Equal(1, s.Failed);
        Assert.Equal(Enumerable.Range(0, 10).Sum(i => i % 3), s.Detections);
        Assert.Equal(new Dictionary<string, long> { [SkipReasons.Fps] = 1, [SkipReasons.NoMotion] = 2 }, s.SkippedByReason);
        Assert.Equal(new Dictionary<string, long> { [DropReasons.QueueFull] = 1 }, s.DroppedByReason);
        Assert.Equal(14, s.Latency.Count);
        Assert.Equal((latencies.Sum() + (4 * 15)) / 14, s.Latency.MeanMs!.Value, 6);
        Assert.Equal(1000, s.Latency.MaxMs!.Value, 6);
        // Percentiles come from 19 %-wide buckets: the true p50 is 30-40 ms, p90 is 90 ms.
        Assert.InRange(s.Latency.P50Ms!.Value, 30 / 1.2, 40 * 1.2);
        Assert.InRange(s.Latency.P90Ms!.Value, 90 / 1.2, 1000);
        Assert.InRange(s.Latency.P99Ms!.Value, 90, 1000);
    }

    [Fact]
    public async Task GetStatsAsync_IntervalAndCameraFilter_SumsTheMinutesOfTheSelection()
    {
        var sut = await NewStoreAsync();
        var start = FrameTimes.Minute(TestFrames.Now().AddHours(-2));
        start = start.AddTicks(-(start.UtcTicks % TimeSpan.FromMinutes(10).Ticks)); // aligned to 10 minutes
        var frames = new List<TestFrame>();
        for (var m = 0; m < 20; m++)
        {
            frames.Add(TestFrames.Frame("a", start.AddMinutes(m).AddSeconds(5), m + 1, detections: 1));
            frames.Add(TestFrames.Frame("b", start.AddMinutes(m).AddSeconds(6), m + 1, detections: 2));
        }

        await sut.WriteAsync(TestFrames.Batch(frames), Ct);

        var tenMinutes = await sut.GetStatsAsync(new StatsQuery("a", start, start.AddMinutes(20), TimeSpan.FromMinutes(10)), Ct);
        var all = await sut.GetStatsAsync(new StatsQuery(null, start, start.AddMinutes(20), TimeSpan.FromMinutes(10)), Ct);
        var partial = await sut.GetStatsAsync(new StatsQuery("b", start.AddMinutes(3), start.AddMinutes(7), TimeSpan.FromMinutes(1)), Ct);

        Assert.Equal([start, start.AddMinutes(10)], tenMinutes.Select(s => s.Start));
        Assert.All(tenMinutes, s => Assert.Equal((10L, 10L), (s.Frames, s.Detections)));
        Assert.All(all, s => Assert.Equal((20L, 30L), (s.Frames, s.Detections)));
        Assert.Equal(4, partial.Count);
        Assert.All(partial, s => Assert.Equal(1, s.Frames));
    }

    [Fact]
    public async Task TrackedObjects_EnteredUpdatedLeft_FoldIntoOneRowAndReplaysCountOnce()
    {
        var sut = await NewStoreAsync();
        var t = TestFrames.Now().AddMinutes(-8);
        var frame = TestFrames.Frame("front", t, 1);
        TrackedObjectEvent Track(TrackEventType type, int second, float score, string label, string? snapshot) =>
            new(Guid.CreateVersion7(t.AddSeconds(second)), "front-obj-1", "front", type, t.AddSeconds(second), frame.FrameId,
                frame.Trace.ToHexString(), label, score, snapshot, "{\"box\":[1,2,3,4]}");
        var events = new[]
        {
            Track(TrackEventType.Entered, 0, 0.55f, "car", "snap/1.jpg"),
            Track(TrackEventType.Updated, 2, 0.91f, "car", "snap/2.jpg"),
            Track(TrackEventType.Updated, 4, 0.70f, "truck", "snap/3.jpg"),
            Track(TrackEventType.Left, 6, 0.40f, "truck", null),
        };
        await sut.WriteAsync(new StoreBatch([], [], events[..2]), Ct);
        await sut.WriteAsync(new StoreBatch([], [], events), Ct); // the first two again

        var history = await sut.GetTrackedObjectAsync("front-obj-1", Ct);

        Assert.NotNull(history);
        Assert.Equal(events, history.Events);
        var o = history.Tracked;
        Assert.Equal(("front", "truck", "left", 4), (o.CameraId, o.Label, o.State, o.EventCount));
        Assert.Equal((t, t.AddSeconds(6)), (o.FirstSeen, o.LastSeen));
        Assert.Equal((0.91f, "snap/2.jpg", frame.FrameId), (o.BestScore, o.BestSnapshotPath, o.BestFrameId));
        Assert.Null(await sut.GetTrackedObjectAsync("nobody", Ct));
    }

    [Fact]
    public async Task QueryTrackedObjectsAsync_CameraLabelTimeAndPaging_NewestFirstEachOnce()
    {
        var sut = await NewStoreAsync();
        var t = TestFrames.Now().AddMinutes(-30);
        var frame = TestFrames.Frame("front", t, 1);
        TrackedObjectEvent E(string id, string camera, string label, TrackEventType type, int second) =>
            new(Guid.CreateVersion7(t.AddSeconds(second)), id, camera, type, t.AddSeconds(second), frame.FrameId, null, label, 0.8f, $"{camera}/{id}.jpg", null);

        // Seven objects, 60 s apart: persons and cars on two cameras; each enters, and all but the last leave 10 s later.
        var spec = new[] { ("a", "front", "person"), ("b", "front", "car"), ("c", "back", "person"), ("d", "front", "person"), ("e", "back", "car"), ("f", "front", "person"), ("g", "front", "person") };
        var events = new List<TrackedObjectEvent>();
        for (var i = 0; i < spec.Length; i++)
        {
            var (id, camera, label) = spec[i];
            events.Add(E(id, camera, label, TrackEventType.Entered, i * 60));
            if (i < spec.Length - 1)
            {
                events.Add(E(id, camera, label, TrackEventType.Left, (i * 60) + 10));
            }
        }

        await sut.WriteAsync(new StoreBatch([], [], events), Ct);

        var all = await sut.QueryTrackedObjectsAsync(new TrackedObjectQuery(Limit: 100), Ct);
        Assert.Equal(["g", "f", "e", "d", "c", "b", "a"], all.Items.Select(o => o.ObjectId));
        Assert.Null(all.Next);
        Assert.Equal(("active", "left"), (all.Items[0].State, all.Items[1].State));

        var frontPersons = await sut.QueryTrackedObjectsAsync(new TrackedObjectQuery("front", "person"), Ct);
        Assert.Equal(["g", "f", "d", "a"], frontPersons.Items.Select(o => o.ObjectId));

        // Seen in [t+115 s, t+185 s): c (left at 130) and d (entered at 180); b left at 70, e entered at 240.
        var window = await sut.QueryTrackedObjectsAsync(new TrackedObjectQuery(From: t.AddSeconds(115), To: t.AddSeconds(185)), Ct);
        Assert.Equal(["d", "c"], window.Items.Select(o => o.ObjectId));

        // Pages of two while a new object arrives: each object of the first listing once, in order.
        var seen = new List<string>();
        TrackedObjectCursor? cursor = null;
        do
        {
            var page = await sut.QueryTrackedObjectsAsync(new TrackedObjectQuery(Limit: 2, Cursor: cursor), Ct);
            Assert.True(page.Items.Count <= 2);
            seen.AddRange(page.Items.Select(o => o.ObjectId));
            cursor = page.Next;
            if (seen.Count == 2)
            {
                await sut.WriteAsync(new StoreBatch([], [], [E("h", "front", "person", TrackEventType.Entered, 500)]), Ct);
            }

            Assert.True(cursor is null || TrackedObjectCursor.TryParse(cursor.ToString(), out var parsed) && parsed == cursor);
        }
        while (cursor is not null);

        Assert.Equal(["g", "f", "e", "d", "c", "b", "a"], seen);
    }

    [Fact]
    public async Task PruneAsync_CutoffsPerKind_RemovesOldDataAndKeepsRecent()
    {
        var sut = await NewStoreAsync();
        var now = TestFrames.Now();
        var old = TestFrames.Frame("front", now.AddDays(-40), 1, detections: 2);
        var recent = TestFrames.Frame("front", now.AddHours(-2), 2, detections: 2);
        var oldTrack = new TrackedObjectEvent(Guid.CreateVersion7(now.AddDays(-40)), "old-obj", "front", TrackEventType.Entered,
            now.AddDays(-40), old.FrameId, null, "car", 0.9f, null, null);
        await sut.WriteAsync(TestFrames.Batch([old, recent]) with { TrackedObjectEvents = [oldTrack] }, Ct);

        var result = await sut.PruneAsync(new RetentionCutoffs(now.AddDays(-30), now.AddDays(-30), now.AddDays(-30)), Ct);

        Assert.Null(await sut.GetJourneyAsync(old.FrameId, Ct));
        Assert.Null(await sut.GetTrackedObjectAsync("old-obj", Ct));
        var kept = await sut.GetJourneyAsync(recent.FrameId, Ct);
        Assert.NotNull(kept);
        Assert.Equal(2, kept.Detections.Count);
        Assert.Equal([recent.FrameId], (await sut.QueryFramesAsync(new FrameQuery(), Ct)).Items.Select(f => f.FrameId));
        Assert.Empty(await sut.GetStatsAsync(new StatsQuery(null, now.AddDays(-41), now.AddDays(-39), TimeSpan.FromDays(1)), Ct));
        Assert.Single(await sut.GetStatsAsync(new StatsQuery(null, now.AddDays(-1), now, TimeSpan.FromDays(1)), Ct));
        Assert.True(result.RowsDeleted.Values.Sum() + result.PartitionsDropped.Values.Sum() > 0);
    }

    [Fact]
    public async Task WriteAsync_HostileText_IsStoredVerbatimAndQueriesStayParameterized()
    {
        var sut = await NewStoreAsync();
        var frame = TestFrames.Frame("front", TestFrames.Now().AddMinutes(-1), 1);
        const string hostile = "x'); DROP TABLE frame_events; -- \"ünïcødé\" \\ %_ $1";
        var events = frame.Events.Select(e => e.Type == FrameEventType.ProcessingStarted
            ? e with { Stage = hostile, Reason = hostile, Data = "{\"note\":\"x'); DROP TABLE frame_events; --\"}" }
            : e).ToList();
        await sut.WriteAsync(new StoreBatch(events, []), Ct);

        var journey = await sut.GetJourneyAsync(frame.FrameId, Ct);
        var byHostileCamera = await sut.QueryFramesAsync(new FrameQuery(CameraId: "front' OR '1'='1"), Ct);
        var eventsByHostileCamera = await sut.QueryEventsAsync(new EventQuery("front' OR '1'='1"), Ct);

        Assert.NotNull(journey);
        var started = journey.Events.Single(e => e.Type == FrameEventType.ProcessingStarted);
        Assert.Equal((hostile, hostile), (started.Stage, started.Reason));
        Assert.Equal("{\"note\":\"x'); DROP TABLE frame_events; --\"}", started.Data);
        Assert.Empty(byHostileCamera.Items);
        Assert.Empty(eventsByHostileCamera.Items);
    }

    [Fact]
    public async Task WriteAsync_DataThatIsNotJson_IsAPermanentFailureAndWritesNothing()
    {
        var sut = await NewStoreAsync();
        var frame = TestFrames.Frame("front", TestFrames.Now().AddMinutes(-1), 1);
        var bad = frame.Events.Select((e, i) => i == 2 ? e with { Data = "{not json" } : e).ToList();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => sut.WriteAsync(new StoreBatch(bad, []), Ct));

        Assert.True(sut.IsPermanentFailure(error), $"{error.GetType().Name}: {error.Message}");
        Assert.Null(await sut.GetJourneyAsync(frame.FrameId, Ct));
    }

    [Fact]
    public async Task Outbox_PoisonEventInABatch_SetsItAsideStoresTheRestAndAcknowledges()
    {
        var sut = await NewStoreAsync();
        using var dir = new TempDirectory();
        var frames = Enumerable.Range(1, 6).Select(i => TestFrames.Frame("front", TestFrames.Now().AddMinutes(-1).AddSeconds(i), i)).ToList();
        var poison = frames[3].Events[1] with { Data = "{\"unterminated\": " };
        var events = frames.SelectMany(f => f.Events).Select(e => e.EventId == poison.EventId ? poison : e).ToList();
        using var journal = new EventJournal(dir.Path, 1 << 20);
        await using var outbox = new StoreOutbox(sut, journal, new StoreOutboxOptions(), NewTelemetry(), TimeProvider.System, NullLogger.Instance);
        outbox.Start();
        var acked = new TaskCompletionSource();

        await outbox.SubmitAsync(new StoreBatch(events, []), () =>
        {
            acked.TrySetResult();
            return ValueTask.CompletedTask;
        }, Ct);
        await acked.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);

        var stored = 0;
        foreach (var f in frames)
        {
            stored += (await sut.GetJourneyAsync(f.FrameId, Ct))?.Events.Count ?? 0;
        }

        Assert.Equal(events.Count - 1, stored);
        Assert.Equal(1, outbox.Status.RejectedEvents);
        var rejected = await File.ReadAllTextAsync(Path.Combine(dir.Path, "rejected.jsonl"), Ct);
        Assert.Contains(poison.EventId.ToString(), rejected, StringComparison.Ordinal);
    }

    protected static StorageTelemetry NewTelemetry() =>
        new(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());
}
