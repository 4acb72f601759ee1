using System.Globalization;
using Detektor.Hosting.Health;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Detektor.Hosting.Tests;

/// <summary>A web host with the service defaults and the health metrics on a free loopback port, and a client for it.</summary>
internal sealed class DefaultsHost : IAsyncDisposable
{
    /// <summary>
    /// Test classes that start one run one after another: every host's meters are seen by every other host's OpenTelemetry
    /// listener, so two hosts' health gauges (same meter and instrument names) would mix in one another's /metrics.
    /// </summary>
    public const string Collection = "defaults-host";

    private DefaultsHost(WebApplication app, HttpClient http)
    {
        App = app;
        Http = http;
    }

    public WebApplication App { get; }

    public HttpClient Http { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>Starts one; <paramref name="settings"/> are configuration keys and values on top of text logs.</summary>
    public static async Task<DefaultsHost> StartAsync(params (string Key, string Value)[] settings)
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["Detektor:Hosting:JsonLogs"] = "false";
        foreach (var (key, value) in settings)
        {
            builder.Configuration[key] = value;
        }

        builder.WebHost.UseUrls(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"));
        builder.AddServiceDefaults("detektor-test");
        builder.Services.AddHealthMetrics();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        await app.StartAsync();
        return new DefaultsHost(app, new HttpClient { BaseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/")) });
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.DisposeAsync();
    }
}
