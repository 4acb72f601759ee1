using Detektor.Core.Hosting.Supervision;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detektor.Storage.Retention;

/// <summary>
/// Prunes the event store and the snapshot folder on a schedule (<see cref="RetentionOptions"/>): raw events and
/// tracked-object events after <c>EventsDays</c>, detections after <c>DetectionsDays</c>, stats after <c>StatsDays</c>,
/// snapshot files after <c>SnapshotsDays</c>. PostgreSQL drops whole daily partitions (or TimescaleDB chunks); SQLite
/// deletes rows in small transactions. Each run is counted and timed (<c>detektor.store.retention.*</c>).
/// </summary>
public sealed class RetentionService(
    IEventStore store,
    IOptions<RetentionOptions> options,
    StorageTelemetry telemetry,
    TimeProvider time,
    ILogger<RetentionService> logger,
    LoopSupervisor? supervisor = null) : BackgroundService
{
    private readonly RetentionOptions _options = options.Value;

    /// <summary>Completed runs (for tests and diagnostics).</summary>
    public int Runs { get; private set; }

    /// <summary>The last run's result.</summary>
    public RetentionRun? LastRun { get; private set; }

    /// <summary>One pruning pass, now.</summary>
    public async Task<RetentionRun> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var cutoffs = new RetentionCutoffs(
            now - TimeSpan.FromDays(_options.EventsDays),
            now - TimeSpan.FromDays(_options.DetectionsDays),
            now - TimeSpan.FromDays(_options.StatsDays));
        var started = time.GetTimestamp();
        try
        {
            var pruned = await store.PruneAsync(cutoffs, cancellationToken);
            var snapshots = DeleteSnapshots(_options.SnapshotsPath, now - TimeSpan.FromDays(_options.SnapshotsDays));
            var elapsed = time.GetElapsedTime(started);
            telemetry.RecordRetention(true, elapsed, pruned.RowsDeleted, pruned.PartitionsDropped, snapshots);
            var partitions = pruned.PartitionsDropped.Values.Sum();
            var rows = pruned.RowsDeleted.Values.Sum();
            Log.RetentionDone(logger, partitions, rows, snapshots, elapsed.TotalSeconds);
            var run = new RetentionRun(cutoffs, pruned, snapshots);
            LastRun = run;
            Runs++;
            return run;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            telemetry.RecordRetention(false, time.GetElapsedTime(started), new Dictionary<string, long>(), new Dictionary<string, int>(), 0);
            throw;
        }
    }

    /// <summary>Deletes snapshot files last written before <paramref name="cutoff"/>, then empty folders; returns how many files.</summary>
    public static long DeleteSnapshots(string? root, DateTimeOffset cutoff)
    {
        if (string.IsNullOrEmpty(root) || !Directory.Exists(root))
        {
            return 0;
        }

        long deleted = 0;
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            try
            {
                if (File.GetLastWriteTimeUtc(file) < cutoff.UtcDateTime)
                {
                    File.Delete(file);
                    deleted++;
                }
            }
            catch (IOException)
            {
                // In use or gone already: the next run tries again.
            }
        }

        foreach (var directory in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length))
        {
            if (!Directory.EnumerateFileSystemEntries(directory).Any())
            {
                Directory.Delete(directory);
            }
        }

        return deleted;
    }

    /// <summary>Runs the loop under the supervisor when there is one (<c>store:retention</c>: restarted if it ever throws).</summary>
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        supervisor is null ? RunLoopAsync(stoppingToken) : supervisor.RunAsync("store:retention", (_, token) => RunLoopAsync(token), stoppingToken);

    private async Task RunLoopAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }

        try
        {
            await Task.Delay(TimeSpan.FromMinutes(1), time, stoppingToken);
            using var timer = new PeriodicTimer(TimeSpan.FromMinutes(_options.IntervalMinutes), time);
            do
            {
                try
                {
                    await RunOnceAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.RetentionFailed(logger, _options.IntervalMinutes, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}

public sealed record RetentionRun(RetentionCutoffs Cutoffs, PruneResult Pruned, long SnapshotsDeleted);
