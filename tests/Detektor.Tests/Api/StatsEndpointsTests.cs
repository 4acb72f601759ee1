using System.Net;
using System.Text.Json;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Storage.Abstractions;
using Detektor.Tests.Pipeline;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Tests.Api;

public sealed class StatsEndpointsTests : IAsyncLifetime
{
    private PipelineHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await ApiHost.StartAsync();

    public async ValueTask DisposeAsync() => await _host.DisposeAsync();

    [Theory]
    [InlineData("camera=front'%20OR%20'1'%3D'1", "camera")]
    [InlineData("camera=front%3BDROP%20TABLE%20frame_events", "camera")]
    [InlineData("from=yesterday", "from")]
    [InlineData("to=2026-13-45T00:00:00Z", "to")]
    [InlineData("from=99999-01-01T00:00:00Z", "from")]
    [InlineData("from=1969-12-31T23:59:59Z", "from")]
    [InlineData("interval=5x", "interval")]
    [InlineData("interval=0m", "interval")]
    [InlineData("interval=-5m", "interval")]
    [InlineData("interval=99999999999999999999m", "interval")]
    [InlineData("interval=32d", "interval")]
    [InlineData("interval=1m&interval=5m", "interval")]
    [InlineData("interval=1m&from=2000-01-01T00:00:00Z&to=2020-01-01T00:00:00Z", "interval")]
    [InlineData("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to")]
    public async Task GetStats_HostileOrBadInput_Answers400NamingTheField(string query, string field)
    {
        using var response = await _host.Http.GetAsync($"api/v1/stats?{query}", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out _), problem.RootElement.ToString());
    }

    [Fact]
    public async Task GetStats_FramesInTheStore_ReturnsTheirIntervals()
    {
        var store = _host.App.Services.GetRequiredService<IEventStore>();
        var minute = new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero);
        var id = new FrameId(Storage.Abstractions.FrameTimes.ToMicros(minute.AddSeconds(5)), "front", 1, 1);
        var metadata = new FrameMetadata { FrameId = id, CameraId = "front", CaptureTime = id.Timestamp };
        await store.WriteAsync(StoreBatch.Of(
            FrameEvent.Create(FrameEventType.Captured, metadata, Stages.Capture, "t", id.Timestamp),
            FrameEvent.Create(FrameEventType.Skipped, metadata, "motion", "t", id.Timestamp.AddMilliseconds(3), reason: SkipReasons.NoMotion),
            FrameEvent.Create(FrameEventType.Stored, metadata, Stages.Store, "t", id.Timestamp.AddMilliseconds(50), reason: SkipReasons.NoMotion, data: "{\"detections\":0}")), Ct);

        using var response = await _host.Http.GetAsync("api/v1/stats?camera=front&from=2026-11-23T13:00:00Z&to=2026-11-23T15:00:00Z&interval=1h", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var root = body.RootElement;
        Assert.Equal(3600, root.GetProperty("interval_seconds").GetInt64());
        var bucket = Assert.Single(root.GetProperty("buckets").EnumerateArray());
        Assert.Equal("2026-11-23T14:00:00+00:00", bucket.GetProperty("start").GetString());
        Assert.Equal(1, bucket.GetProperty("frames").GetInt64());
        Assert.Equal(1, bucket.GetProperty("skipped_by_reason").GetProperty("no_motion").GetInt64());
        Assert.Equal(50, bucket.GetProperty("latency").GetProperty("max_ms").GetDouble(), 3);
    }
}
