using Detektor.Cli;
using Detektor.Composition;
using Detektor.Testing;

namespace Detektor.Tests.Cli;

public sealed class DbCommandTests(PostgresFixture postgres) : IDisposable
{
    private readonly TempDirectory _data = new("detektor-db-cli");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task MigrateAsync_SqliteTwice_AppliesOnceThenReportsUpToDate()
    {
        var settings = new RunSettings { DataDir = _data.Path };
        using var first = new StringWriter();
        using var second = new StringWriter();
        using var errors = new StringWriter();

        var rc1 = await DbCommand.MigrateAsync(settings, first, errors, Ct);
        var rc2 = await DbCommand.MigrateAsync(settings, second, errors, Ct);

        Assert.Equal((0, 0), (rc1, rc2));
        Assert.Contains("applied 1:", first.ToString(), StringComparison.Ordinal);
        Assert.Contains("up to date", second.ToString(), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_data.Path, "detektor.db")));
        Assert.Empty(errors.ToString());
    }

    [Fact]
    public async Task MigrateAsync_Postgres_CreatesTheSchemaAndNeverPrintsThePassword()
    {
        var server = await postgres.GetServerAsync();
        var connectionString = await server.CreateDatabaseAsync(cancellationToken: Ct);
        var settings = new RunSettings
        {
            DataDir = _data.Path,
            Settings = new Dictionary<string, string?> { ["Detektor:Storage:Provider"] = "postgres", ["Detektor:Storage:PostgresConnectionString"] = connectionString },
        };
        using var output = new StringWriter();
        using var errors = new StringWriter();

        var rc = await DbCommand.MigrateAsync(settings, output, errors, Ct);
        var again = await DbCommand.MigrateAsync(settings, output, errors, Ct);

        Assert.Equal((0, 0), (rc, again));
        Assert.Contains("postgresql at Host=127.0.0.1", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("Partitioning: native", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(server.Password, output.ToString() + errors.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, Convert.ToInt32(await PostgresServer.ScalarAsync(connectionString, "SELECT max(version) FROM schema_migrations", Ct), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("Host=127.0.0.1;Port=1;Username=u;Password=hunter2hunter2;Database=d;Timeout=2", 1)]
    [InlineData("Host=127.0.0.1;Pasword=hunter2hunter2", 2)]
    [InlineData("postgresql://u:hunter2hunter2@127.0.0.1:1/d", 1)]
    public async Task MigrateAsync_UnreachableOrUnreadable_FailsWithoutThePassword(string connectionString, int expected)
    {
        var settings = new RunSettings
        {
            DataDir = _data.Path,
            Settings = new Dictionary<string, string?> { ["Detektor:Storage:Provider"] = "postgres", ["Detektor:Storage:PostgresConnectionString"] = connectionString },
        };
        using var output = new StringWriter();
        using var errors = new StringWriter();

        var rc = await DbCommand.MigrateAsync(settings, output, errors, Ct);

        Assert.Equal(expected, rc);
        Assert.StartsWith("detektor: ", errors.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", output.ToString() + errors.ToString(), StringComparison.Ordinal);
    }
}
