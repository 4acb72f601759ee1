using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Detektor.Composition;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;

namespace Detektor.Tests.Distributed;

/// <summary>A real app for external-processor tests: capture on the ffmpeg test pattern, store and API, no in-process processor, on a real Redis.</summary>
internal sealed class LeaseApp : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("detektor-lease");
    private WebApplication? _app;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>Starts an app on <paramref name="redis"/>'s server with <paramref name="extra"/> settings (ffmpeg required).</summary>
    public static async Task<LeaseApp> CreateAsync(RedisFixture redis, Dictionary<string, string?>? extra = null)
    {
        RequiredTool.Find("ffmpeg");
        var app = new LeaseApp();
        try
        {
            await app.StartAsync(await redis.ServerAsync(), extra ?? []);
            return app;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    public async Task StartAsync(RedisServer server, Dictionary<string, string?> extra)
    {
        var port = FreePort.Next();
        var settings = new Dictionary<string, string?>
        {
            ["Detektor:Bus:Redis:KeyPrefix"] = RedisFixture.UniquePrefix(),
            ["Detektor:Bus:ClaimIdleMs"] = "2000",
            ["Detektor:CommandLineCameras:0:Fps"] = "4",
            ["Detektor:CommandLineCameras:0:Width"] = "160",
            ["Detektor:CommandLineCameras:0:Height"] = "120",
            ["Detektor:Hosting:JsonLogs"] = "false",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        var run = new RunSettings
        {
            Urls = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"),
            DataDir = _dir.Path,
            Roles = Roles.Capture | Roles.Store | Roles.Api,
            Redis = server.Endpoint,
            Cameras = [("cam1", "testsrc2://")],
            Settings = settings,
        };
        _app = DetektorApp.Build(run);
        await _app.StartAsync();
        Http = new HttpClient { BaseAddress = new Uri(run.Urls + "/"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        _dir.Dispose();
    }

    public static async Task<JsonDocument> JsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(text);
    }

    public static async Task<JsonElement> DequeueAsync(LeaseApp app, string processor, int count = 1, double wait = 20, string? pixels = null)
    {
        using var response = await app.Http.GetAsync(
            string.Create(CultureInfo.InvariantCulture, $"api/v1/frames/dequeue?processor={processor}&count={count}&wait={wait}{(pixels is null ? "" : "&pixels=" + pixels)}"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = await JsonAsync(response);
        return doc.RootElement.Clone();
    }

    public static StringContent Body(string json) => new(json, Encoding.UTF8, "application/json");
}
