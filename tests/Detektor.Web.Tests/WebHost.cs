using System.Globalization;
using Detektor.Composition;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Detektor.Web.Tests;

/// <summary>
/// A whole Detektor (every role, SQLite in a temp dir) in this process on a free port, bound to <paramref name="bindHost"/>
/// (127.0.0.1, or 0.0.0.0 to act as a non-loopback bind), reached over 127.0.0.1. Every log line is kept.
/// </summary>
public sealed class WebHost(IReadOnlyDictionary<string, string?> settings, string bindHost = "127.0.0.1") : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("detektor-web");
    private readonly CapturingLoggerProvider _logs = new();
    private WebApplication? _app;

    public int Port { get; } = FreePort.Next();

    public string BaseUrl => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}");

    public WebApplication App => _app ?? throw new InvalidOperationException("Not started.");

    public IReadOnlyList<string> Logs => _logs.Lines;

    /// <summary>Settings of a host with no camera and detection off, for HTTP tests.</summary>
    public static Dictionary<string, string?> NoCamera() => new()
    {
        ["Detektor:Capture:DemoCamera"] = "false",
        ["Detektor:Hosting:JsonLogs"] = "false",
        ["Detektor:Detection:Enabled"] = "false",
        ["Detektor:Storage:FlushIntervalMs"] = "0",
    };

    /// <summary>Settings of a host with the demo camera on real footage (vtest.mp4) and detection off.</summary>
    public static Dictionary<string, string?> DemoCamera() => new()
    {
        ["Detektor:Hosting:JsonLogs"] = "false",
        ["Detektor:Detection:Enabled"] = "false",
        ["Detektor:Storage:FlushIntervalMs"] = "0",
    };

    public HttpClient CreateClient(bool allowRedirect = false) =>
        new(new HttpClientHandler { AllowAutoRedirect = allowRedirect, UseCookies = true })
        {
            BaseAddress = new Uri(BaseUrl + "/"),
            Timeout = TimeSpan.FromSeconds(30),
        };

    public async Task StartAsync()
    {
        var run = new RunSettings
        {
            Urls = string.Create(CultureInfo.InvariantCulture, $"http://{bindHost}:{Port}"),
            DataDir = _dir.Path,
            Settings = new Dictionary<string, string?>(settings),
        };
        _app = DetektorApp.Build(run, b => b.Logging.AddProvider(_logs));
        await _app.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        _logs.Dispose();
        _dir.Dispose();
    }
}
