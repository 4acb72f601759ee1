using Detektor.Core.Messages;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Tests.Support;
using Detektor.Storage.Writer;
using Detektor.Testing;

namespace Detektor.Storage.Tests.Writer;

public sealed class EventJournalTests : IDisposable
{
    private readonly TempDirectory _dir = new("detektor-journal");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void TryAppend_ThenRead_ReturnsTheSameBatchesInOrderMarkedAsReplays()
    {
        var t = TestFrames.Now();
        var batches = Enumerable.Range(1, 3).Select(i => TestFrames.Frame("front", t.AddSeconds(i), i, detections: i).Batch).ToList();
        var track = new TrackedObjectEvent(Guid.CreateVersion7(), "o-1", "front", TrackEventType.Entered, t, null, null, "car", 0.5f, null, "{\"a\":1}");
        batches.Add(new StoreBatch([], [], [track]));
        using var sut = new EventJournal(_dir.Path, 1 << 20);

        Assert.True(sut.TryAppend(batches[..2]));
        Assert.True(sut.TryAppend(batches[2..]));
        var segment = sut.TakeOldest();
        Assert.NotNull(segment);
        var read = EventJournal.Read(segment).ToList();

        Assert.Equal(batches.Count, read.Count);
        for (var i = 0; i < batches.Count; i++)
        {
            Assert.True(read[i].Replay);
            Assert.Equal(batches[i].Events, read[i].Events);
            Assert.Equal(batches[i].Detections, read[i].Detections);
            Assert.Equal(batches[i].TrackEvents, read[i].TrackEvents);
        }

        Assert.Equal(batches.Sum(b => b.Count), sut.Events);
    }

    [Fact]
    public void Open_TornRecordAtTheEnd_CutsItAndKeepsWhatWasComplete()
    {
        var t = TestFrames.Now();
        using (var first = new EventJournal(_dir.Path, 1 << 20))
        {
            first.TryAppend([TestFrames.Frame("front", t, 1).Batch, TestFrames.Frame("front", t.AddSeconds(1), 2).Batch]);
        }

        var file = Directory.GetFiles(_dir.Path, "*" + EventJournal.Extension).Single();
        var complete = new FileInfo(file).Length;
        var record = EventJournal.Encode(TestFrames.Frame("front", t.AddSeconds(2), 3).Batch);
        using (var append = new FileStream(file, FileMode.Append))
        {
            append.Write(record.AsSpan(0, record.Length / 2)); // a crash in the middle of an append
        }

        using var sut = new EventJournal(_dir.Path, 1 << 20);

        Assert.Equal(1, sut.DiscardedAtOpen);
        Assert.Equal(complete, new FileInfo(file).Length);
        Assert.Equal(12, sut.Events);
        Assert.Equal(2, EventJournal.Read(sut.TakeOldest()!).Count());
    }

    [Fact]
    public void Open_CorruptedPayload_StopsAtTheBadRecord()
    {
        var t = TestFrames.Now();
        using (var first = new EventJournal(_dir.Path, 1 << 20))
        {
            first.TryAppend([TestFrames.Frame("front", t, 1).Batch]);
            first.TryAppend([TestFrames.Frame("front", t.AddSeconds(1), 2).Batch]);
        }

        var file = Directory.GetFiles(_dir.Path, "*" + EventJournal.Extension).Single();
        var bytes = File.ReadAllBytes(file);
        bytes[^5] ^= 0xFF; // flip a byte inside the second record: its CRC no longer matches
        File.WriteAllBytes(file, bytes);

        using var sut = new EventJournal(_dir.Path, 1 << 20);

        Assert.Equal(1, sut.DiscardedAtOpen);
        Assert.Single(EventJournal.Read(sut.TakeOldest()!));
    }

    [Fact]
    public void TryAppend_PastTheBound_RefusesAndWritesNothing()
    {
        var batch = TestFrames.Frame("front", TestFrames.Now(), 1).Batch;
        var size = EventJournal.Encode(batch).Length;
        using var sut = new EventJournal(_dir.Path, (size * 2) + 10);

        Assert.True(sut.TryAppend([batch]));
        Assert.True(sut.TryAppend([batch]));
        Assert.False(sut.TryAppend([batch]));
        Assert.Equal(size * 2, sut.Bytes);
    }

    [Fact]
    public void Complete_AfterReplay_DeletesTheSegmentAndAppendsGoToANewOne()
    {
        var t = TestFrames.Now();
        using var sut = new EventJournal(_dir.Path, 1 << 20);
        sut.TryAppend([TestFrames.Frame("front", t, 1).Batch]);
        var segment = sut.TakeOldest()!;

        sut.TryAppend([TestFrames.Frame("front", t.AddSeconds(1), 2).Batch]); // written while the first is replayed
        foreach (var batch in EventJournal.Read(segment))
        {
            sut.MarkReplayed(segment, batch);
        }

        sut.Complete(segment);

        Assert.False(File.Exists(segment.Path));
        var next = sut.TakeOldest();
        Assert.NotNull(next);
        Assert.NotEqual(segment.Path, next.Path);
        Assert.Equal(6, sut.Events);
        sut.Complete(next);
        Assert.True(sut.IsEmpty);
        Assert.Equal((0, 0), (sut.Events, sut.Bytes));
    }
}
