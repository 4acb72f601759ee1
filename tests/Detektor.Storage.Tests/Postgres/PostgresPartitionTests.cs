using Detektor.Storage.Abstractions;
using Detektor.Storage.Postgres;
using Detektor.Storage.Tests.Support;
using Detektor.Testing;

namespace Detektor.Storage.Tests.Postgres;

/// <summary>The native fallback for TimescaleDB: daily partitions made on demand, dropped whole by retention.</summary>
public sealed class PostgresPartitionTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WriteAsync_FramesOfAnyDay_CreatesThatDaysPartitionsAndStoresThere()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        await using var sut = new PostgresEventStore(connectionString);
        await sut.MigrateAsync(Ct);
        var day = DateOnly.FromDateTime(DateTime.UtcNow.AddDays(-12));
        var frame = TestFrames.Frame("front", new DateTimeOffset(day.ToDateTime(new TimeOnly(23, 59, 59)), TimeSpan.Zero), 1, detections: 2);

        await sut.WriteAsync(frame.Batch, Ct);

        Assert.Contains($"frame_events_p{day:yyyyMMdd}", await sut.ListPartitionsAsync("frame_events", Ct));
        Assert.Contains($"detections_p{day:yyyyMMdd}", await sut.ListPartitionsAsync("detections", Ct));
        // All of the frame's events are in its capture day's partition, even the ones recorded after midnight.
        Assert.Equal(6L, await PostgresServer.ScalarAsync(connectionString, $"SELECT count(*) FROM frame_events_p{day:yyyyMMdd}", Ct));
        Assert.NotNull(await sut.GetJourneyAsync(frame.FrameId, Ct));
    }

    [Fact]
    public async Task PruneAsync_PartitionsOlderThanTheCutoff_AreDroppedWholeAndOthersKept()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        await using var sut = new PostgresEventStore(connectionString);
        await sut.MigrateAsync(Ct);
        var now = TestFrames.Now();
        var frames = new[] { 45, 31, 30, 29, 1 }.Select((d, i) => TestFrames.Frame("front", now.AddDays(-d), i + 1, detections: 1)).ToList();
        await sut.WriteAsync(TestFrames.Batch(frames), Ct);
        var cutoff = now.AddDays(-30);

        var result = await sut.PruneAsync(new RetentionCutoffs(cutoff, now.AddDays(-40), now.AddDays(-400)), Ct);

        var partitions = await sut.ListPartitionsAsync("frame_events", Ct);
        var cutoffDay = DateOnly.FromDateTime(cutoff.UtcDateTime);
        Assert.DoesNotContain(partitions, p => string.CompareOrdinal(p, $"frame_events_p{cutoffDay:yyyyMMdd}") < 0);
        Assert.Contains($"frame_events_p{cutoffDay:yyyyMMdd}", partitions); // the cutoff's own day is only partly old: kept
        Assert.Equal(2, result.PartitionsDropped["frame_events"]);
        Assert.Equal(1, result.PartitionsDropped["detections"]); // detections have their own, longer retention
        Assert.Null(await sut.GetJourneyAsync(frames[0].FrameId, Ct));
        Assert.Null(await sut.GetJourneyAsync(frames[1].FrameId, Ct));
        Assert.NotNull(await sut.GetJourneyAsync(frames[3].FrameId, Ct));
        Assert.Equal(4L, await PostgresServer.ScalarAsync(connectionString, "SELECT count(*) FROM detections", Ct));

        // A late event for a dropped day is still taken (its partition is made again, and goes at the next prune).
        Assert.Equal(6, await sut.WriteAsync(TestFrames.Frame("front", now.AddDays(-45).AddSeconds(1), 9).Batch, Ct));
    }

    [Fact]
    public async Task WriteAsync_PartitionDroppedByAnotherProcess_RecreatesItAndWrites()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        await using var sut = new PostgresEventStore(connectionString);
        await using var other = new PostgresEventStore(connectionString);
        await sut.MigrateAsync(Ct);
        await other.MigrateAsync(Ct);
        var now = TestFrames.Now();
        await sut.WriteAsync(TestFrames.Frame("front", now.AddDays(-50), 1).Batch, Ct);
        await other.PruneAsync(new RetentionCutoffs(now.AddDays(-30), now.AddDays(-30), now.AddDays(-30)), Ct);

        var written = await sut.WriteAsync(TestFrames.Frame("front", now.AddDays(-50).AddSeconds(1), 2).Batch, Ct);

        Assert.Equal(6, written);
    }

    [Fact]
    public async Task WriteAsync_TwoWritersSameBatchAtOnce_StoreItOnce()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        await using var a = new PostgresEventStore(connectionString);
        await using var b = new PostgresEventStore(connectionString);
        await a.MigrateAsync(Ct);
        await b.MigrateAsync(Ct);
        var t = TestFrames.Now().AddMinutes(-1);
        var batch = TestFrames.Batch(Enumerable.Range(1, 200).Select(i => TestFrames.Frame("front", t.AddMilliseconds(10 * i), i, detections: 1)));

        var results = await Task.WhenAll(
            Retry(() => a.WriteAsync(batch, Ct)),
            Retry(() => b.WriteAsync(batch, Ct)));

        Assert.Equal(batch.Events.Count, results.Sum());
        Assert.Equal((long)batch.Events.Count, await PostgresServer.ScalarAsync(connectionString, "SELECT count(*) FROM frame_events", Ct));
        Assert.Equal(200L, await PostgresServer.ScalarAsync(connectionString, "SELECT count(*) FROM detections", Ct));
        Assert.Equal(200L, await PostgresServer.ScalarAsync(connectionString, "SELECT sum(frames)::bigint FROM camera_minute_stats", Ct));

        static async Task<int> Retry(Func<Task<int>> write)
        {
            // Concurrent upserts of the same rows may deadlock (40P01) or collide; the writer retries such a batch as a replay.
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    return await write();
                }
                catch (Npgsql.PostgresException ex) when (attempt < 5 && ex.SqlState is "40P01" or "40001")
                {
                }
            }
        }
    }
}
