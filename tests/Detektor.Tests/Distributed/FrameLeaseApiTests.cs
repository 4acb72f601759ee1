using System.Net;
using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Tests.Distributed;

/// <summary>
/// External processors over HTTP against a real app (capture on the ffmpeg test pattern, store and API, no in-process
/// processor) on a real Redis: dequeue leases frames, results complete them, expired leases redeliver; bad input is 400.
/// </summary>
public sealed class FrameLeaseApiTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private Task<LeaseApp> StartAsync(Dictionary<string, string?>? extra = null) => LeaseApp.CreateAsync(redis, extra);

    [Theory]
    [InlineData("", "processor")]
    [InlineData("processor=not%20valid", "processor")]
    [InlineData("processor=ext&count=0", "count")]
    [InlineData("processor=ext&count=abc", "count")]
    [InlineData("processor=ext&count=65", "count")]
    [InlineData("processor=ext&wait=31", "wait")]
    [InlineData("processor=ext&wait=-1", "wait")]
    [InlineData("processor=ext&pixels=png", "pixels")]
    [InlineData("processor=ext&processor=two", "processor")]
    public async Task Dequeue_InvalidQuery_400NamingTheField(string query, string field)
    {
        await using var app = await StartAsync();

        using var response = await app.Http.GetAsync("api/v1/frames/dequeue?" + query, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var doc = await LeaseApp.JsonAsync(response);
        Assert.True(doc.RootElement.GetProperty("errors").TryGetProperty(field, out _), doc.RootElement.GetRawText());
    }

    [Theory]
    [InlineData("not-a-frame-id", """{"processor":"ext","outcome":"processed"}""", "id")]
    [InlineData(null, """{"outcome":"processed"}""", "processor")]
    [InlineData(null, """{"processor":"ext","outcome":"great"}""", "outcome")]
    [InlineData(null, """{"processor":"ext","outcome":"skipped"}""", "reason")]
    [InlineData(null, """{"processor":"ext","outcome":"processed","duration_ms":-5}""", "duration_ms")]
    [InlineData(null, """{"processor":"ext","outcome":"processed","detections":{}}""", "detections")]
    [InlineData(null, """{"processor":"ext","outcome":"processed","detections":[{"label":"person","confidence":2,"box":{"x":0,"y":0,"width":1,"height":1}}]}""", "detections[0].confidence")]
    [InlineData(null, """{"processor":"ext","outcome":"processed","detections":[{"label":"person","confidence":0.5,"box":{"x":0,"y":0,"width":-1,"height":1}}]}""", "detections[0].box.width")]
    [InlineData(null, """{"processor":"ext","outcome":"processed","detections":[{"confidence":0.5,"box":{"x":0,"y":0,"width":1,"height":1}}]}""", "detections[0].label")]
    [InlineData(null, """[1,2]""", "body")]
    [InlineData(null, """{"processor":""", "body")]
    public async Task PostResult_InvalidInput_400NamingTheField(string? frameId, string json, string field)
    {
        await using var app = await StartAsync();
        frameId ??= "20261123T144012.123456Z-cam1-42-3f9a1c2d";

        using var response = await app.Http.PostAsync($"api/v1/frames/{frameId}/results", LeaseApp.Body(json), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var doc = await LeaseApp.JsonAsync(response);
        Assert.True(doc.RootElement.GetProperty("errors").TryGetProperty(field, out _), doc.RootElement.GetRawText());
    }

    [Fact]
    public async Task PostResult_FrameNotLeased_404()
    {
        await using var app = await StartAsync();

        using var response = await app.Http.PostAsync(
            "api/v1/frames/20261123T144012.123456Z-cam1-42-3f9a1c2d/results", LeaseApp.Body("""{"processor":"ext","outcome":"processed"}"""), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Dequeue_PixelsRgb24OrJpeg_ConvertedFromTheCapturedYuv420p()
    {
        await using var app = await StartAsync();

        var rgb = (await LeaseApp.DequeueAsync(app, "ext-rgb", pixels: "rgb24")).GetProperty("items")[0].GetProperty("pixels");
        var jpeg = (await LeaseApp.DequeueAsync(app, "ext-jpeg", pixels: "jpeg")).GetProperty("items")[0].GetProperty("pixels");

        Assert.Equal(("raw", "rgb24"), (rgb.GetProperty("encoding").GetString(), rgb.GetProperty("format").GetString()));
        var data = rgb.GetProperty("data").GetBytesFromBase64();
        Assert.Equal(160 * 120 * 3, data.Length);
        Assert.True(data.Distinct().Count() > 16, "a real picture, not one colour");
        Assert.Equal("jpeg", jpeg.GetProperty("encoding").GetString());
        var image = Imaging.ImageCodec.Decode(jpeg.GetProperty("data").GetBytesFromBase64());
        Assert.Equal((160, 120), (image.Width, image.Height));
    }

    [Fact]
    public async Task DequeueAndPostResult_ExternalProcessor_FrameStoredWithItsEventsAndDetections()
    {
        await using var app = await StartAsync();

        var leased = await LeaseApp.DequeueAsync(app, "ext", count: 2);
        var item = leased.GetProperty("items")[0];
        var frameId = item.GetProperty("frame_id").GetString()!;
        var pixels = item.GetProperty("pixels");
        Assert.Equal("raw", pixels.GetProperty("encoding").GetString());
        Assert.Equal("yuv420p", pixels.GetProperty("format").GetString()); // as captured
        Assert.Equal(160 * 120 * 3 / 2, pixels.GetProperty("data").GetBytesFromBase64().Length);
        Assert.Equal(1, item.GetProperty("delivery_count").GetInt32());
        Assert.StartsWith("00-" + item.GetProperty("metadata").GetProperty("trace").GetProperty("trace_id").GetString(), item.GetProperty("traceparent").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, leased.GetProperty("lease_seconds").GetDouble());
        var result = """{"processor":"ext","outcome":"processed","duration_ms":7.5,"detections":[{"label":"person","confidence":0.9,"box":{"x":10,"y":20,"width":30,"height":40},"class_id":0}]}""";
        using var posted = await app.Http.PostAsync($"api/v1/frames/{frameId}/results", LeaseApp.Body(result), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        using var again = await app.Http.PostAsync($"api/v1/frames/{frameId}/results", LeaseApp.Body(result), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode); // completed once

        var journey = await Eventually.WaitAsync(
            async () =>
            {
                using var response = await app.Http.GetAsync($"api/v1/frames/{frameId}", TestContext.Current.CancellationToken);
                using var doc = await LeaseApp.JsonAsync(response);
                return doc.RootElement.Clone();
            },
            // The lifecycle events travel on their own topic and may land just after the result's "stored": wait for
            // the last of them too, not only for the state.
            j => j.TryGetProperty("state", out var s) && s.GetString() == "stored" &&
                 j.GetProperty("events").EnumerateArray().Any(e => e.GetProperty("type").GetString() == "detected") &&
                 j.GetProperty("events").EnumerateArray().Any(e => e.GetProperty("type").GetString() == "processing_completed"),
            TimeSpan.FromSeconds(30),
            "the externally processed frame in the store");
        var types = journey.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        Assert.Equal(["captured", "queued", "dequeued", "processing_started", "processing_completed", "detected", "stored"], types);
        Assert.Equal("http:ext", journey.GetProperty("events")[2].GetProperty("service").GetString());
        Assert.Equal("ext", journey.GetProperty("events")[4].GetProperty("stage").GetString());
        Assert.Equal("processed", journey.GetProperty("outcome").GetString());
        var detection = Assert.Single(journey.GetProperty("detections").EnumerateArray());
        Assert.Equal("person", detection.GetProperty("label").GetString());
        Assert.Equal("ext", detection.GetProperty("source").GetString());
        using var processors = await LeaseApp.JsonAsync(await app.Http.GetAsync("api/v1/processors", TestContext.Current.CancellationToken));
        var external = Assert.Single(processors.RootElement.GetProperty("items").EnumerateArray(), p => p.GetProperty("id").GetString() == "http:ext");
        Assert.Equal("http", external.GetProperty("kind").GetString());
    }

    [Fact]
    public async Task PostResult_AfterTheLeaseExpired_409AndTheFrameIsLeasedAgainToAnother()
    {
        await using var app = await StartAsync();
        var first = (await LeaseApp.DequeueAsync(app, "slow")).GetProperty("items")[0];
        var frameId = first.GetProperty("frame_id").GetString()!;

        await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken); // the lease is 2 s
        using var late = await app.Http.PostAsync($"api/v1/frames/{frameId}/results", LeaseApp.Body("""{"processor":"slow","outcome":"processed"}"""), TestContext.Current.CancellationToken);
        var redelivered = await Eventually.WaitAsync(
            async () => (await LeaseApp.DequeueAsync(app, "fast", count: 64, wait: 1)).GetProperty("items").EnumerateArray()
                .FirstOrDefault(i => i.GetProperty("frame_id").GetString() == frameId),
            i => i.ValueKind == JsonValueKind.Object,
            TimeSpan.FromSeconds(60),
            "the expired frame leased again");

        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal(2, redelivered.GetProperty("delivery_count").GetInt32());
        using var done = await app.Http.PostAsync($"api/v1/frames/{frameId}/results", LeaseApp.Body("""{"processor":"fast","outcome":"skipped","reason":"no_motion"}"""), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
    }

    [Fact]
    public async Task DeadLetters_LeaseExpiresMoreThanMaxDeliveries_ListedAndReplayable()
    {
        await using var app = await StartAsync(new() { ["Detektor:Bus:MaxDeliveries"] = "1" });
        var frameId = (await LeaseApp.DequeueAsync(app, "crashy")).GetProperty("items")[0].GetProperty("frame_id").GetString()!;

        // Its lease runs out; the next reader's reclaim finds it delivered MaxDeliveries times and dead-letters it.
        var dead = await Eventually.WaitAsync(
            async () =>
            {
                await LeaseApp.DequeueAsync(app, "other", count: 64, wait: 1);
                using var doc = await LeaseApp.JsonAsync(await app.Http.GetAsync("api/v1/bus/deadletters", TestContext.Current.CancellationToken));
                return doc.RootElement.GetProperty("items").EnumerateArray().Select(i => i.Clone()).ToList();
            },
            items => items.Any(i => i.GetProperty("frame_id").GetString() == frameId),
            TimeSpan.FromSeconds(60),
            "the frame among the dead letters");
        var entry = dead.Single(i => i.GetProperty("frame_id").GetString() == frameId);
        Assert.Equal("frames", entry.GetProperty("topic").GetString());
        Assert.Equal(1, entry.GetProperty("attempts").GetInt32());
        using var bus = await LeaseApp.JsonAsync(await app.Http.GetAsync("api/v1/bus", TestContext.Current.CancellationToken));
        Assert.True(bus.RootElement.GetProperty("dead_letters").GetInt64() >= 1);
        Assert.Contains(bus.RootElement.GetProperty("drops").EnumerateArray(), d => d.GetProperty("reason").GetString() == "dead_letter");

        var id = entry.GetProperty("id").GetString()!;
        using var replay = await app.Http.PostAsync($"api/v1/bus/deadletters/{Uri.EscapeDataString(id)}/replay", null, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        using var twice = await app.Http.PostAsync($"api/v1/bus/deadletters/{Uri.EscapeDataString(id)}/replay", null, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, twice.StatusCode);
        using var bad = await app.Http.PostAsync("api/v1/bus/deadletters/nonsense/replay", null, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var back = await Eventually.WaitAsync(
            async () => (await LeaseApp.DequeueAsync(app, "other", count: 64, wait: 1)).GetProperty("items").EnumerateArray()
                .FirstOrDefault(i => i.GetProperty("frame_id").GetString() == frameId),
            i => i.ValueKind == JsonValueKind.Object,
            TimeSpan.FromSeconds(60),
            "the replayed frame");
        Assert.Equal(1, back.GetProperty("delivery_count").GetInt32());
    }

    [Fact]
    public async Task GetBus_RunningPipeline_ShowsTopicsGroupsAndBreaker()
    {
        await using var app = await StartAsync();
        await LeaseApp.DequeueAsync(app, "ext");

        using var doc = await LeaseApp.JsonAsync(await app.Http.GetAsync("api/v1/bus", TestContext.Current.CancellationToken));
        var root = doc.RootElement;

        Assert.Equal("redis", root.GetProperty("transport").GetString());
        Assert.True(root.GetProperty("available").GetBoolean());
        Assert.Equal("closed", root.GetProperty("breaker").GetProperty("state").GetString());
        Assert.Equal(0.95, root.GetProperty("breaker").GetProperty("high_watermark").GetDouble());
        var frames = root.GetProperty("topics").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "frames");
        Assert.Equal("perishable", frames.GetProperty("durability").GetString());
        Assert.Equal(64, frames.GetProperty("capacity").GetInt64());
        Assert.True(frames.GetProperty("published").GetInt64() >= 1);
        var group = Assert.Single(frames.GetProperty("groups").EnumerateArray());
        Assert.Equal("processors", group.GetProperty("name").GetString());
        Assert.Contains(group.GetProperty("consumers").EnumerateArray(), c => c.GetProperty("name").GetString() == "http-ext");
        Assert.Contains(root.GetProperty("topics").EnumerateArray(), t => t.GetProperty("name").GetString() == "lifecycle");
    }
}
