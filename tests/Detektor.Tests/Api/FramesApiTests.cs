using System.Globalization;
using Detektor.Core.Frames;

namespace Detektor.Tests.Api;

public class FramesApiTests
{
    private static readonly FrameIdGenerator Ids = new(TimeProvider.System, 0xabc);

    private static Dictionary<string, object?> Event(FrameId id, string type = "captured", object? extra = null)
    {
        var body = new Dictionary<string, object?>
        {
            ["frame_id"] = id.ToString(),
            ["camera_id"] = id.CameraId,
            ["timestamp"] = id.Timestamp.ToString("O", CultureInfo.InvariantCulture),
            ["event_type"] = type,
        };
        if (extra is not null)
        {
            foreach (var p in extra.GetType().GetProperties())
            {
                body[p.Name] = p.GetValue(extra);
            }
        }

        return body;
    }

    [Fact]
    public async Task Post_ValidEvent_Returns201AndJourneyShowsIt()
    {
        await using var host = await ApiHost.StartAsync();
        var id = Ids.Next("door", 1);

        var (status, created) = await host.Http.PostJsonAsync("api/v1/frames", Event(id, "captured", new { stage = "edge", service = "my-cam", trace_id = "0af7651916cd43dd8448eb211c80319c", data = new { source = "sdk" } }));
        var (_, dropped) = await host.Http.PostJsonAsync("api/v1/frames", Event(id, "dropped", new { reason = "queue_full", duration_ms = 1.5 }));
        var (journeyStatus, journey) = await host.Http.SendAsync(HttpMethod.Get, $"api/v1/frames/{id}");

        Assert.Equal(201, status);
        Assert.Equal("captured", created.GetProperty("type").GetString());
        Assert.Equal("sdk", created.GetProperty("data").GetProperty("source").GetString());
        Assert.Equal(36, created.GetProperty("event_id").GetString()!.Length);
        Assert.Equal("dropped", dropped.GetProperty("type").GetString());
        Assert.Equal(200, journeyStatus);
        Assert.Equal("dropped", journey.GetProperty("state").GetString());
        Assert.Equal("dropped", journey.GetProperty("outcome").GetString());
        Assert.Equal("queue_full", journey.GetProperty("reason").GetString());
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", journey.GetProperty("trace_id").GetString());
        Assert.Equal(["captured", "dropped"], journey.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task Post_SameEventIdTwice_StoredOnce()
    {
        await using var host = await ApiHost.StartAsync();
        var id = Ids.Next("door", 2);
        var body = Event(id, "captured", new { event_id = "018f0000-0000-7000-8000-000000000001" });

        var first = await host.Http.PostJsonAsync("api/v1/frames", body);
        var second = await host.Http.PostJsonAsync("api/v1/frames", body);
        var (_, journey) = await host.Http.SendAsync(HttpMethod.Get, $"api/v1/frames/{id}");

        Assert.Equal(201, first.Status);
        Assert.Equal(201, second.Status);
        Assert.Equal(1, journey.GetProperty("events").GetArrayLength());
    }

    public static TheoryData<string, string> BadBodies()
    {
        var id = Ids.Next("door", 3);
        var ok = $"\"frame_id\":\"{id}\",\"camera_id\":\"door\",\"timestamp\":\"2026-11-23T10:00:00Z\"";
        return new TheoryData<string, string>
        {
            { "{\"frame_id\": ", "body" },
            { "[1,2,3]", "body" },
            { "{\"camera_id\":\"door\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"event_type\":\"captured\"}", "frame_id" },
            { "{\"frame_id\":\"nope\",\"camera_id\":\"door\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"event_type\":\"captured\"}", "frame_id" },
            { "{\"frame_id\":42,\"camera_id\":\"door\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"event_type\":\"captured\"}", "frame_id" },
            { $"{{\"frame_id\":\"{id}\",\"camera_id\":\"window\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"event_type\":\"captured\"}}", "camera_id" },
            { $"{{\"frame_id\":\"{id}\",\"camera_id\":\"door\",\"timestamp\":\"yesterday\",\"event_type\":\"captured\"}}", "timestamp" },
            { $"{{{ok},\"event_type\":\"exploded\"}}", "event_type" },
            { $"{{{ok}}}", "event_type" },
            { $"{{{ok},\"event_type\":\"skipped\"}}", "reason" },
            { $"{{{ok},\"event_type\":\"captured\",\"data\":[1]}}", "data" },
            { $"{{{ok},\"event_type\":\"captured\",\"duration_ms\":-1}}", "duration_ms" },
            { $"{{{ok},\"event_type\":\"captured\",\"duration_ms\":\"fast\"}}", "duration_ms" },
            { $"{{{ok},\"event_type\":\"captured\",\"trace_id\":\"XYZ\"}}", "trace_id" },
            { $"{{{ok},\"event_type\":\"captured\",\"span_id\":\"0000000000000000\"}}", "span_id" },
            { $"{{{ok},\"event_type\":\"captured\",\"event_id\":\"not-a-uuid\"}}", "event_id" },
            { $"{{{ok},\"event_type\":\"captured\",\"stage\":\"{new string('x', 500)}\"}}", "stage" },
        };
    }

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Post_BadBody_Is400NamingTheField(string json, string field)
    {
        await using var host = await ApiHost.StartAsync();

        var (status, problem) = await host.Http.SendAsync(HttpMethod.Post, "api/v1/frames", json);

        Assert.Equal(400, status);
        Assert.Contains(field, problem.ErrorFields());
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task Post_NotJson_Is415AndHugeBodyIs413()
    {
        await using var host = await ApiHost.StartAsync();

        var (textStatus, _) = await host.Http.SendAsync(HttpMethod.Post, "api/v1/frames", "frame_id=1", "text/plain");
        var (hugeStatus, _) = await host.Http.SendAsync(HttpMethod.Post, "api/v1/frames", "{\"data\":\"" + new string('x', 200_000) + "\"}");

        Assert.Equal(415, textStatus);
        Assert.Equal(413, hugeStatus);
    }

    [Fact]
    public async Task Get_BadIdIs400_UnknownIdIs404()
    {
        await using var host = await ApiHost.StartAsync();

        var (badStatus, bad) = await host.Http.SendAsync(HttpMethod.Get, "api/v1/frames/'%3B%20DROP%20TABLE%20frames%3B--");
        var (unknownStatus, unknown) = await host.Http.SendAsync(HttpMethod.Get, $"api/v1/frames/{Ids.Next("door", 4)}");

        Assert.Equal(400, badStatus);
        Assert.Contains("id", bad.ErrorFields());
        Assert.Equal(404, unknownStatus);
        Assert.Equal(404, unknown.GetProperty("status").GetInt32());
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=abc", "limit")]
    [InlineData("limit=99999999999999999999", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("from=garbage", "from")]
    [InlineData("from=1969-01-01T00:00:00Z", "from")]
    [InlineData("from=2026-11-23T10:00:00Z&to=2026-11-23T09:00:00Z", "to")]
    [InlineData("camera_id='%3B%20DROP%20TABLE%20frames", "camera_id")]
    [InlineData("trace_id=123", "trace_id")]
    [InlineData("cursor=xyz", "cursor")]
    [InlineData("limit=5&limit=6", "limit")]
    public async Task List_BadQuery_Is400NamingTheField(string query, string field)
    {
        await using var host = await ApiHost.StartAsync();

        var (status, problem) = await host.Http.SendAsync(HttpMethod.Get, "api/v1/frames?" + query);

        Assert.Equal(400, status);
        Assert.Contains(field, problem.ErrorFields());
    }

    [Fact]
    public async Task List_Paging_NewestFirstNoOverlapNoGaps()
    {
        await using var host = await ApiHost.StartAsync();
        var posted = new List<string>();
        for (var i = 0; i < 25; i++)
        {
            var id = Ids.Next(i % 2 == 0 ? "even" : "odd", i);
            posted.Add(id.ToString());
            Assert.Equal(201, (await host.Http.PostJsonAsync("api/v1/frames", Event(id))).Status);
        }

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var (_, page) = await host.Http.SendAsync(HttpMethod.Get, "api/v1/frames?limit=10" + (cursor is null ? string.Empty : "&cursor=" + cursor));
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("frame_id").GetString()!));
            cursor = page.TryGetProperty("next_cursor", out var next) ? next.GetString() : null;
            pages++;
        }
        while (cursor is not null);
        var (_, evenOnly) = await host.Http.SendAsync(HttpMethod.Get, "api/v1/frames?camera_id=even&limit=100");

        Assert.Equal(3, pages);
        Assert.Equal(posted.AsEnumerable().Reverse(), seen);
        Assert.Equal(13, evenOnly.GetProperty("items").GetArrayLength());
        Assert.All(evenOnly.GetProperty("items").EnumerateArray(), i => Assert.Equal("even", i.GetProperty("camera_id").GetString()));
    }

    [Fact]
    public async Task List_TimeRange_ReturnsOnlyFramesInside()
    {
        await using var host = await ApiHost.StartAsync();
        var t0 = new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
        var ids = Enumerable.Range(0, 5).Select(i => new FrameId((t0.AddMinutes(i).UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10, "cam", i, 1)).ToList();
        foreach (var id in ids)
        {
            await host.Http.PostJsonAsync("api/v1/frames", Event(id));
        }

        var (_, page) = await host.Http.SendAsync(HttpMethod.Get, "api/v1/frames?from=2026-01-01T12:01:00Z&to=2026-01-01T12:03:00Z");

        Assert.Equal([ids[2].ToString(), ids[1].ToString()], page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("frame_id").GetString()));
    }

    [Fact]
    public async Task Echo_ReturnsMessageCorrelationIdAndTime_AndRejectsBadInput()
    {
        await using var host = await ApiHost.StartAsync();

        var (status, echo) = await host.Http.PostJsonAsync("echo", new { message = "hello" });
        var (missingStatus, missing) = await host.Http.PostJsonAsync("echo", new { text = "hello" });
        var (typeStatus, wrongType) = await host.Http.PostJsonAsync("echo", new { message = 5 });
        var (longStatus, _) = await host.Http.PostJsonAsync("echo", new { message = new string('m', 5000) });
        var (_, health) = await host.Http.SendAsync(HttpMethod.Get, "health");

        Assert.Equal(200, status);
        Assert.Equal("hello", echo.GetProperty("message").GetString());
        Assert.Matches("^[0-9a-f]{32}$", echo.GetProperty("correlation_id").GetString()!);
        Assert.True(DateTimeOffset.TryParse(echo.GetProperty("timestamp").GetString(), CultureInfo.InvariantCulture, out _));
        Assert.Equal((400, "message"), (missingStatus, missing.ErrorFields().Single()));
        Assert.Equal((400, "message"), (typeStatus, wrongType.ErrorFields().Single()));
        Assert.Equal(400, longStatus);
        Assert.Equal(
            ["correlation", "health", "metrics", "problem_details", "tracing"],
            health.GetProperty("metadata").GetProperty("features").EnumerateArray().Select(f => f.GetString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task OpenApi_DescribesTheFramesApi()
    {
        await using var host = await ApiHost.StartAsync();

        var (status, doc) = await host.Http.SendAsync(HttpMethod.Get, "openapi/v1.json");

        Assert.Equal(200, status);
        var paths = doc.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/api/v1/frames", out _));
        Assert.True(paths.TryGetProperty("/api/v1/frames/{id}", out _));
        Assert.True(paths.TryGetProperty("/echo", out _));
    }
}
