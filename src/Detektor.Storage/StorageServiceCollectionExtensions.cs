using Detektor.Core.Configuration;
using Detektor.Core.Health;
using Detektor.Core.Resilience;
using Detektor.Hosting.Health;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Health;
using Detektor.Storage.Postgres;
using Detektor.Storage.Retention;
using Detektor.Storage.Sqlite;
using Detektor.Storage.Telemetry;
using Detektor.Storage.Writer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Detektor.Storage;

public static class StorageServiceCollectionExtensions
{
    /// <summary>
    /// Registers the event store chosen by <c>Detektor:Storage:Provider</c> (SQLite under the data directory by default,
    /// or PostgreSQL), its readiness check <c>database</c>, its /health metadata and Npgsql's traces and metrics.
    /// </summary>
    public static IHostApplicationBuilder AddEventStore(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<StorageOptions>()
            .BindConfiguration(StorageOptions.SectionName)
            .PostConfigure<IConfiguration>((o, config) =>
            {
                o.SqlitePath ??= Path.Combine(DataDir(config), "detektor.db");
                o.JournalPath ??= Path.Combine(DataDir(config), "journal");
            })
            .ValidateKeyed(StorageOptions.SectionName);
        builder.Services.AddSingleton<IValidateOptions<StorageOptions>, StorageOptionsValidator>();
        builder.Services.AddOptions<RetentionOptions>()
            .BindConfiguration(RetentionOptions.SectionName)
            .PostConfigure<IConfiguration>((o, config) => o.SnapshotsPath ??= config["Detektor:Detection:Tracking:SnapshotsDirectory"] ?? Path.Combine(DataDir(config), "snapshots"))
            .ValidateKeyed(RetentionOptions.SectionName);
        builder.Services.AddSingleton<IValidateOptions<RetentionOptions>, RetentionOptionsValidator>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<StorageTelemetry>();
        builder.Services.TryAddSingleton(CreateStore);
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddNpgsql());
        builder.Services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddNpgsqlInstrumentation());
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            "database",
            sp => new EventStoreHealthCheck(sp.GetRequiredService<IEventStore>(), sp.GetService<StoreOutbox>(), sp.GetRequiredService<TimeProvider>()),
            failureStatus: null,
            tags: [HealthTags.Ready]));
        builder.Services.AddSingleton<IHealthMetadataContributor>(sp => new EventStoreHealthMetadata(sp.GetRequiredService<IEventStore>(), sp.GetService<StoreOutbox>()));
        return builder;
    }

    /// <summary>Runs the store role: migrations at start, the durable batched writer, and retention.</summary>
    public static IHostApplicationBuilder AddEventStoreWriter(this IHostApplicationBuilder builder)
    {
        builder.AddEventStore();
        builder.Services.AddCircuitBreakers();
        builder.Services.AddHostedService<EventStoreMigrator>();
        builder.Services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            return new EventJournal(o.JournalPath!, (long)o.JournalMaxMegabytes * 1024 * 1024);
        });
        builder.Services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            return new StoreOutbox(
                sp.GetRequiredService<IEventStore>(),
                sp.GetRequiredService<EventJournal>(),
                new StoreOutboxOptions
                {
                    MemoryBufferEvents = o.MemoryBufferEvents,
                    RetryDelay = TimeSpan.FromMilliseconds(o.RetryDelayMs),
                    ReplayBatchEvents = Math.Max(o.BatchSize, 1000),
                },
                sp.GetRequiredService<StorageTelemetry>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILoggerFactory>().CreateLogger<StoreOutbox>(),
                sp.GetRequiredService<CircuitBreakers>());
        });
        builder.Services.AddSingleton<EventStoreWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EventStoreWriter>());
        builder.Services.AddSingleton<RetentionService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RetentionService>());
        return builder;
    }

    /// <summary>The store the options ask for (used by DI, <c>detektor db migrate</c> and tools).</summary>
    public static IEventStore CreateStore(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<StorageOptions>>().Value;
        var time = services.GetRequiredService<TimeProvider>();
        if (!string.Equals(options.Provider, StorageOptions.Postgres, StringComparison.Ordinal))
        {
            services.GetService<StorageTelemetry>()?.ObserveSqliteMemory();
            return new SqliteEventStore(
                options.SqlitePath!,
                time,
                new SqliteStoreSettings { CacheMegabytes = options.SqliteCacheMegabytes, MmapMegabytes = options.SqliteMmapMegabytes });
        }

        var retention = services.GetRequiredService<IOptions<RetentionOptions>>().Value;
        return new PostgresEventStore(
            options.PostgresConnectionString!,
            new PostgresStoreSettings
            {
                TimescaleDb = options.TimescaleDb,
                EventsRetentionDays = retention.EventsDays,
                DetectionsRetentionDays = retention.DetectionsDays,
                StatsRetentionDays = retention.StatsDays,
                CompressAfterDays = options.CompressAfterDays,
            },
            time,
            services.GetService<ILoggerFactory>());
    }

    private static string DataDir(IConfiguration config) => config["Detektor:DataDir"] ?? "data";
}

/// <summary>
/// Applies migrations before the pipeline starts (hosted services start in registration order). A database that cannot
/// be reached at start does not stop the process: the writer journals events meanwhile, and the migration is retried in
/// the background until it succeeds. Errors the server answers with (permissions, TimescaleDB required but missing) stop it.
/// </summary>
internal sealed class EventStoreMigrator(IEventStore store, TimeProvider time, ILogger<EventStoreMigrator> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            Report(await store.MigrateAsync(cancellationToken));
        }
        catch (Exception ex) when (IsUnreachable(ex))
        {
            Log.OutageStarted(logger, store.Provider, Core.Security.SecretMasker.MaskSecrets(ex.Message));
            _ = RetryAsync();
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await _stopping.CancelAsync();

    public void Dispose() => _stopping.Dispose();

    private async Task RetryAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(5), time, _stopping.Token);
                Report(await store.MigrateAsync(_stopping.Token));
                return;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (IsUnreachable(ex))
            {
            }
        }
    }

    private void Report(MigrationResult result)
    {
        var info = result.Info;
        Log.StoreReady(logger, info.Provider, info.Location, info.Partitioning, info.SchemaVersion, info.Note is null ? string.Empty : $" ({info.Note})");
    }

    private static bool IsUnreachable(Exception ex) => ex is NpgsqlException { IsTransient: true } or TimeoutException ||
                                                      (ex is NpgsqlException && ex is not PostgresException);
}
