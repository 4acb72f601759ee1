using System.Globalization;
using System.Text.Json;

namespace Detektor.Web.Tests.Browser;

/// <summary>The UI in real Chromium against a Detektor running the demo camera on real footage.</summary>
public sealed class PagesInChromiumTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task LivePage_DemoCamera_ShowsRealFrameStateAndFps()
    {
        await using var sut = await PageSession.OpenAsync(fixture);
        await sut.Page.GotoAsync("/");

        var image = sut.Page.Locator("img.live").First;
        Assert.Equal("Latest frame of camera demo", await image.GetAttributeAsync("alt"));
        await sut.Page.WaitForFunctionAsync("() => { const i = document.querySelector('img.live'); return i && i.complete && i.naturalWidth > 0; }");
        var width = await image.EvaluateAsync<int>("i => i.naturalWidth");
        Assert.Equal(640, width);

        // The refresher swaps in a newer frame: the image's URL gains a cache-busting query.
        await sut.Page.WaitForFunctionAsync("() => document.querySelector('img.live').src.includes('?t=')");
        await sut.Page.WaitForFunctionAsync("() => document.querySelector('img.live').naturalWidth > 0");

        Assert.Equal("streaming", (await sut.Page.Locator("[data-testid=state]").First.InnerTextAsync()).Trim());
        var fps = double.Parse((await sut.Page.Locator("[data-testid=fps]").First.InnerTextAsync()).Split(' ')[0], CultureInfo.InvariantCulture);
        Assert.True(fps > 0, $"measured fps {fps}");

        // Times are shown in the browser's time zone (America/New_York here), not as the server's UTC text.
        var time = sut.Page.Locator("time[datetime]").First;
        await sut.Page.WaitForFunctionAsync("() => !document.querySelector('time[datetime]').textContent.includes('UTC')");
        Assert.DoesNotContain("UTC", await time.InnerTextAsync(), StringComparison.Ordinal);

        await sut.ScreenshotAsync("live");
        sut.AssertNoErrors();
    }

    [Fact]
    public async Task FrameJourneyPage_SearchById_ShowsWaterfallAndEvents()
    {
        using var http = fixture.Host.CreateClient();
        var frame = await StoredFrameAsync(http);
        var id = frame.GetProperty("frame_id").GetString()!;
        using var journey = JsonDocument.Parse(await http.GetStringAsync($"/api/v1/frames/{id}", TestContext.Current.CancellationToken));
        var stages = journey.RootElement.GetProperty("stages").GetArrayLength();
        var events = journey.RootElement.GetProperty("events").GetArrayLength();

        await using var sut = await PageSession.OpenAsync(fixture);
        await sut.Page.GotoAsync("/frames");
        await sut.Page.Locator("#q").FillAsync(id);
        await sut.Page.Locator("#q").PressAsync("Enter");
        await sut.NavigatedToAsync("**/frames?q=*");

        Assert.Equal(id, await sut.Page.Locator("[data-testid=frame-id]").InnerTextAsync());
        Assert.Equal("stored", await sut.Page.Locator("[data-testid=frame-state]").InnerTextAsync());
        Assert.True(stages >= 3, $"{stages} stages");
        Assert.Equal(stages, await sut.Page.Locator("[data-testid=waterfall] tbody tr").CountAsync());
        Assert.Equal(events, await sut.Page.Locator("ol.events > li").CountAsync());
        Assert.Equal(stages, await sut.Page.Locator("[data-testid=waterfall] svg rect.bar").CountAsync());

        await sut.ScreenshotAsync("frame-journey");
        sut.AssertNoErrors();
    }

    [Fact]
    public async Task FrameJourneyPage_SearchByTraceId_FindsTheFrame()
    {
        using var http = fixture.Host.CreateClient();
        var frame = await StoredFrameAsync(http);

        await using var sut = await PageSession.OpenAsync(fixture);
        await sut.Page.GotoAsync("/frames?q=" + frame.GetProperty("trace_id").GetString());

        Assert.Equal(frame.GetProperty("frame_id").GetString(), await sut.Page.Locator("[data-testid=frame-id]").First.InnerTextAsync());
        sut.AssertNoErrors();
    }

    [Fact]
    public async Task FrameJourneyPage_UnknownId_SaysSo()
    {
        await using var sut = await PageSession.OpenAsync(fixture);
        await sut.Page.GotoAsync("/frames?q=not-a-frame");
        Assert.Contains("Enter a frame id", await sut.Page.Locator("[role=alert]").InnerTextAsync(), StringComparison.Ordinal);
        sut.AssertNoErrors();
    }

    [Fact]
    public async Task SystemPage_Running_ShowsHealthBusAndCamerasAndRefreshes()
    {
        await using var sut = await PageSession.OpenAsync(fixture);
        await sut.Page.GotoAsync("/system");

        Assert.Contains(await sut.Page.Locator("[data-testid=overall-health]").InnerTextAsync(), new[] { "healthy", "degraded" });
        Assert.True(await sut.Page.Locator("[data-testid=health-check]").CountAsync() >= 2);
        Assert.True(await sut.Page.Locator("[data-testid=topic]").CountAsync() >= 1);
        Assert.Equal(1, await sut.Page.Locator("#cameras-part tbody tr").CountAsync());
        // This one process is the whole installation: it is the one cluster instance, with every role.
        Assert.Equal(1, await sut.Page.Locator("[data-testid=instance]").CountAsync());
        Assert.Contains("capture", await sut.Page.Locator("[data-testid=instance]").InnerTextAsync(), StringComparison.Ordinal);

        // Polling replaces the parts in place: the snapshot time changes without a navigation.
        var taken = await sut.Page.Locator("#taken time").GetAttributeAsync("datetime");
        await sut.Page.WaitForFunctionAsync("t => document.querySelector('#taken time').getAttribute('datetime') !== t", taken);

        await sut.ScreenshotAsync("system");
        sut.AssertNoErrors();
    }

    [Fact]
    public async Task LivePage_PhoneWidth_NoHorizontalScrollAndKeyboardReachesNavigation()
    {
        await using var sut = await PageSession.OpenAsync(fixture, width: 375, height: 812);
        await sut.Page.GotoAsync("/");
        await sut.Page.WaitForFunctionAsync("() => document.querySelector('img.live').naturalWidth > 0");

        var overflow = await sut.Page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");
        Assert.True(overflow <= 0, $"the page is {overflow}px wider than a 375px phone");

        await sut.Page.Keyboard.PressAsync("Tab");
        Assert.Equal("Skip to content", await sut.Page.EvaluateAsync<string>("() => document.activeElement.textContent"));
        var reached = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            await sut.Page.Keyboard.PressAsync("Tab");
            reached.Add(await sut.Page.EvaluateAsync<string>("() => document.activeElement.textContent.trim()"));
        }

        Assert.Contains("System", reached);
        Assert.Contains("Frame journey", reached);
        Assert.Empty(await sut.Page.Locator("img:not([alt])").AllAsync());

        await sut.ScreenshotAsync("live-phone");
        sut.AssertNoErrors();
    }

    /// <summary>A recent frame that reached the store (every stored frame has a trace id).</summary>
    private static async Task<JsonElement> StoredFrameAsync(HttpClient http)
    {
        using var frames = JsonDocument.Parse(await http.GetStringAsync("/api/v1/frames?limit=50", TestContext.Current.CancellationToken));
        return frames.RootElement.GetProperty("items").EnumerateArray()
            .First(f => f.GetProperty("state").GetString() == "stored" && f.GetProperty("trace_id").ValueKind == JsonValueKind.String).Clone();
    }
}
