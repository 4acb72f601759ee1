using Detektor.Storage.Abstractions;
using Detektor.Storage.Postgres;
using Detektor.Testing;
using Npgsql;

namespace Detektor.Storage.Tests.Conformance;

/// <summary>The conformance suite on a real PostgreSQL server (native partitioning: TimescaleDB is not installed here).</summary>
public sealed class PostgresEventStoreTests(PostgresFixture postgres) : EventStoreConformanceTests
{
    private readonly Dictionary<IEventStore, string> _connectionStrings = [];

    protected override async Task<IEventStore> CreateEmptyStoreAsync()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        var store = new PostgresEventStore(connectionString);
        _connectionStrings[store] = connectionString;
        return store;
    }

    protected override IEventStore Reopen(IEventStore store) => new PostgresEventStore(_connectionStrings[store]);

    [Fact]
    public async Task MigrateAsync_WithoutTimescaleDb_UsesNativeDailyPartitionsAndSaysWhy()
    {
        var sut = Track(await CreateEmptyStoreAsync());

        var result = await sut.MigrateAsync(Ct);

        Assert.Equal(Partitioning.Native, result.Info.Partitioning);
        Assert.False(result.Info.TimescaleDbAvailable);
        Assert.Contains("not installed", result.Info.Note, StringComparison.Ordinal);
        Assert.StartsWith("15", result.Info.ServerVersion, StringComparison.Ordinal);
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var partitions = await ((PostgresEventStore)sut).ListPartitionsAsync("frame_events", Ct);
        Assert.Contains($"frame_events_p{today:yyyyMMdd}", partitions);
        Assert.Contains($"frame_events_p{today.AddDays(1):yyyyMMdd}", partitions);
    }

    [Fact]
    public async Task MigrateAsync_TimescaleDbRequiredButMissing_FailsNamingTheSetting()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        await using var sut = new PostgresEventStore(connectionString, new PostgresStoreSettings { TimescaleDb = TimescaleModes.Required });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => sut.MigrateAsync(Ct));

        Assert.Contains("Detektor:Storage:TimescaleDb", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(new NpgsqlConnectionStringBuilder(connectionString).Password!, error.Message, StringComparison.Ordinal);
    }
}
