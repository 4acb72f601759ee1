using System.Collections.Concurrent;
using Detektor.Core.Frames;
using Microsoft.Extensions.Time.Testing;

namespace Detektor.Core.Tests.Frames;

public class FrameIdTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 14, 40, 12, 123, 456, TimeSpan.Zero);

    [Fact]
    public void ToString_KnownValues_MatchesDocumentedFormat()
    {
        var micros = (Start - DateTimeOffset.UnixEpoch).Ticks / 10;
        var sut = new FrameId(micros, "front-door", 42, 0x3f9a1c2d);

        Assert.Equal("20261123T144012.123456Z-front-door-42-3f9a1c2d", sut.ToString());
    }

    [Fact]
    public void Parse_CanonicalString_GivesBackTimestampCameraSequenceAndNode()
    {
        var sut = FrameId.Parse("20261123T144012.123456Z-front-door-42-3f9a1c2d");

        Assert.Equal(Start, sut.Timestamp);
        Assert.Equal("front-door", sut.CameraId);
        Assert.Equal(42, sut.Sequence);
        Assert.Equal(0x3f9a1c2du, sut.Node);
    }

    [Theory]
    [InlineData("cam", 0L)]
    [InlineData("a", 1L)]
    [InlineData("Lobby_2-east", long.MaxValue)]
    public void Parse_ToString_RoundTrips(string camera, long sequence)
    {
        var id = new FrameIdGenerator(TimeProvider.System, 0xdeadbeef).Next(camera, sequence);

        var parsed = FrameId.Parse(id.ToString());

        Assert.Equal(id, parsed);
        Assert.Equal(id.ToString(), parsed.ToString());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("not-a-frame-id", "wrong length")]
    [InlineData("20261123T144012.123456X-front-42-3f9a1c2d", "UTC timestamp")]
    [InlineData("20261323T144012.123456Z-front-42-3f9a1c2d", "UTC timestamp")]
    [InlineData("20260230T144012.123456Z-front-42-3f9a1c2d", "UTC timestamp")]
    [InlineData("20261123T144012.123456Z-front-42-3F9A1C2D", "8 lowercase hex")]
    [InlineData("20261123T144012.123456Z-front-42-3f9a1c2", "8 lowercase hex")]
    [InlineData("20261123T144012.123456Z-front-042-3f9a1c2d", "leading zeros")]
    [InlineData("20261123T144012.123456Z-front-x1-3f9a1c2d", "sequence")]
    [InlineData("20261123T144012.123456Z-fr ont-42-3f9a1c2d", "camera id")]
    [InlineData("20261123T144012.123456Z--42-3f9a1c2d", "camera")]
    [InlineData("20261123T144012.123456Z-front-99999999999999999999-3f9a1c2d", "sequence")]
    public void TryParse_InvalidString_FailsWithMessageSayingWhy(string input, string expectedInMessage)
    {
        var ok = FrameId.TryParse(input, out _, out var error);

        Assert.False(ok);
        Assert.Contains(expectedInMessage, error, StringComparison.Ordinal);
        var thrown = Assert.Throws<FormatException>(() => FrameId.Parse(input));
        Assert.Equal(error, thrown.Message);
    }

    [Fact]
    public void Next_ManyThreads_IdsUniqueAndStringOrderIsCreationOrder()
    {
        var sut = new FrameIdGenerator(TimeProvider.System);
        var perThread = new ConcurrentBag<List<FrameId>>();
        Parallel.For(0, 8, t =>
        {
            var mine = new List<FrameId>(5000);
            for (var i = 0; i < 5000; i++)
            {
                mine.Add(sut.Next($"cam{t % 3}", i));
            }

            perThread.Add(mine);
        });

        var all = perThread.SelectMany(x => x).ToList();
        Assert.Equal(40_000, all.Select(x => x.ToString()).Distinct().Count());
        foreach (var mine in perThread)
        {
            // Within a thread, later ids sort after earlier ones, both as values and as strings.
            for (var i = 1; i < mine.Count; i++)
            {
                Assert.True(mine[i] > mine[i - 1]);
                Assert.True(string.CompareOrdinal(mine[i].ToString(), mine[i - 1].ToString()) > 0);
            }
        }

        // The timestamps alone are unique within the process.
        Assert.Equal(all.Count, all.Select(x => x.UnixMicroseconds).Distinct().Count());
    }

    [Fact]
    public void Next_ClockStepsBack_StaysMonotonic()
    {
        var clock = new SteppableClock(Start);
        var sut = new FrameIdGenerator(clock, 1);
        var before = sut.Next("cam", 1);

        clock.Now = Start.AddHours(-1); // NTP step back
        var during = new[] { sut.Next("cam", 2), sut.Next("cam", 3) };
        clock.Now = Start.AddSeconds(1);
        var after = sut.Next("cam", 4);

        Assert.True(during[0] > before);
        Assert.True(during[1] > during[0]);
        Assert.True(after > during[1]);
        Assert.Equal(before.UnixMicroseconds + 1, during[0].UnixMicroseconds);
        Assert.Equal(Start.AddSeconds(1), after.Timestamp);
        var strings = new[] { before, during[0], during[1], after }.Select(x => x.ToString()).ToList();
        Assert.Equal(strings.Order(StringComparer.Ordinal), strings);
    }

    [Fact]
    public void Next_TwoProcessesSameInstant_DifferByNode()
    {
        var clock = new FakeTimeProvider(Start);
        var a = new FrameIdGenerator(clock, 1).Next("cam", 7);
        var b = new FrameIdGenerator(clock, 2).Next("cam", 7);

        Assert.NotEqual(a, b);
        Assert.NotEqual(a.ToString(), b.ToString());
        Assert.Equal(a.UnixMicroseconds, b.UnixMicroseconds);
    }

    [Fact]
    public void TimestampPrefix_BoundsIdsByTime()
    {
        var clock = new FakeTimeProvider(Start);
        var gen = new FrameIdGenerator(clock, 0xffffffff);
        var at = gen.Next("zzz", long.MaxValue).ToString();
        var prefix = FrameId.TimestampPrefix(Start);
        var later = FrameId.TimestampPrefix(Start.AddTicks(10));

        Assert.True(string.CompareOrdinal(at, prefix) >= 0);
        Assert.True(string.CompareOrdinal(at, later) < 0);
    }

    [Fact]
    public void Constructor_InvalidCamera_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => new FrameId(0, "bad camera", 1, 1));
        Assert.Contains("camera id", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A wall clock that can step backwards (FakeTimeProvider refuses to).</summary>
    private sealed class SteppableClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
