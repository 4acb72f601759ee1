using Detektor.Api;
using Detektor.Capture;
using Detektor.Hosting;
using Detektor.Storage;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;

[assembly: AssemblyFixture(typeof(Detektor.Tests.PostgresFixture))]

namespace Detektor.Tests;

/// <summary>One throwaway PostgreSQL server for this assembly, started on first use; each test takes its own database.</summary>
public sealed class PostgresFixture : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private PostgresServer? _server;

    public async Task<PostgresServer> GetServerAsync()
    {
        await _gate.WaitAsync();
        try
        {
            return _server ??= await PostgresServer.StartAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _gate.Dispose();
    }
}

/// <summary>The API role alone (no capture, no writer) on a free loopback port, over a given event store configuration.</summary>
public sealed class ApiHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ApiHost(WebApplication app, HttpClient client)
    {
        _app = app;
        Client = client;
    }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<ApiHost> StartAsync(IDictionary<string, string?> settings)
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ApplicationName = "detektor-test" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.AddServiceDefaults("detektor-api-test");
        builder.AddEventStore();
        builder.AddCameraConfiguration();
        builder.AddDetektorApi();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapDetektorApi();
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new ApiHost(app, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") });
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
