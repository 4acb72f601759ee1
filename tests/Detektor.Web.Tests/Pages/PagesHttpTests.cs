using System.Net;
using System.Text;
using Microsoft.Extensions.Options;

namespace Detektor.Web.Tests.Pages;

/// <summary>The server-rendered pages over plain HTTP (no browser): content, status codes, no secrets.</summary>
public sealed class PagesHttpTests
{
    private const string FrameId = "20261123T144012.123456Z-front-42-3f9a1c2d";
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FramesPage_DroppedFrameWithTrace_ShowsReasonAndJaegerLink()
    {
        var settings = WebHost.NoCamera();
        settings["Detektor:Web:JaegerUrl"] = "http://jaeger.example:16686/";
        await using var host = new WebHost(settings);
        await host.StartAsync();
        using var http = host.CreateClient();
        foreach (var (type, reason, at) in new[] { ("captured", (string?)null, "2026-11-23T14:40:12.123456Z"), ("dropped", "queue_full", "2026-11-23T14:40:12.223456Z") })
        {
            var body = $$"""{"frame_id":"{{FrameId}}","camera_id":"front","timestamp":"{{at}}","event_type":"{{type}}","stage":"bus","trace_id":"{{TraceId}}"{{(reason is null ? "" : $",\"reason\":\"{reason}\"")}}}""";
            using var posted = await http.PostAsync("/api/v1/frames", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        }

        var byId = await http.GetStringAsync($"/frames?q={FrameId}", Ct);
        var byTrace = await http.GetStringAsync($"/frames?q={TraceId}", Ct);

        foreach (var html in new[] { byId, byTrace })
        {
            Assert.Contains($"data-testid=\"frame-id\">{FrameId}</code>", html, StringComparison.Ordinal);
            Assert.Contains("data-testid=\"frame-state\">dropped</span>", html, StringComparison.Ordinal);
            Assert.Contains("<strong class=\"reason\">queue_full</strong>", html, StringComparison.Ordinal);
            Assert.Contains($"href=\"http://jaeger.example:16686/trace/{TraceId}\"", html, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task FramesPage_UnknownFrame_SaysNotInStore()
    {
        await using var host = new WebHost(WebHost.NoCamera());
        await host.StartAsync();
        using var http = host.CreateClient();
        var html = await http.GetStringAsync($"/frames?q={FrameId}", Ct);
        Assert.Contains($"No frame &#x27;{FrameId}&#x27; is in the event store.", html, StringComparison.Ordinal);
        Assert.DoesNotContain("jaeger", html, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task EventPage_UnknownOrBadId_SaysSo()
    {
        await using var host = new WebHost(WebHost.NoCamera());
        await host.StartAsync();
        using var http = host.CreateClient();
        using var unknown = await http.GetAsync("/events/trk_00000000000000000000000000000000", Ct);
        using var bad = await http.GetAsync("/events/a.b", Ct);
        using var list = await http.GetAsync("/events?from=yesterday", Ct);

        // Pages answer 200 with the message: Blazor's static rendering drops the body of a page that sets 404 itself.
        Assert.Equal(HttpStatusCode.OK, unknown.StatusCode);
        Assert.Contains("is in the event store", await unknown.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Contains("An event id has letters", await bad.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Contains("From must be a date and time", await list.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pages_CameraUrlWithPassword_NeverShowThePassword()
    {
        var settings = WebHost.NoCamera();
        settings["Detektor:Cameras:0:Name"] = "front";
        settings["Detektor:Cameras:0:Url"] = "rtsp://admin:Sup3rSecret@127.0.0.1:9/stream1";
        await using var host = new WebHost(settings);
        await host.StartAsync();
        using var http = host.CreateClient();
        foreach (var path in new[] { "/", "/system", "/events", "/frames" })
        {
            var html = await http.GetStringAsync(path, Ct);
            Assert.DoesNotContain("Sup3rSecret", html, StringComparison.Ordinal);
        }

        Assert.Contains("front", await http.GetStringAsync("/", Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_JaegerUrlNotHttp_FailsNamingTheKey()
    {
        var settings = WebHost.NoCamera();
        settings["Detektor:Web:JaegerUrl"] = "jaeger:16686";
        await using var host = new WebHost(settings);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(host.StartAsync);
        Assert.Contains(error.Failures, f => f.StartsWith("Detektor:Web:JaegerUrl:", StringComparison.Ordinal));
    }
}
