using System.CommandLine;
using Detektor.Composition;
using Detektor.Core.Security;
using Detektor.Storage;
using Detektor.Storage.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Detektor.Cli;

/// <summary><c>detektor db migrate</c>: applies the event store's migrations (the store role also does so at start).</summary>
internal static class DbCommand
{
    public static Command Create()
    {
        var shared = new SettingsOptions();
        var migrate = new Command(
            "migrate",
            "Apply pending event store migrations (SQLite under --data-dir, or PostgreSQL with --postgres or Detektor:Storage:Provider=postgres). Safe to run again.");
        shared.AddTo(migrate);
        migrate.SetAction(async (parse, cancellationToken) =>
        {
            if (!shared.TryRead(parse, new RunSettings(), out var settings, out var error))
            {
                await Console.Error.WriteLineAsync($"detektor: {error}");
                return 2;
            }

            return await MigrateAsync(settings, Console.Out, Console.Error, cancellationToken);
        });

        var command = new Command("db", "Manage the event store.");
        command.Subcommands.Add(migrate);
        return command;
    }

    /// <summary>Exit 0 when the schema is current, 1 when the store refused or could not be reached, 2 on a configuration error.</summary>
    public static async Task<int> MigrateAsync(RunSettings settings, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [DetektorApp.NoConfigWatch],
            ContentRootPath = Directory.GetCurrentDirectory(),
            ApplicationName = "detektor",
        });
        DetektorApp.AddConfiguration(builder.Configuration, settings);
        builder.Logging.ClearProviders();
        builder.AddEventStore();
        using var host = builder.Build();
        IEventStore store;
        try
        {
            _ = host.Services.GetRequiredService<IOptions<StorageOptions>>().Value;
            _ = host.Services.GetRequiredService<IOptions<RetentionOptions>>().Value;
            store = host.Services.GetRequiredService<IEventStore>();
        }
        catch (OptionsValidationException ex)
        {
            foreach (var failure in ex.Failures)
            {
                await errors.WriteLineAsync($"detektor: configuration error: {failure}");
            }

            return 2;
        }

        try
        {
            var result = await store.MigrateAsync(cancellationToken);
            var info = result.Info;
            await output.WriteLineAsync($"Event store: {info.Provider} at {info.Location}");
            await output.WriteLineAsync($"Partitioning: {info.Partitioning}{(info.Note is null ? string.Empty : $" ({info.Note})")}");
            await output.WriteLineAsync(result.Applied.Count == 0
                ? $"Schema version {info.SchemaVersion}: up to date, nothing applied."
                : $"Schema version {info.SchemaVersion}: applied {string.Join("; ", result.Applied)}.");
            return 0;
        }
        catch (Exception ex) when (IsStoreError(ex))
        {
            await errors.WriteLineAsync($"detektor: event store: {SecretMasker.MaskSecrets(ex.Message)}");
            return 1;
        }
        finally
        {
            (store as IDisposable)?.Dispose();
        }
    }

    /// <summary>Errors from the database or its driver, or the store's own refusals (e.g. TimescaleDB required but missing).</summary>
    internal static bool IsStoreError(Exception ex) =>
        ex is NpgsqlException or Microsoft.Data.Sqlite.SqliteException or TimeoutException ||
        (ex is InvalidOperationException && ex.Message.Contains("Detektor:Storage", StringComparison.Ordinal));
}
