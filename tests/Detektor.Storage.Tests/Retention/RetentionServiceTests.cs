using Detektor.Storage.Retention;
using Detektor.Storage.Sqlite;
using Detektor.Storage.Telemetry;
using Detektor.Storage.Tests.Support;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Detektor.Storage.Tests.Retention;

public sealed class RetentionServiceTests : IDisposable
{
    private readonly TempDirectory _dir = new("detektor-retention");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task RunOnceAsync_OldEventsAndSnapshots_DeletesThemAndRecordsMetrics()
    {
        var now = TestFrames.Now();
        var time = new FakeTimeProvider(now);
        using var store = new SqliteEventStore(_dir.Combine("events.db"), time);
        await store.MigrateAsync(TestContext.Current.CancellationToken);
        var old = TestFrames.Frame("front", now.AddDays(-31), 1, detections: 1);
        var recent = TestFrames.Frame("front", now.AddDays(-1), 2, detections: 1);
        await store.WriteAsync(TestFrames.Batch([old, recent]), TestContext.Current.CancellationToken);
        var snapshots = _dir.Combine("snapshots");
        var oldSnapshot = Path.Combine(snapshots, "front", "2026-01-01", "a.jpg");
        var newSnapshot = Path.Combine(snapshots, "front", "today", "b.jpg");
        Directory.CreateDirectory(Path.GetDirectoryName(oldSnapshot)!);
        Directory.CreateDirectory(Path.GetDirectoryName(newSnapshot)!);
        await File.WriteAllTextAsync(oldSnapshot, "x", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(newSnapshot, "y", TestContext.Current.CancellationToken);
        File.SetLastWriteTimeUtc(oldSnapshot, now.AddDays(-15).UtcDateTime);
        File.SetLastWriteTimeUtc(newSnapshot, now.AddDays(-13).UtcDateTime);
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var telemetry = new StorageTelemetry(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        using var rows = new MetricCollector<long>(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), Core.Telemetry.TelemetryNames.Storage, "detektor.store.retention.rows_deleted");
        using var files = new MetricCollector<long>(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), Core.Telemetry.TelemetryNames.Storage, "detektor.store.retention.snapshots_deleted");
        var sut = new RetentionService(
            store,
            Options.Create(new RetentionOptions { EventsDays = 30, DetectionsDays = 30, SnapshotsDays = 14, StatsDays = 400, SnapshotsPath = snapshots }),
            telemetry, time, NullLogger<RetentionService>.Instance);

        var run = await sut.RunOnceAsync(TestContext.Current.CancellationToken);

        Assert.Equal(6, run.Pruned.RowsDeleted["frame_events"]);
        Assert.Equal(1, run.Pruned.RowsDeleted["detections"]);
        Assert.Equal(1, run.SnapshotsDeleted);
        Assert.False(File.Exists(oldSnapshot));
        Assert.False(Directory.Exists(Path.GetDirectoryName(oldSnapshot)));
        Assert.True(File.Exists(newSnapshot));
        Assert.Null(await store.GetJourneyAsync(old.FrameId, TestContext.Current.CancellationToken));
        Assert.NotNull(await store.GetJourneyAsync(recent.FrameId, TestContext.Current.CancellationToken));
        Assert.Equal(6, rows.GetMeasurementSnapshot().Where(m => Equals(m.Tags["db.collection.name"], "frame_events")).Sum(m => m.Value));
        Assert.Equal(1, files.LastMeasurement?.Value);
    }
}
