using Detektor.Bus.Abstractions;
using Detektor.Core.Messages;
using Detektor.Testing;
using static Detektor.Bus.Tests.TestFrames;

namespace Detektor.Bus.Tests.Redis;

/// <summary>A result that only carries the tracker's closing events crosses the Redis bus whole (flag and reasons).</summary>
public sealed class TrackEventsOverRedisTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task Publish_TrackEventsOnlyResult_ReadBackWithTheFlagAndTheShutdownReason()
    {
        var server = await redis.ServerAsync();
        await using var host = await BusHost.StartAsync(BusHost.RedisSettings(server, RedisFixture.UniquePrefix()));
        await using var consumer = host.Bus.Subscribe(Topics.Results, "store", "s1");
        var frame = Frame("cam1", 7);
        frame.Release();
        var left = new TrackEvent(
            Guid.CreateVersion7(), "trk_1", TrackEventType.Left, "person", 0.8f, new BoundingBox(1, 2, 3, 4), frame.Metadata.CaptureTime,
            frame.Metadata.FrameId.ToString(), null, null, ["f1"]) { Reason = TrackEventReasons.Shutdown };
        var ordinary = left with { EventId = Guid.CreateVersion7(), ObjectId = "trk_2", Reason = null };

        await host.Bus.PublishAsync(
            Topics.Results,
            new FrameResult
            {
                Metadata = frame.Metadata, Outcome = FrameOutcome.Processed, TrackEvents = [left, ordinary], TrackEventsOnly = true, CompletedAt = frame.Metadata.CaptureTime,
            },
            TestContext.Current.CancellationToken);
        var got = Assert.Single(await ReadAsync(consumer, 1)).Message;

        Assert.True(got.TrackEventsOnly);
        Assert.Equal(frame.Metadata.FrameId, got.Metadata.FrameId);
        Assert.Equal([TrackEventReasons.Shutdown, null], got.TrackEvents.Select(e => e.Reason));
        Assert.Equal(["trk_1", "trk_2"], got.TrackEvents.Select(e => e.ObjectId));
    }
}
