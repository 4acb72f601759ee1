using System.Text.Json;
using Detektor.Composition;
using Detektor.Testing;

namespace Detektor.Tests.Composition;

/// <summary><c>detektor run --postgres …</c>: the whole pipeline, with the frames and stats API answered from PostgreSQL.</summary>
public sealed class PostgresRunTests(PostgresFixture postgres) : IDisposable
{
    private readonly TempDirectory _data = new("detektor-run-pg");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Run_WithPostgres_FramesJourneysStatsAndHealthComeFromPostgres()
    {
        RequiredTool.Find("ffmpeg");
        var server = await postgres.GetServerAsync();
        var connectionString = await server.CreateDatabaseAsync(cancellationToken: Ct);
        var port = FreePort.Next();
        var settings = new RunSettings
        {
            Urls = $"http://127.0.0.1:{port}",
            DataDir = _data.Path,
            Settings = new Dictionary<string, string?>
            {
                ["Detektor:Storage:Provider"] = "postgres",
                ["Detektor:Storage:PostgresConnectionString"] = connectionString,
            },
        };
        await using var app = DetektorApp.Build(settings);
        await app.StartAsync(Ct);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        var frames = await Eventually.WaitAsync(
            async () => JsonDocument.Parse(await client.GetStringAsync("api/v1/frames?camera_id=demo&limit=50", Ct)),
            doc => doc.RootElement.GetProperty("items").EnumerateArray().Any(f => f.GetProperty("state").GetString() == "stored"),
            TimeSpan.FromSeconds(60),
            "stored frames of the demo camera");
        // The oldest stored frame of the page: the newest may still be receiving lifecycle events (they travel on their own
        // topic and can land just after the result's `stored`), and the count below must not race them.
        var frameId = frames.RootElement.GetProperty("items").EnumerateArray().Last(f => f.GetProperty("state").GetString() == "stored").GetProperty("frame_id").GetString();
        using var journey = JsonDocument.Parse(await client.GetStringAsync($"api/v1/frames/{frameId}", Ct));
        using var stats = JsonDocument.Parse(await client.GetStringAsync("api/v1/stats?camera=demo&interval=1m", Ct));
        using var health = await client.GetAsync("health", Ct);
        var healthText = await health.Content.ReadAsStringAsync(Ct);
        using var ready = JsonDocument.Parse(await client.GetStringAsync("ready", Ct));
        await app.StopAsync(Ct);

        var types = journey.RootElement.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        Assert.Equal("captured", types[0]);
        Assert.Equal("stored", types[^1]);
        Assert.Contains(stats.RootElement.GetProperty("buckets").EnumerateArray(), b => b.GetProperty("frames").GetInt64() > 0);
        var store = JsonDocument.Parse(healthText).RootElement.GetProperty("metadata").GetProperty("event_store");
        Assert.Equal("postgresql", store.GetProperty("provider").GetString());
        Assert.Equal("native", store.GetProperty("partitioning").GetString());
        Assert.False(store.GetProperty("timescaledb").GetProperty("available").GetBoolean());
        Assert.DoesNotContain(server.Password, healthText, StringComparison.Ordinal);
        Assert.Equal("healthy", ready.RootElement.GetProperty("checks").GetProperty("database").GetString());
        var stored = Convert.ToInt64(await PostgresServer.ScalarAsync(connectionString, $"SELECT count(*) FROM frame_events WHERE frame_id = '{frameId}'", Ct), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(types.Count, stored);
    }
}
