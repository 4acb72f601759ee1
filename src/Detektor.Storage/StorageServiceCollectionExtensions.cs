using Detektor.Core.Configuration;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Sqlite;
using Detektor.Storage.Telemetry;
using Detektor.Storage.Writer;
using Microsoft.Extensions.Configuration;
using Detektor.Core.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Detektor.Storage;

public static class StorageServiceCollectionExtensions
{
    /// <summary>Registers the event store (SQLite under the data directory unless configured otherwise).</summary>
    public static IHostApplicationBuilder AddEventStore(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<StorageOptions>()
            .BindConfiguration(StorageOptions.SectionName)
            .PostConfigure<IConfiguration>((o, config) =>
                o.SqlitePath ??= Path.Combine(config["Detektor:DataDir"] ?? "data", "detektor.db"))
            .ValidateKeyed(StorageOptions.SectionName);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<StorageTelemetry>();
        builder.Services.TryAddSingleton<IEventStore>(sp =>
            new SqliteEventStore(sp.GetRequiredService<IOptions<StorageOptions>>().Value.SqlitePath!, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            "database", sp => new EventStoreHealthCheck(sp.GetRequiredService<IEventStore>()), failureStatus: null, tags: [HealthTags.Ready]));
        return builder;
    }

    /// <summary>Runs the store role: migrations at start, then the batched writer.</summary>
    public static IHostApplicationBuilder AddEventStoreWriter(this IHostApplicationBuilder builder)
    {
        builder.AddEventStore();
        builder.Services.AddHostedService<EventStoreMigrator>();
        builder.Services.AddSingleton<EventStoreWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EventStoreWriter>());
        return builder;
    }
}

/// <summary>Applies migrations before anything else runs (hosted services start in registration order).</summary>
internal sealed class EventStoreMigrator(IEventStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.MigrateAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary><c>database</c>: the event store answers a trivial query.</summary>
internal sealed class EventStoreHealthCheck(IEventStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            await store.PingAsync(timeout.Token);
            return HealthCheckResult.Healthy(store.Provider);
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy($"{store.Provider}: {Core.Security.SecretMasker.MaskSecrets(ex.Message)}");
        }
    }
}
