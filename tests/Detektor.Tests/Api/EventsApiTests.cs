using Detektor.Core.Messages;
using Detektor.Detection.Tracking;
using Detektor.Imaging;
using Detektor.Storage.Abstractions;
using Detektor.Tests.Pipeline;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Tests.Api;

/// <summary><c>/api/v1/events</c> on a full Detektor: objects as the tracker stores them, read back over HTTP.</summary>
public sealed class EventsApiTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds());
    private PipelineHost? _host;

    private PipelineHost Host => _host!;

    public async ValueTask InitializeAsync()
    {
        _host = await ApiHost.StartAsync();
        var store = Host.App.Services.GetRequiredService<IEventStore>();
        var snapshots = Host.App.Services.GetRequiredService<SnapshotStore>();

        // A person on "front" who entered, was seen better, and left; a car on "back" still there; a record whose
        // snapshot path tries to leave the snapshots directory.
        var pixels = new byte[64 * 48 * 3];
        Array.Fill(pixels, (byte)90);
        var person = snapshots.Write("front", "trk_person", pixels, 64, 48, new BoundingBox(10, 10, 20, 30));
        var car = snapshots.Write("back", "trk_car", pixels, 64, 48, new BoundingBox(5, 5, 40, 20));
        await store.WriteAsync(new StoreBatch([], [],
        [
            Event("trk_person", "front", "person", TrackEventType.Entered, 0, 0.6f, person, ["f1", "f2", "f3"]),
            Event("trk_person", "front", "person", TrackEventType.Updated, 3, 0.9f, person, ["f4", "f5"]),
            Event("trk_person", "front", "person", TrackEventType.Left, 8, 0.9f, null, ["f6"]),
            Event("trk_car", "back", "car", TrackEventType.Entered, 20, 0.7f, car, ["g1"]),
            Event("trk_escape", "back", "car", TrackEventType.Entered, 30, 0.7f, "../../../../etc/hostname", ["h1"]),
        ]), TestContext.Current.CancellationToken);
    }

    private static TrackedObjectEvent Event(string id, string camera, string label, TrackEventType type, int second, float score, string? snapshot, string[] frames) =>
        TrackedObjectEvents.From(
            new TrackEvent(Guid.CreateVersion7(), id, type, label, score, new BoundingBox(10, 20, 30, 40), T0.AddSeconds(second),
                frames[^1], $"{second:x32}", snapshot, frames),
            camera);

    [Fact]
    public async Task List_NoFilter_NewestFirstWithStartEndStateAndSnapshotUrl()
    {
        var (status, body) = await Host.Http.SendAsync(HttpMethod.Get, "api/v1/events");

        Assert.Equal(200, status);
        var items = body.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(["trk_escape", "trk_car", "trk_person"], items.Select(i => i.GetProperty("id").GetString()));
        var person = items[2];
        Assert.Equal(("front", "person", "left"), (person.GetProperty("camera_id").GetString(), person.GetProperty("label").GetString(), person.GetProperty("state").GetString()));
        Assert.Equal(T0, person.GetProperty("start").GetDateTimeOffset());
        Assert.Equal(T0.AddSeconds(8), person.GetProperty("end").GetDateTimeOffset());
        Assert.Equal(0.9, person.GetProperty("best_score").GetDouble(), 3);
        Assert.Equal("/api/v1/events/trk_person/snapshot.jpg", person.GetProperty("snapshot_url").GetString());
        Assert.False(items[1].TryGetProperty("end", out _), "an object still there has no end");
        Assert.Equal("active", items[1].GetProperty("state").GetString());
    }

    [Fact]
    public async Task List_CameraLabelAndPaging_FiltersAndPagesWithTheCursor()
    {
        var (_, back) = await Host.Http.SendAsync(HttpMethod.Get, "api/v1/events?camera=back&label=car&limit=1");
        var first = Assert.Single(back.GetProperty("items").EnumerateArray());
        var cursor = back.GetProperty("next_cursor").GetString();
        var (_, next) = await Host.Http.SendAsync(HttpMethod.Get, $"api/v1/events?camera=back&label=car&limit=1&cursor={Uri.EscapeDataString(cursor!)}");
        var second = Assert.Single(next.GetProperty("items").EnumerateArray());
        var (_, persons) = await Host.Http.SendAsync(HttpMethod.Get, "api/v1/events?label=person");
        var (_, none) = await Host.Http.SendAsync(HttpMethod.Get, $"api/v1/events?from={Uri.EscapeDataString(T0.AddHours(1).ToString("O"))}");

        Assert.Equal(("trk_escape", "trk_car"), (first.GetProperty("id").GetString(), second.GetProperty("id").GetString()));
        Assert.False(next.TryGetProperty("next_cursor", out _), "the last page has no next cursor");
        Assert.Equal(["trk_person"], persons.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()));
        Assert.Empty(none.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task Get_KnownObject_EventsInOrderWithBoxesFramesAndTraces()
    {
        var (status, body) = await Host.Http.SendAsync(HttpMethod.Get, "api/v1/events/trk_person");

        Assert.Equal(200, status);
        var events = body.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(["entered", "updated", "left"], events.Select(e => e.GetProperty("type").GetString()));
        Assert.Equal(["f1", "f2", "f3"], events[0].GetProperty("frames").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(30, events[0].GetProperty("box").GetProperty("width").GetDouble());
        Assert.Equal(["f3", "f1", "f2", "f5", "f4", "f6"], body.GetProperty("frame_ids").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal([$"{0:x32}", $"{3:x32}", $"{8:x32}"], body.GetProperty("trace_ids").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(3, body.GetProperty("event_count").GetInt32());
        // The list's fields at the top level, as in the list, not nested.
        Assert.Equal(("trk_person", "left"), (body.GetProperty("id").GetString(), body.GetProperty("state").GetString()));
        Assert.False(body.TryGetProperty("summary", out _));
    }

    [Fact]
    public async Task Snapshot_KnownObject_IsTheJpegWithTheBoxDrawn()
    {
        using var response = await Host.Http.GetAsync("api/v1/events/trk_person/snapshot.jpg", TestContext.Current.CancellationToken);
        var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("image/jpeg", response.Content.Headers.ContentType?.MediaType);
        var image = ImageCodec.Decode(bytes);
        Assert.Equal((64, 48), (image.Width, image.Height));
        // The box outline (green) is drawn at x = 10; the background is gray.
        var edge = ((20 * 64) + 10) * 3;
        Assert.True(image.Pixels[edge + 1] > image.Pixels[edge] + 60, $"rgb at the box edge: {image.Pixels[edge]},{image.Pixels[edge + 1]},{image.Pixels[edge + 2]}");
    }

    [Theory]
    [InlineData("api/v1/events/trk_unknown", 404)]
    [InlineData("api/v1/events/trk_unknown/snapshot.jpg", 404)]
    [InlineData("api/v1/events/trk_escape/snapshot.jpg", 404)]
    [InlineData("api/v1/events/bad%20id", 400)]
    [InlineData("api/v1/events/a.b/snapshot.jpg", 400)]
    public async Task Get_UnknownBadOrEscapingIds_ProblemDetails(string path, int expected)
    {
        var (status, body) = await Host.Http.SendAsync(HttpMethod.Get, path);

        Assert.Equal(expected, status);
        Assert.Equal(expected, body.GetProperty("status").GetInt32());
        Assert.DoesNotContain("hostname", body.GetRawText(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=abc", "limit")]
    [InlineData("camera=..%2F..", "camera")]
    [InlineData("from=yesterday", "from")]
    [InlineData("from=2026-11-23T10:00:00Z&to=2026-11-23T09:00:00Z", "to")]
    [InlineData("cursor=garbage", "cursor")]
    [InlineData("label=a&label=b", "label")]
    public async Task List_BadQuery_400NamingTheField(string query, string field)
    {
        var (status, body) = await Host.Http.SendAsync(HttpMethod.Get, "api/v1/events?" + query);

        Assert.Equal(400, status);
        Assert.Equal([field], body.ErrorFields());
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}
