using Detektor.Storage.Abstractions;
using Detektor.Storage.Sqlite;
using Detektor.Storage.Tests.Support;
using Detektor.Testing;
using Microsoft.Data.Sqlite;

namespace Detektor.Storage.Tests.Sqlite;

public sealed class SqliteMigrationTests : IDisposable
{
    private readonly TempDirectory _dir = new("detektor-sqlite-migrations");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task MigrateAsync_DatabaseAtVersion1WithEvents_UpgradesAndKeepsTheEvents()
    {
        var path = _dir.Combine("v1.db");
        var frame = TestFrames.Frame("front", TestFrames.Now().AddMinutes(-3), 1);
        using (var connection = new SqliteConnection($"Data Source={path}"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_us INTEGER NOT NULL);
                {SqliteMigrations.All[0].Sql}
                INSERT INTO schema_migrations VALUES (1, 'v1', 0);
                """;
            command.ExecuteNonQuery();
            foreach (var e in frame.Events)
            {
                using var insert = connection.CreateCommand();
                insert.CommandText = "INSERT INTO frame_events (event_id, frame_id, camera_id, type, time_us, stage, service, trace_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8);";
                insert.Parameters.AddWithValue("$1", e.EventId.ToString("D"));
                insert.Parameters.AddWithValue("$2", e.FrameId.ToString());
                insert.Parameters.AddWithValue("$3", e.CameraId);
                insert.Parameters.AddWithValue("$4", e.Type.ToString().ToLowerInvariant() switch
                {
                    "processingstarted" => "processing_started",
                    "processingcompleted" => "processing_completed",
                    var other => other,
                });
                insert.Parameters.AddWithValue("$5", FrameTimes.ToMicros(e.Timestamp));
                insert.Parameters.AddWithValue("$6", e.Stage);
                insert.Parameters.AddWithValue("$7", e.Service);
                insert.Parameters.AddWithValue("$8", e.TraceId.ToHexString());
                insert.ExecuteNonQuery();
            }
        }

        SqliteConnection.ClearAllPools();
        using var sut = new SqliteEventStore(path);

        var result = await sut.MigrateAsync(TestContext.Current.CancellationToken);

        Assert.Equal(["2: frame lists folded from events; tracked objects; per-minute stats"], result.Applied);
        var page = await sut.QueryFramesAsync(new FrameQuery(TraceId: frame.Trace.ToHexString()), TestContext.Current.CancellationToken);
        var summary = Assert.Single(page.Items);
        Assert.Equal(("stored", frame.Events.Count), (summary.State, summary.EventCount));
        Assert.Equal(frame.Events.Count, await sut.WriteAsync(TestFrames.Frame("front", TestFrames.Now(), 2).Batch, TestContext.Current.CancellationToken));
    }
}
