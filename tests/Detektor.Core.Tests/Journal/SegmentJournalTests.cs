using System.Text;
using Detektor.Core.Journal;
using Detektor.Testing;

namespace Detektor.Core.Tests.Journal;

/// <summary>The shared on-disk journal (store spill, lifecycle spill) with opaque payloads, on a real temp directory.</summary>
public sealed class SegmentJournalTests : IDisposable
{
    private readonly TempDirectory _dir = new("detektor-segment-journal");

    public void Dispose() => _dir.Dispose();

    private static byte[] Payload(string text) => Encoding.UTF8.GetBytes(text);

    private static long CountLines(byte[] payload) => payload.Count(b => b == (byte)'\n') + 1;

    [Fact]
    public void TryAppend_SmallSegments_ReadsBackEveryPayloadInOrderAcrossSegmentsAndCountsItems()
    {
        using var sut = new SegmentJournal(_dir.Path, 1 << 20, segmentBytes: 64, CountLines);
        var written = Enumerable.Range(1, 20).Select(i => $"record {i}\nsecond line").ToList();

        foreach (var text in written)
        {
            Assert.True(sut.TryAppend([Payload(text)], 2));
        }

        Assert.Equal(40, sut.Items);
        var read = new List<string>();
        var segments = 0;
        while (sut.TakeOldest() is { } segment)
        {
            segments++;
            read.AddRange(SegmentJournal.Read(segment).Select(p => Encoding.UTF8.GetString(p)));
            sut.Complete(segment);
        }

        Assert.Equal(written, read);
        Assert.True(segments > 1, $"{segments} segment(s)");
        Assert.True(sut.IsEmpty);
    }

    [Fact]
    public void Open_AfterRestart_CountsItemsWithTheOwnersCounter()
    {
        using (var first = new SegmentJournal(_dir.Path, 1 << 20, 1 << 16, CountLines))
        {
            first.TryAppend([Payload("a\nb\nc"), Payload("d")], 4);
        }

        using var sut = new SegmentJournal(_dir.Path, 1 << 20, 1 << 16, CountLines);

        Assert.Equal(4, sut.Items);
        Assert.Equal(2 * SegmentJournal.HeaderLength + 6, sut.Bytes);
        Assert.Equal(0, sut.DiscardedAtOpen);
    }

    [Fact]
    public void Quarantine_UnreadableSegment_MovedAsideAndOutOfTheBacklog()
    {
        using var sut = new SegmentJournal(_dir.Path, 1 << 20, 1 << 16, CountLines);
        sut.TryAppend([Payload("x")], 1);
        var segment = sut.TakeOldest()!;

        var aside = sut.Quarantine(segment);

        Assert.True(File.Exists(aside));
        Assert.EndsWith(".corrupt", aside, StringComparison.Ordinal);
        Assert.False(File.Exists(segment.Path));
        Assert.True(sut.IsEmpty);
        Assert.Equal((0, 0), (sut.Items, sut.Bytes));
    }
}
