using System.Text.Json;
using Detektor.Testing;
using Microsoft.Playwright;

namespace Detektor.Web.Tests.Browser;

/// <summary>
/// Debian's Chromium (<c>/usr/bin/chromium</c>, driven by Playwright: the bundled browser download cannot work here)
/// and a Detektor with the demo camera on real footage, started once for the browser tests.
/// </summary>
public class BrowserFixture : IAsyncLifetime
{
    public WebHost Host { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    private IPlaywright? _playwright;

    /// <summary>Where screenshots go: TestResults/screenshots beside the test assembly.</summary>
    public static string ScreenshotDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");

    /// <summary>Whether the host runs detection and tracking (off: the pages need only frames).</summary>
    protected virtual bool Detection => false;

    /// <summary>The address the host binds (0.0.0.0 turns access control on).</summary>
    protected virtual string BindHost => "127.0.0.1";

    /// <summary>Adds settings of a derived fixture.</summary>
    protected virtual void Configure(Dictionary<string, string?> settings)
    {
    }

    /// <summary>The client the fixture waits with (a derived fixture adds credentials).</summary>
    protected virtual HttpClient ProbeClient() => Host.CreateClient();

    public virtual async ValueTask InitializeAsync()
    {
        RequiredTool.Find("ffmpeg");
        var chromium = RequiredTool.Find("chromium");
        Footage.Get("vtest.mp4");
        Directory.CreateDirectory(ScreenshotDirectory);

        var settings = WebHost.DemoCamera();
        if (Detection)
        {
            // Objects only (people in vtest), models from the shared test cache (pulled by the process when missing).
            settings["Detektor:Detection:Enabled"] = "true";
            settings["Detektor:Detection:FacesEnabled"] = "false";
            settings["Detektor:Detection:ModelsDirectory"] = Repository.Cache("DETEKTOR_MODELS", "models");
        }

        Configure(settings);
        Host = new WebHost(settings, BindHost);
        await Host.StartAsync();

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });

        // The pages are only worth looking at once the camera has a frame and the store has stored frames.
        using var http = ProbeClient();
        await Eventually.WaitAsync(
            async () =>
            {
                using var frames = JsonDocument.Parse(await http.GetStringAsync("/api/v1/frames?limit=20"));
                using var snapshot = await http.GetAsync("/api/v1/cameras/demo/snapshot.jpg");
                return snapshot.IsSuccessStatusCode && frames.RootElement.GetProperty("items").EnumerateArray().Any(f => f.GetProperty("state").GetString() == "stored");
            },
            ready => ready,
            TimeSpan.FromSeconds(90),
            "a demo camera frame and a stored frame");
    }

    public async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (Host is not null)
        {
            await Host.DisposeAsync();
        }
    }
}
