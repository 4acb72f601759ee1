using System.Globalization;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Backpressure;
using Detektor.Bus.Registry;
using Detektor.Core;
using Detektor.Core.Health;
using Detektor.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Detektor.Bus.Tests;

/// <summary>A generic host with one bus registered exactly as the app registers it (AddInProcessBus / AddRedisBus).</summary>
public sealed class BusHost : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly TempDirectory? _dataDir;

    private BusHost(IHost host, TempDirectory? dataDir)
    {
        _host = host;
        _dataDir = dataDir;
    }

    public IServiceProvider Services => _host.Services;

    public IFrameBus Bus => _host.Services.GetRequiredService<IFrameBus>();

    public BackpressureGate Gate => _host.Services.GetRequiredService<BackpressureGate>();

    public IProcessorRegistry Registry => _host.Services.GetRequiredService<IProcessorRegistry>();

    public static async Task<BusHost> StartAsync(IReadOnlyDictionary<string, string?> settings, string instance = "test")
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = "Test" });
        // Each host its own data directory (the Redis bus keeps its lifecycle spill there, one process per directory).
        var dataDir = settings.ContainsKey("Detektor:DataDir") ? null : new TempDirectory("detektor-bus-host");
        builder.Configuration.AddInMemoryCollection(settings);
        if (dataDir is not null)
        {
            builder.Configuration.AddInMemoryCollection([new KeyValuePair<string, string?>("Detektor:DataDir", dataDir.Path)]);
        }

        builder.Services.AddSingleton(new ServiceIdentity("detektor-test", instanceId: instance));
        builder.Services.AddMetrics();
        builder.Services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        builder.Services.AddSingleton<HealthRegistry>(); // as the app's hosting registers it (the lifecycle-spill check goes there)
        builder.AddFrameBus();
        var host = builder.Build();
        await host.StartAsync();
        return new BusHost(host, dataDir);
    }

    /// <summary>Settings of a Redis bus on <paramref name="server"/> under a key prefix of its own.</summary>
    public static Dictionary<string, string?> RedisSettings(RedisServer server, string? prefix = null) => new()
    {
        ["Detektor:Bus:Transport"] = "redis",
        ["Detektor:Bus:Redis"] = server.Endpoint,
        ["Detektor:Bus:Redis:KeyPrefix"] = prefix ?? RedisFixture.UniquePrefix(),
        ["Detektor:Bus:Redis:MonitorIntervalMs"] = "50",
        ["Detektor:Bus:Redis:BlockMs"] = "200",
    };

    public static string Ms(int value) => value.ToString(CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        if (_host is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync();
        }
        else
        {
            _host.Dispose();
        }

        _dataDir?.Dispose();
    }
}
