using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Web.Tests.Browser;

/// <summary>A Detektor with detection and tracking on the demo footage (people in vtest), started once, and Chromium.</summary>
public sealed class DetectionBrowserFixture : BrowserFixture
{
    protected override bool Detection => true;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        using var http = Host.CreateClient();
        await Eventually.WaitAsync(
            async () =>
            {
                using var doc = JsonDocument.Parse(await http.GetStringAsync("/api/v1/events?label=person"));
                return doc.RootElement.GetProperty("items").EnumerateArray().Count(i => i.TryGetProperty("snapshot_url", out _));
            },
            n => n >= 2,
            TimeSpan.FromMinutes(4),
            "person events with snapshots");
    }
}

public sealed class EventsInChromiumTests(DetectionBrowserFixture fixture) : IClassFixture<DetectionBrowserFixture>
{
    [Fact]
    public async Task EventsPage_DemoFootage_ListsPersonEventsWithImagesAndOpensOneWithItsFrames()
    {
        await using var sut = await PageSession.OpenAsync(fixture);
        await sut.Page.GotoAsync("/events");

        // Filter by label through the form, as a user would.
        await sut.Page.Locator("input[name=label]").FillAsync("person");
        await sut.Page.Locator("form.filters button[type=submit]").ClickAsync();
        await sut.NavigatedToAsync("**/events?*label=person*");

        var cards = sut.Page.Locator("[data-testid=event]");
        Assert.True(await cards.CountAsync() >= 2);
        Assert.All(await sut.Page.Locator("[data-testid=event] .meta strong").AllInnerTextsAsync(), label => Assert.Equal("person", label));
        // Thumbnails load lazily: bring each into view, then every one must have decoded a real image.
        foreach (var thumbnail in await sut.Page.Locator(".thumbs img").AllAsync())
        {
            await thumbnail.ScrollIntoViewIfNeededAsync();
        }

        await sut.Page.WaitForFunctionAsync("() => [...document.querySelectorAll('.thumbs img')].every(i => i.complete && i.naturalWidth > 0)");
        await sut.Page.EvaluateAsync("() => window.scrollTo(0, 0)");
        Assert.StartsWith("person on camera demo", await sut.Page.Locator(".thumbs img").First.GetAttributeAsync("alt"), StringComparison.Ordinal);
        await sut.ScreenshotAsync("events");

        await sut.Page.Locator("[data-testid=event] a").First.ClickAsync();
        await sut.NavigatedToAsync("**/events/trk_*");
        await sut.Page.WaitForFunctionAsync("() => { const i = document.querySelector('[data-testid=snapshot]'); return i && i.complete && i.naturalWidth > 0; }");
        Assert.Contains("entered", await sut.Page.Locator("[data-testid=timeline] li").First.InnerTextAsync(), StringComparison.Ordinal);
        await sut.ScreenshotAsync("event");

        var frame = sut.Page.Locator("[data-testid=event-frame]").First;
        var frameText = (await frame.InnerTextAsync()).Replace("frame ", string.Empty, StringComparison.Ordinal);
        await frame.ClickAsync();
        await sut.NavigatedToAsync("**/frames?q=*");
        Assert.Equal(frameText, await sut.Page.Locator("[data-testid=frame-id]").InnerTextAsync());
        Assert.Contains("tracker", await sut.Page.Locator("[data-testid=waterfall]").InnerTextAsync(), StringComparison.Ordinal);

        sut.AssertNoErrors();
    }

    [Fact]
    public async Task LivePage_DetectionOn_DrawsDetectionBoxesOverTheFrame()
    {
        await using var sut = await PageSession.OpenAsync(fixture);
        await sut.Page.GotoAsync("/");
        await sut.Page.WaitForFunctionAsync("() => document.querySelector('img.live').naturalWidth > 0");

        // The boxes come with the polled page parts; people walk through vtest all the time.
        await sut.Page.WaitForFunctionAsync("() => document.querySelectorAll('svg.boxes rect').length > 0", null, new() { Timeout = 60_000 });
        // Any box may come first: the model also sees a "sports ball" in vtest now and then (with rgb24 or yuv420p frames).
        var labels = await sut.Page.Locator("svg.boxes text").AllTextContentsAsync();
        Assert.Contains(labels, l => l.StartsWith("person ", StringComparison.Ordinal) && l.EndsWith('%'));
        Assert.Contains("person", await sut.Page.Locator("[data-testid=detected]").First.InnerTextAsync(), StringComparison.Ordinal);

        await sut.ScreenshotAsync("live-detections");
        sut.AssertNoErrors();
    }
}
