using System.Diagnostics;
using System.Text.Json;
using Detektor.Core.Frames;
using Detektor.Core.Json;
using Detektor.Core.Lifecycle;
using Detektor.Core.Tracing;

namespace Detektor.Core.Tests.Lifecycle;

public class FrameEventTests
{
    private static readonly FrameMetadata Frame = new()
    {
        FrameId = new FrameIdGenerator(TimeProvider.System, 3).Next("cam", 1),
        CameraId = "cam",
        CaptureTime = DateTimeOffset.UnixEpoch.AddDays(20000),
        Trace = new TraceInfo(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), default, ActivityTraceFlags.Recorded, null),
    };

    [Theory]
    [InlineData(FrameEventType.Skipped)]
    [InlineData(FrameEventType.Dropped)]
    public void Create_SkipOrDropWithoutReason_Throws(FrameEventType type)
    {
        var ex = Assert.Throws<ArgumentException>(() => FrameEvent.Create(type, Frame, "bus", "svc", DateTimeOffset.UnixEpoch));
        Assert.Contains("needs a reason", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OncePerFrameId_SameFrame_SameVersion7IdWithTheCaptureTime()
    {
        var sut = FrameEvent.OncePerFrameId(Frame, FrameEventType.Stored);
        var again = FrameEvent.OncePerFrameId(
            new FrameMetadata { FrameId = FrameId.Parse(Frame.FrameId.ToString()), CameraId = Frame.CameraId, CaptureTime = Frame.CaptureTime },
            FrameEventType.Stored);

        Assert.Equal(sut, again);
        Assert.Equal(7, sut.Version);
        Assert.Equal(Frame.CaptureTime.ToUnixTimeMilliseconds(), Convert.ToInt64(sut.ToString("N")[..12], 16));
    }

    [Fact]
    public void OncePerFrameId_OtherFrameOrType_OtherId()
    {
        var next = new FrameMetadata { FrameId = new FrameIdGenerator(TimeProvider.System, 3).Next("cam", 2), CameraId = "cam", CaptureTime = Frame.CaptureTime };
        var longCamera = new string('c', 64);
        var longest = new FrameMetadata
        {
            FrameId = new FrameIdGenerator(TimeProvider.System, 3).Next(longCamera, long.MaxValue),
            CameraId = longCamera,
            CaptureTime = Frame.CaptureTime,
        };

        var sut = FrameEvent.OncePerFrameId(Frame, FrameEventType.Stored);

        Assert.NotEqual(sut, FrameEvent.OncePerFrameId(next, FrameEventType.Stored));
        Assert.NotEqual(sut, FrameEvent.OncePerFrameId(Frame, FrameEventType.Captured));
        Assert.Equal(7, FrameEvent.OncePerFrameId(longest, FrameEventType.ProcessingCompleted).Version);
    }

    [Fact]
    public void Create_WithoutActivity_TakesTraceFromMetadata()
    {
        var sut = FrameEvent.Create(FrameEventType.Captured, Frame, "capture", "svc", DateTimeOffset.UnixEpoch.AddDays(20000));

        Assert.Equal(Frame.Trace.TraceId, sut.TraceId);
        Assert.Equal(Frame.Trace.SpanId, sut.SpanId);
        Assert.Equal(Frame.FrameId, sut.FrameId);
        Assert.Equal(7, sut.EventId.Version);
    }

    [Fact]
    public void Create_ManyEvents_IdsUniqueAndTimeOrdered()
    {
        var t0 = DateTimeOffset.UnixEpoch.AddDays(20000);
        var ids = Enumerable.Range(0, 1000).Select(i => FrameEvent.Create(FrameEventType.Queued, Frame, "bus", "svc", t0.AddMilliseconds(i)).EventId).ToList();

        Assert.Equal(1000, ids.Distinct().Count());
        // UUIDv7 starts with the millisecond timestamp: ids of later events sort later.
        Assert.Equal(ids, ids.OrderBy(g => g.ToString("N"), StringComparer.Ordinal));
    }

    [Fact]
    public void Json_RoundTrip_KeepsEveryField()
    {
        var sut = FrameEvent.Create(
            FrameEventType.Dropped, Frame, "bus", "detektor", DateTimeOffset.UnixEpoch.AddDays(20000).AddTicks(12345),
            duration: TimeSpan.FromTicks(123456), reason: DropReasons.QueueFull, data: "{\"topic\":\"frames\",\"n\":[1,2]}");

        var json = CoreJson.Serialize(sut);
        var back = CoreJson.DeserializeEvent(System.Text.Encoding.UTF8.GetBytes(json));

        Assert.Equal(sut, back);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("dropped", doc.RootElement.GetProperty("type").GetString());
        Assert.Equal(12.3456, doc.RootElement.GetProperty("duration_ms").GetDouble(), 6);
        Assert.Equal(JsonValueKind.Object, doc.RootElement.GetProperty("data").ValueKind);
    }

    [Fact]
    public void WireNames_AllParseBack_AndUnknownIsRejected()
    {
        foreach (var type in Enum.GetValues<FrameEventType>())
        {
            Assert.True(FrameEventTypes.TryParse(type.ToWireName(), out var back));
            Assert.Equal(type, back);
        }

        Assert.False(FrameEventTypes.TryParse("Captured", out _));
        Assert.False(FrameEventTypes.TryParse("exploded", out _));
    }

    [Fact]
    public void Rank_TerminalEventsOutrankEverything()
    {
        var terminal = Enum.GetValues<FrameEventType>().Where(t => t.IsTerminal()).Min(t => t.Rank());
        var others = Enum.GetValues<FrameEventType>().Where(t => !t.IsTerminal()).Max(t => t.Rank());

        Assert.True(terminal > others);
    }
}
