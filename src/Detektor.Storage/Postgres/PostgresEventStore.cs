using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Security;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Detektor.Storage.Postgres;

/// <summary>What the PostgreSQL store needs besides the connection string.</summary>
public sealed record PostgresStoreSettings
{
    /// <summary>auto (use TimescaleDB when the server has it), off, or required (fail at start without it).</summary>
    public string TimescaleDb { get; init; } = TimescaleModes.Auto;

    public int EventsRetentionDays { get; init; } = 30;

    public int DetectionsRetentionDays { get; init; } = 90;

    public int StatsRetentionDays { get; init; } = 400;

    public int CompressAfterDays { get; init; } = 2;

    /// <summary>Daily partitions created ahead of today (native partitioning).</summary>
    public int PartitionsAhead { get; init; } = 2;
}

public static class TimescaleModes
{
    public const string Auto = "auto";
    public const string Off = "off";
    public const string Required = "required";
}

/// <summary>
/// The distributed event store on PostgreSQL (TimescaleDB when present, native daily partitions otherwise).
/// <list type="bullet">
/// <item>Ingest: binary <c>COPY</c> straight into the tables, then the per-minute projections as one batched upsert of
/// unnested arrays, one transaction per batch. Idempotency by event id: a batch that may repeat (retries, journal replays)
/// or whose COPY hits an existing key goes through a temporary staging table and <c>INSERT … ON CONFLICT DO NOTHING
/// RETURNING</c>, and only the rows that were new reach the projections.</item>
/// <item>All of a frame's events carry the frame's capture time (<c>frame_time</c>, from the frame id), the partition key:
/// a journey reads one partition through one index.</item>
/// </list>
/// </summary>
public sealed class PostgresEventStore : IEventStore, IAsyncDisposable, IDisposable
{
    private const string EventColumns = "event_id, frame_id, camera_id, type, time, stage, service, trace_id, span_id, duration_us, reason, data";
    private const string EventCopyColumns = EventColumns + ", frame_time";
    private const string DetectionColumns = "stored_event_id, ordinal, frame_id, camera_id, frame_time, time, label, confidence, x, y, w, h, source, track_id";
    private const string ObjectColumns =
        "object_id, camera_id, label, first_seen, last_seen, best_score, best_snapshot_path, best_frame_id, state, event_count";

    private const string TrackColumns = "event_id, object_id, camera_id, type, time, frame_id, trace_id, label, score, snapshot_path, data";
    private const long MigrationLockKey = 0x44_45_54_45_4B_54_4F_52; // "DETEKTOR"

    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresStoreSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _description;
    private readonly ConcurrentDictionary<string, byte> _partitions = new(StringComparer.Ordinal);
    private StoreInfo _info;
    private string? _layout;

    public PostgresEventStore(string connectionString, PostgresStoreSettings? settings = null, TimeProvider? time = null, ILoggerFactory? loggerFactory = null)
    {
        var builder = PostgresConnectionString.Parse(connectionString);
        _description = PostgresConnectionString.Describe(builder);
        if (builder.MaxAutoPrepare == 0)
        {
            // Journeys, lists and projection upserts repeat the same statements: prepare them once per connection.
            builder.MaxAutoPrepare = 32;
        }

        var sourceBuilder = new NpgsqlDataSourceBuilder(builder.ConnectionString) { Name = "detektor-events" };
        if (loggerFactory is not null)
        {
            sourceBuilder.UseLoggerFactory(loggerFactory);
        }

        _dataSource = sourceBuilder.Build();
        _settings = settings ?? new PostgresStoreSettings();
        _time = time ?? TimeProvider.System;
        _logger = loggerFactory?.CreateLogger<PostgresEventStore>() ?? NullLogger<PostgresEventStore>.Instance;
        _info = new StoreInfo(Provider, Partitioning.Native, 0, null, false, null, null, _description);
    }

    public string Provider => "postgresql";

    public StoreInfo Info => _info;

    /// <summary>Where the store is, without the password.</summary>
    public string Description => _description;

    public async Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        // One migrator at a time across every process sharing the database; the lock ends with the session.
        await ExecuteAsync(connection, $"SELECT pg_advisory_lock({MigrationLockKey});", cancellationToken);
        try
        {
            await ExecuteAsync(connection, PostgresSchema.Bootstrap, cancellationToken);
            var (available, timescaleVersion) = await DetectTimescaleAsync(connection, cancellationToken);
            var layout = await ReadSettingAsync(connection, "layout", cancellationToken);
            string? note;
            if (layout is null)
            {
                (layout, note) = await ChooseLayoutAsync(connection, available, cancellationToken);
                await using var record = new NpgsqlCommand("INSERT INTO store_settings (key, value) VALUES ('layout', $1) ON CONFLICT (key) DO NOTHING;", connection);
                record.Parameters.AddWithValue(layout);
                await record.ExecuteNonQueryAsync(cancellationToken);
            }
            else if (layout == Partitioning.TimescaleDb)
            {
                await ExecuteAsync(connection, "CREATE EXTENSION IF NOT EXISTS timescaledb;", cancellationToken);
                note = null;
            }
            else
            {
                note = available && _settings.TimescaleDb != TimescaleModes.Off
                    ? "TimescaleDB is available, but this database was created with native partitioning; it stays so (see docs/storage.md to convert)."
                    : null;
            }

            if (_settings.TimescaleDb == TimescaleModes.Required && layout != Partitioning.TimescaleDb)
            {
                throw new InvalidOperationException(
                    $"Detektor:Storage:TimescaleDb is 'required', but the event store on {_description} uses {layout} partitioning: {note ?? "TimescaleDB is not available"}.");
            }

            var applied = new HashSet<int>();
            await using (var query = new NpgsqlCommand("SELECT version FROM schema_migrations;", connection))
            await using (var reader = await query.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    applied.Add(reader.GetInt32(0));
                }
            }

            var done = new List<string>();
            foreach (var migration in PostgresSchema.All)
            {
                if (applied.Contains(migration.Version))
                {
                    continue;
                }

                await ApplyAsync(connection, migration, layout, cancellationToken);
                done.Add($"{migration.Version}: {migration.Name}");
                Log.MigrationApplied(_logger, migration.Version, migration.Name, layout);
            }

            _layout = layout;
            if (layout == Partitioning.Native)
            {
                await EnsurePartitionsAheadAsync(connection, cancellationToken);
            }
            else
            {
                await ApplyTimescalePoliciesAsync(connection, cancellationToken);
            }

            var serverVersion = connection.PostgreSqlVersion.ToString();
            _info = new StoreInfo(Provider, layout, PostgresSchema.LatestVersion, serverVersion, available, timescaleVersion, note, _description);
            return new MigrationResult(done, _info);
        }
        finally
        {
            await ExecuteAsync(connection, $"SELECT pg_advisory_unlock({MigrationLockKey});", CancellationToken.None);
        }
    }

    public async Task<int> WriteAsync(StoreBatch batch, CancellationToken cancellationToken = default)
    {
        if (batch.Events.Count == 0 && batch.TrackEvents.Count == 0)
        {
            return 0;
        }

        var layout = await GetLayoutAsync(cancellationToken);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await WriteOnceAsync(batch, layout, cancellationToken);
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.CheckViolation && layout == Partitioning.Native && attempt == 0)
            {
                // "no partition of relation found for row": another process dropped a partition this one knew of.
                _partitions.Clear();
            }
        }
    }

    public async Task<FrameJourney?> GetJourneyAsync(string frameId, CancellationToken cancellationToken = default)
    {
        if (!FrameId.TryParse(frameId, out var id))
        {
            return null;
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                Command($"SELECT {EventColumns} FROM frame_events WHERE camera_id = $1 AND frame_id = $2 AND frame_time = $3;", id.CameraId, frameId, id.Timestamp),
                Command($"SELECT {DetectionColumns} FROM detections WHERE frame_id = $1 AND frame_time = $2 ORDER BY stored_event_id, ordinal;", frameId, id.Timestamp),
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var events = new List<FrameEvent>(16);
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(ReadEvent(reader));
        }

        await reader.NextResultAsync(cancellationToken);
        var detections = new List<DetectionRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            detections.Add(new DetectionRecord(
                reader.GetString(2), reader.GetString(3), reader.GetFieldValue<DateTimeOffset>(5), reader.GetString(6),
                reader.GetFloat(7), reader.GetFloat(8), reader.GetFloat(9), reader.GetFloat(10), reader.GetFloat(11),
                reader.IsDBNull(12) ? null : reader.GetString(12), reader.IsDBNull(13) ? null : reader.GetString(13),
                reader.GetGuid(0)));
        }

        return FrameStateRules.Journey(frameId, events, detections);
    }

    public async Task<FramePage> QueryFramesAsync(FrameQuery query, CancellationToken cancellationToken = default)
    {
        var limit = Math.Clamp(query.Limit, 1, FrameQuery.MaxLimit);
        Guid? trace = null;
        if (query.TraceId is not null)
        {
            if (!Guid.TryParseExact(query.TraceId, "N", out var parsed))
            {
                return new FramePage([], null);
            }

            trace = parsed;
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var ids = new List<string>(limit + 1);
        await using (var command = new NpgsqlCommand { Connection = connection })
        {
            var sql = new StringBuilder("SELECT DISTINCT frame_id FROM frame_events WHERE true");
            if (query.CameraId is not null)
            {
                sql.Append(" AND camera_id = ").Append(Add(command, query.CameraId));
            }

            if (trace is not null)
            {
                sql.Append(" AND trace_id = ").Append(Add(command, trace.Value));
            }

            AppendFrameRange(sql, command, query.From, query.To);
            if (query.Before is not null)
            {
                sql.Append(" AND frame_id < ").Append(Add(command, query.Before));
                if (FrameTimes.Of(query.Before) is { } beforeTime)
                {
                    sql.Append(" AND frame_time <= ").Append(Add(command, beforeTime));
                }
            }

            sql.Append(" ORDER BY frame_id DESC LIMIT ").Append(Add(command, limit + 1));
            command.CommandText = sql.ToString();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetString(0));
            }
        }

        var events = new List<FrameEvent>(ids.Count * 8);
        if (ids.Count > 0)
        {
            var times = ids.Select(i => FrameTimes.Of(i) ?? DateTimeOffset.UnixEpoch).ToList();
            await using var command = Command(
                connection,
                $"SELECT {EventColumns} FROM frame_events WHERE frame_id = ANY($1) AND frame_time >= $2 AND frame_time <= $3;",
                ids.ToArray(), times.Min(), times.Max());
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                events.Add(ReadEvent(reader));
            }
        }

        return FramePages.Build(ids, events, limit);
    }

    public async Task<EventPage> QueryEventsAsync(EventQuery query, CancellationToken cancellationToken = default)
    {
        var limit = Math.Clamp(query.Limit, 1, EventQuery.MaxLimit);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand { Connection = connection };
        var sql = new StringBuilder($"SELECT {EventColumns} FROM frame_events WHERE camera_id = ").Append(Add(command, query.CameraId));
        AppendFrameRange(sql, command, query.From, query.To);
        if (query.After is { } after)
        {
            sql.Append(" AND (frame_id, event_id) > (").Append(Add(command, after.FrameId)).Append(", ").Append(Add(command, after.EventId)).Append(')');
            if (FrameTimes.Of(after.FrameId) is { } afterTime)
            {
                sql.Append(" AND frame_time >= ").Append(Add(command, afterTime));
            }
        }

        sql.Append(" ORDER BY frame_id, event_id LIMIT ").Append(Add(command, limit + 1));
        command.CommandText = sql.ToString();
        var items = new List<FrameEvent>(Math.Min(limit + 1, 1024));
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add(ReadEvent(reader));
            }
        }

        return EventPage.From(items, limit);
    }

    public async Task<IReadOnlyList<StatsBucket>> GetStatsAsync(StatsQuery query, CancellationToken cancellationToken = default)
    {
        var where = "WHERE minute >= $2 AND minute < $3" + (query.CameraId is null ? string.Empty : " AND camera_id = $4");
        const string bucket = "(extract(epoch FROM minute)::bigint / $1) * $1 * 1000000";
        object[] Args() => query.CameraId is null
            ? [query.IntervalSeconds, query.From, query.To]
            : [query.IntervalSeconds, query.From, query.To, query.CameraId];

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                Command($"""
                    SELECT {bucket} AS b, sum(frames)::bigint, sum(stored)::bigint, sum(skipped)::bigint, sum(dropped)::bigint,
                           sum(failed)::bigint, sum(detections)::bigint, sum(latency_count)::bigint, sum(latency_sum_ms)::float8, max(latency_max_ms)::float8
                    FROM camera_minute_stats {where} GROUP BY b;
                    """, Args()),
                Command($"SELECT {bucket} AS b, type, reason, sum(count)::bigint FROM camera_minute_reasons {where} GROUP BY b, type, reason;", Args()),
                Command($"SELECT {bucket} AS b, bucket::int, sum(count)::bigint FROM camera_minute_latency {where} GROUP BY b, bucket;", Args()),
            },
        };
        var builder = new StatsBuilder(query.Interval);
        await using var r = await batch.ExecuteReaderAsync(cancellationToken);
        await builder.ReadCountsAsync(r, cancellationToken);

        await r.NextResultAsync(cancellationToken);
        await builder.ReadReasonsAsync(r, cancellationToken);

        await r.NextResultAsync(cancellationToken);
        await builder.ReadLatencyAsync(r, cancellationToken);

        return builder.Build();
    }

    public async Task<TrackedObjectPage> QueryTrackedObjectsAsync(TrackedObjectQuery query, CancellationToken cancellationToken = default)
    {
        var limit = Math.Clamp(query.Limit, 1, TrackedObjectQuery.MaxLimit);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder($"SELECT {ObjectColumns} FROM tracked_objects WHERE true");
        void Add(string condition, object value)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
            sql.Append(" AND ").Append(condition.Replace("$?", "$" + command.Parameters.Count.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
        }

        if (query.CameraId is not null)
        {
            Add("camera_id = $?", query.CameraId);
        }

        if (query.Label is not null)
        {
            Add("label = $?", query.Label);
        }

        if (query.From is { } from)
        {
            Add("last_seen >= $?", from.ToUniversalTime());
        }

        if (query.To is { } to)
        {
            Add("first_seen < $?", to.ToUniversalTime());
        }

        if (query.Cursor is { } cursor)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = cursor.FirstSeen.ToUniversalTime() });
            command.Parameters.Add(new NpgsqlParameter { Value = cursor.ObjectId });
            var n = command.Parameters.Count;
            sql.Append(CultureInfo.InvariantCulture, $" AND (first_seen, object_id) < (${n - 1}, ${n})");
        }

        command.Parameters.Add(new NpgsqlParameter { Value = limit + 1 });
        sql.Append(CultureInfo.InvariantCulture, $" ORDER BY first_seen DESC, object_id DESC LIMIT ${command.Parameters.Count};");
        command.CommandText = sql.ToString();
        var rows = new List<TrackedObject>(Math.Min(limit + 1, 256));
        await using var r = await command.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            rows.Add(ReadObject(r));
        }

        return TrackedObjectPage.From(rows, limit);
    }

    private static TrackedObject ReadObject(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetFieldValue<DateTimeOffset>(3), r.GetFieldValue<DateTimeOffset>(4),
        r.GetFloat(5), r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7), r.GetString(8), r.GetInt32(9));

    public async Task<TrackedObjectHistory?> GetTrackedObjectAsync(string objectId, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                Command($"SELECT {ObjectColumns} FROM tracked_objects WHERE object_id = $1;", objectId),
                Command($"SELECT {TrackColumns} FROM tracked_object_events WHERE object_id = $1 ORDER BY time, event_id;", objectId),
            },
        };
        await using var r = await batch.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken))
        {
            return null;
        }

        var tracked = ReadObject(r);
        await r.NextResultAsync(cancellationToken);
        var events = new List<TrackedObjectEvent>();
        while (await r.ReadAsync(cancellationToken))
        {
            if (!TrackedObjectEventTypes.TryParse(r.GetString(3), out var type))
            {
                throw new InvalidDataException($"Unknown tracked-object event type '{r.GetString(3)}'.");
            }

            events.Add(new TrackedObjectEvent(
                r.GetGuid(0), r.GetString(1), r.GetString(2), type, r.GetFieldValue<DateTimeOffset>(4),
                r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6), r.GetString(7), r.GetFloat(8),
                r.IsDBNull(9) ? null : r.GetString(9), r.IsDBNull(10) ? null : r.GetString(10)));
        }

        return new TrackedObjectHistory(tracked, events);
    }

    public async Task<PruneResult> PruneAsync(RetentionCutoffs cutoffs, CancellationToken cancellationToken = default)
    {
        var layout = await GetLayoutAsync(cancellationToken);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var dropped = new Dictionary<string, int>(StringComparer.Ordinal);
        var deleted = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (table, _) in PostgresSchema.PartitionedTables)
        {
            var cutoff = table == "detections" ? cutoffs.Detections : cutoffs.Events;
            dropped[table] = layout == Partitioning.TimescaleDb
                ? await DropChunksAsync(connection, table, cutoff, cancellationToken)
                : await DropPartitionsAsync(connection, table, cutoff, cancellationToken);
        }

        deleted["tracked_objects"] = await DeleteAsync(connection, "DELETE FROM tracked_objects WHERE last_seen < $1;", cutoffs.Events, cancellationToken);
        foreach (var table in PostgresSchema.StatsTables)
        {
            if (layout == Partitioning.TimescaleDb)
            {
                dropped[table] = await DropChunksAsync(connection, table, cutoffs.Stats, cancellationToken);
            }
            else
            {
                deleted[table] = await DeleteAsync(connection, $"DELETE FROM {table} WHERE minute < $1;", cutoffs.Stats, cancellationToken);
            }
        }

        if (layout == Partitioning.Native)
        {
            await EnsurePartitionsAheadAsync(connection, cancellationToken);
        }

        return new PruneResult(deleted, dropped);
    }

    public async Task PingAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, "SELECT 1;", cancellationToken);
    }

    /// <summary>Data exceptions (class 22) and integrity violations (class 23) come from the batch; everything else may pass.</summary>
    public bool IsPermanentFailure(Exception exception) => exception switch
    {
        PostgresException pg => pg.SqlState.StartsWith("22", StringComparison.Ordinal) ||
                                (pg.SqlState.StartsWith("23", StringComparison.Ordinal) && pg.SqlState != PostgresErrorCodes.UniqueViolation),
        FormatException or InvalidCastException or ArgumentException => true,
        _ => false,
    };

    /// <summary>The names of the daily partitions of <paramref name="table"/> (native layout), oldest first.</summary>
    public async Task<IReadOnlyList<string>> ListPartitionsAsync(string table, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return [.. (await ListPartitionsAsync(connection, table, cancellationToken)).Select(p => p.Name)];
    }

    public async ValueTask DisposeAsync() => await _dataSource.DisposeAsync();

    public void Dispose() => _dataSource.Dispose();

    internal static string PartitionName(string table, DateOnly day) => $"{table}_p{day:yyyyMMdd}";

    private async Task<int> WriteOnceAsync(StoreBatch batch, string layout, CancellationToken cancellationToken)
    {
        if (layout == Partitioning.Native)
        {
            await EnsurePartitionsAsync(batch, cancellationToken);
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        if (!batch.Replay)
        {
            try
            {
                return await WriteFastAsync(connection, batch, layout, cancellationToken);
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
            {
                // Some events were already stored (a redelivery): take the idempotent way.
            }
        }

        return await WriteMergeAsync(connection, batch, layout, cancellationToken);
    }

    private static async Task<int> WriteFastAsync(NpgsqlConnection connection, StoreBatch batch, string layout, CancellationToken cancellationToken)
    {
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await CopyEventsAsync(connection, "frame_events", batch.Events, cancellationToken);
        var storedIds = StoredEventIds(batch.Events);
        await CopyDetectionsAsync(connection, batch.Detections, storedIds, cancellationToken);
        await CopyTracksAsync(connection, "tracked_object_events", batch.TrackEvents, cancellationToken);
        await WriteProjectionAsync(connection, BatchProjection.Of(batch.Events, batch.TrackEvents), layout, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return batch.Events.Count;
    }

    private static async Task<int> WriteMergeAsync(NpgsqlConnection connection, StoreBatch batch, string layout, CancellationToken cancellationToken)
    {
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var newEvents = new List<FrameEvent>(batch.Events.Count);
        if (batch.Events.Count > 0)
        {
            await ExecuteAsync(connection, "CREATE TEMP TABLE stage_frame_events (LIKE frame_events) ON COMMIT DROP;", cancellationToken);
            await CopyEventsAsync(connection, "stage_frame_events", batch.Events, cancellationToken);
            var inserted = await ReadIdsAsync(
                connection, $"INSERT INTO frame_events ({EventCopyColumns}) SELECT {EventCopyColumns} FROM stage_frame_events ON CONFLICT DO NOTHING RETURNING event_id;", cancellationToken);
            foreach (var e in batch.Events)
            {
                // Remove, not Contains: an event twice in the batch (a result journaled or delivered twice) is inserted
                // once, and must be projected (minute stats) and given its detections once.
                if (inserted.Remove(e.EventId))
                {
                    newEvents.Add(e);
                }
            }
        }

        await CopyDetectionsAsync(connection, batch.Detections, StoredEventIds(newEvents), cancellationToken);
        var newTracks = new List<TrackedObjectEvent>(batch.TrackEvents.Count);
        if (batch.TrackEvents.Count > 0)
        {
            await ExecuteAsync(connection, "CREATE TEMP TABLE stage_tracked_object_events (LIKE tracked_object_events) ON COMMIT DROP;", cancellationToken);
            await CopyTracksAsync(connection, "stage_tracked_object_events", batch.TrackEvents, cancellationToken);
            var inserted = await ReadIdsAsync(
                connection, $"INSERT INTO tracked_object_events ({TrackColumns}) SELECT {TrackColumns} FROM stage_tracked_object_events ON CONFLICT DO NOTHING RETURNING event_id;", cancellationToken);
            newTracks.AddRange(batch.TrackEvents.Where(t => inserted.Remove(t.EventId)));
        }

        await WriteProjectionAsync(connection, BatchProjection.Of(newEvents, newTracks), layout, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return newEvents.Count;
    }

    private static HashSet<Guid> StoredEventIds(IReadOnlyList<FrameEvent> events)
    {
        var ids = new HashSet<Guid>();
        foreach (var e in events)
        {
            if (e.Type == FrameEventType.Stored)
            {
                ids.Add(e.EventId);
            }
        }

        return ids;
    }

    private static async Task<HashSet<Guid>> ReadIdsAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        var ids = new HashSet<Guid>();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    private static async Task CopyEventsAsync(NpgsqlConnection connection, string table, IReadOnlyList<FrameEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        await using var importer = await connection.BeginBinaryImportAsync($"COPY {table} ({EventCopyColumns}) FROM STDIN (FORMAT BINARY)", cancellationToken);
        foreach (var e in events)
        {
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(e.EventId, NpgsqlDbType.Uuid, cancellationToken);
            await importer.WriteAsync(e.FrameId.ToString(), NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(e.CameraId, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(e.Type.ToWireName(), NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(e.Timestamp.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
            await importer.WriteAsync(e.Stage, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(e.Service, NpgsqlDbType.Text, cancellationToken);
            if (e.TraceId == default)
            {
                await importer.WriteNullAsync(cancellationToken);
            }
            else
            {
                await importer.WriteAsync(TraceIdToGuid(e.TraceId), NpgsqlDbType.Uuid, cancellationToken);
            }

            if (e.SpanId == default)
            {
                await importer.WriteNullAsync(cancellationToken);
            }
            else
            {
                await importer.WriteAsync(SpanIdToLong(e.SpanId), NpgsqlDbType.Bigint, cancellationToken);
            }

            if (e.Duration is { } d)
            {
                await importer.WriteAsync(d.Ticks / TimeSpan.TicksPerMicrosecond, NpgsqlDbType.Bigint, cancellationToken);
            }
            else
            {
                await importer.WriteNullAsync(cancellationToken);
            }

            await WriteNullableAsync(importer, e.Reason, NpgsqlDbType.Text, cancellationToken);
            await WriteNullableAsync(importer, e.Data, NpgsqlDbType.Json, cancellationToken);
            await importer.WriteAsync(e.FrameId.Timestamp.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
        }

        await importer.CompleteAsync(cancellationToken);
    }

    private static async Task CopyDetectionsAsync(NpgsqlConnection connection, IReadOnlyList<DetectionRecord> detections, HashSet<Guid> newStoredIds, CancellationToken cancellationToken)
    {
        if (detections.Count == 0 || newStoredIds.Count == 0)
        {
            return;
        }

        NpgsqlBinaryImporter? importer = null;
        try
        {
            var ordinals = new Dictionary<Guid, int>();
            foreach (var d in detections)
            {
                if (!newStoredIds.Contains(d.StoredEventId))
                {
                    continue; // the detections came with a stored event this store already had
                }

                importer ??= await connection.BeginBinaryImportAsync($"COPY detections ({DetectionColumns}) FROM STDIN (FORMAT BINARY)", cancellationToken);
                var ordinal = ordinals.GetValueOrDefault(d.StoredEventId);
                ordinals[d.StoredEventId] = ordinal + 1;
                await importer.StartRowAsync(cancellationToken);
                await importer.WriteAsync(d.StoredEventId, NpgsqlDbType.Uuid, cancellationToken);
                await importer.WriteAsync(ordinal, NpgsqlDbType.Integer, cancellationToken);
                await importer.WriteAsync(d.FrameId, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(d.CameraId, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync((FrameTimes.Of(d.FrameId) ?? d.Time).UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
                await importer.WriteAsync(d.Time.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
                await importer.WriteAsync(d.Label, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(d.Confidence, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(d.X, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(d.Y, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(d.Width, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(d.Height, NpgsqlDbType.Real, cancellationToken);
                await WriteNullableAsync(importer, d.Source, NpgsqlDbType.Text, cancellationToken);
                await WriteNullableAsync(importer, d.TrackId, NpgsqlDbType.Text, cancellationToken);
            }

            if (importer is not null)
            {
                await importer.CompleteAsync(cancellationToken);
            }
        }
        finally
        {
            if (importer is not null)
            {
                await importer.DisposeAsync();
            }
        }
    }

    private static async Task CopyTracksAsync(NpgsqlConnection connection, string table, IReadOnlyList<TrackedObjectEvent> tracks, CancellationToken cancellationToken)
    {
        if (tracks.Count == 0)
        {
            return;
        }

        await using var importer = await connection.BeginBinaryImportAsync($"COPY {table} ({TrackColumns}) FROM STDIN (FORMAT BINARY)", cancellationToken);
        foreach (var t in tracks)
        {
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(t.EventId, NpgsqlDbType.Uuid, cancellationToken);
            await importer.WriteAsync(t.ObjectId, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(t.CameraId, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(t.Type.ToWireName(), NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(t.Time.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
            await WriteNullableAsync(importer, t.FrameId, NpgsqlDbType.Text, cancellationToken);
            await WriteNullableAsync(importer, t.TraceId, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(t.Label, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(t.Score, NpgsqlDbType.Real, cancellationToken);
            await WriteNullableAsync(importer, t.SnapshotPath, NpgsqlDbType.Text, cancellationToken);
            await WriteNullableAsync(importer, t.Data, NpgsqlDbType.Json, cancellationToken);
        }

        await importer.CompleteAsync(cancellationToken);
    }

    private static async Task WriteNullableAsync(NpgsqlBinaryImporter importer, string? value, NpgsqlDbType type, CancellationToken cancellationToken)
    {
        if (value is null)
        {
            await importer.WriteNullAsync(cancellationToken);
        }
        else
        {
            await importer.WriteAsync(value, type, cancellationToken);
        }
    }

    /// <summary>The per-minute stats (native layout; TimescaleDB computes them as continuous aggregates) and tracked objects, in one round trip.</summary>
    private static async Task WriteProjectionAsync(NpgsqlConnection connection, BatchProjection projection, string layout, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        if (layout != Partitioning.TimescaleDb && projection.MinuteCount > 0)
        {
            var minutes = projection.Minutes.ToList();
            batch.BatchCommands.Add(Command(
                """
                INSERT INTO camera_minute_stats AS s
                    (camera_id, minute, frames, stored, skipped, dropped, failed, detections, latency_count, latency_sum_ms, latency_max_ms)
                SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                                     $8::bigint[], $9::bigint[], $10::float8[], $11::float8[])
                ON CONFLICT (camera_id, minute) DO UPDATE SET
                    frames = s.frames + excluded.frames,
                    stored = s.stored + excluded.stored,
                    skipped = s.skipped + excluded.skipped,
                    dropped = s.dropped + excluded.dropped,
                    failed = s.failed + excluded.failed,
                    detections = s.detections + excluded.detections,
                    latency_count = s.latency_count + excluded.latency_count,
                    latency_sum_ms = s.latency_sum_ms + excluded.latency_sum_ms,
                    latency_max_ms = greatest(s.latency_max_ms, excluded.latency_max_ms);
                """,
                minutes.Select(m => m.Key.CameraId).ToArray(),
                minutes.Select(m => FrameTimes.FromMicros(m.Key.MinuteMicros).UtcDateTime).ToArray(),
                minutes.Select(m => m.Value.Frames).ToArray(),
                minutes.Select(m => m.Value.Stored).ToArray(),
                minutes.Select(m => m.Value.Skipped).ToArray(),
                minutes.Select(m => m.Value.Dropped).ToArray(),
                minutes.Select(m => m.Value.Failed).ToArray(),
                minutes.Select(m => m.Value.Detections).ToArray(),
                minutes.Select(m => m.Value.LatencyCount).ToArray(),
                minutes.Select(m => m.Value.LatencySumMs).ToArray(),
                minutes.Select(m => m.Value.LatencyCount > 0 ? m.Value.LatencyMaxMs : (double?)null).ToArray()));

            var reasons = projection.Reasons.ToList();
            if (reasons.Count > 0)
            {
                batch.BatchCommands.Add(Command(
                    """
                    INSERT INTO camera_minute_reasons AS r (camera_id, minute, type, reason, count)
                    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::bigint[])
                    ON CONFLICT (camera_id, minute, type, reason) DO UPDATE SET count = r.count + excluded.count;
                    """,
                    reasons.Select(r => r.Key.CameraId).ToArray(),
                    reasons.Select(r => FrameTimes.FromMicros(r.Key.MinuteMicros).UtcDateTime).ToArray(),
                    reasons.Select(r => r.Key.Type).ToArray(),
                    reasons.Select(r => r.Key.Reason).ToArray(),
                    reasons.Select(r => r.Value).ToArray()));
            }

            var latency = projection.Latency.ToList();
            if (latency.Count > 0)
            {
                batch.BatchCommands.Add(Command(
                    """
                    INSERT INTO camera_minute_latency AS l (camera_id, minute, bucket, count)
                    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::smallint[], $4::bigint[])
                    ON CONFLICT (camera_id, minute, bucket) DO UPDATE SET count = l.count + excluded.count;
                    """,
                    latency.Select(l => l.Key.CameraId).ToArray(),
                    latency.Select(l => FrameTimes.FromMicros(l.Key.MinuteMicros).UtcDateTime).ToArray(),
                    latency.Select(l => (short)l.Key.Bucket).ToArray(),
                    latency.Select(l => l.Value).ToArray()));
            }
        }

        var objects = projection.Objects.ToList();
        if (objects.Count > 0)
        {
            batch.BatchCommands.Add(Command(
                """
                INSERT INTO tracked_objects AS o
                    (object_id, camera_id, label, first_seen, last_seen, best_score, best_snapshot_path, best_frame_id, state, event_count)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::real[], $7::text[],
                                     $8::text[], $9::text[], $10::int[])
                ON CONFLICT (object_id) DO UPDATE SET
                    label = CASE WHEN excluded.last_seen >= o.last_seen THEN excluded.label ELSE o.label END,
                    first_seen = least(o.first_seen, excluded.first_seen),
                    last_seen = greatest(o.last_seen, excluded.last_seen),
                    best_snapshot_path = CASE WHEN excluded.best_score > o.best_score THEN excluded.best_snapshot_path ELSE o.best_snapshot_path END,
                    best_frame_id = CASE WHEN excluded.best_score > o.best_score THEN excluded.best_frame_id ELSE o.best_frame_id END,
                    best_score = greatest(o.best_score, excluded.best_score),
                    state = CASE WHEN excluded.state = 'left' THEN 'left' ELSE o.state END,
                    event_count = o.event_count + excluded.event_count;
                """,
                objects.Select(o => o.ObjectId).ToArray(),
                objects.Select(o => o.CameraId).ToArray(),
                objects.Select(o => o.Label).ToArray(),
                objects.Select(o => o.FirstSeen.UtcDateTime).ToArray(),
                objects.Select(o => o.LastSeen.UtcDateTime).ToArray(),
                objects.Select(o => o.BestScore).ToArray(),
                objects.Select(o => o.BestSnapshotPath).ToArray(),
                objects.Select(o => o.BestFrameId).ToArray(),
                objects.Select(o => o.State).ToArray(),
                objects.Select(o => o.Count).ToArray()));
        }

        if (batch.BatchCommands.Count > 0)
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private static async Task ApplyAsync(NpgsqlConnection connection, PostgresSchema.Migration migration, string layout, CancellationToken cancellationToken)
    {
        var statements = migration.Statements(layout);
        if (migration.Transactional(layout))
        {
            await using var tx = await connection.BeginTransactionAsync(cancellationToken);
            foreach (var sql in statements)
            {
                await ExecuteAsync(connection, sql, cancellationToken);
            }

            await RecordMigrationAsync(connection, migration, cancellationToken);
            await tx.CommitAsync(cancellationToken);
            return;
        }

        // Statements that cannot run in a transaction (continuous aggregates) are each idempotent on their own.
        foreach (var sql in statements)
        {
            await ExecuteAsync(connection, sql, cancellationToken);
        }

        await RecordMigrationAsync(connection, migration, cancellationToken);
    }

    private static async Task RecordMigrationAsync(NpgsqlConnection connection, PostgresSchema.Migration migration, CancellationToken cancellationToken)
    {
        await using var record = Command(connection, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING;", migration.Version, migration.Name);
        await record.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<(bool Available, string? Version)> DetectTimescaleAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT coalesce(installed_version, default_version) FROM pg_available_extensions WHERE name = 'timescaledb';", connection);
        var version = await command.ExecuteScalarAsync(cancellationToken) as string;
        return (version is not null, version);
    }

    private async Task<(string Layout, string? Note)> ChooseLayoutAsync(NpgsqlConnection connection, bool available, CancellationToken cancellationToken)
    {
        if (_settings.TimescaleDb == TimescaleModes.Off)
        {
            return (Partitioning.Native, available ? "TimescaleDB is available but turned off (Detektor:Storage:TimescaleDb=off)." : null);
        }

        if (!available)
        {
            return (Partitioning.Native, "TimescaleDB is not installed on the server; using native partitioning by day.");
        }

        try
        {
            await ExecuteAsync(connection, "CREATE EXTENSION IF NOT EXISTS timescaledb;", cancellationToken);
            await using var license = new NpgsqlCommand("SELECT current_setting('timescaledb.license', true);", connection);
            if (await license.ExecuteScalarAsync(cancellationToken) is "apache")
            {
                return (Partitioning.Native, "TimescaleDB runs under the Apache license (no compression or continuous aggregates); using native partitioning by day.");
            }

            return (Partitioning.TimescaleDb, null);
        }
        catch (PostgresException ex)
        {
            var note = $"TimescaleDB is available but could not be enabled ({SecretMasker.MaskSecrets(ex.MessageText)}); using native partitioning by day.";
            Log.TimescaleUnavailable(_logger, note);
            return (Partitioning.Native, note);
        }
    }

    private async Task ApplyTimescalePoliciesAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        // Re-applied at every start, so changed retention settings take effect.
        var events = TimeSpan.FromDays(_settings.EventsRetentionDays);
        var detections = TimeSpan.FromDays(_settings.DetectionsRetentionDays);
        var stats = TimeSpan.FromDays(_settings.StatsRetentionDays);
        var compress = TimeSpan.FromDays(_settings.CompressAfterDays);
        var refreshFrom = TimeSpan.FromDays(Math.Max(1, _settings.EventsRetentionDays - 1));
        foreach (var (table, _) in PostgresSchema.PartitionedTables)
        {
            var retention = table == "detections" ? detections : events;
            await ExecuteAsync(connection, $"SELECT remove_retention_policy('{table}', if_exists => true);", cancellationToken);
            await using (var add = Command(connection, $"SELECT add_retention_policy('{table}', drop_after => $1);", retention))
            {
                await add.ExecuteNonQueryAsync(cancellationToken);
            }

            await ExecuteAsync(connection, $"SELECT remove_compression_policy('{table}', if_exists => true);", cancellationToken);
            await using (var add = Command(connection, $"SELECT add_compression_policy('{table}', compress_after => $1);", compress))
            {
                await add.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        foreach (var view in PostgresSchema.StatsTables)
        {
            await ExecuteAsync(connection, $"SELECT remove_continuous_aggregate_policy('{view}', if_exists => true);", cancellationToken);
            await using (var add = Command(
                connection,
                $"SELECT add_continuous_aggregate_policy('{view}', start_offset => $1, end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute');",
                refreshFrom))
            {
                await add.ExecuteNonQueryAsync(cancellationToken);
            }

            await ExecuteAsync(connection, $"SELECT remove_retention_policy('{view}', if_exists => true);", cancellationToken);
            await using (var add = Command(connection, $"SELECT add_retention_policy('{view}', drop_after => $1);", stats))
            {
                await add.ExecuteNonQueryAsync(cancellationToken);
            }
        }
    }

    private async Task<string> GetLayoutAsync(CancellationToken cancellationToken)
    {
        if (_layout is not null)
        {
            return _layout;
        }

        // A process that reads or writes without migrating (an API-only role) learns the layout from the database.
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        _layout = await ReadSettingAsync(connection, "layout", cancellationToken)
            ?? throw new InvalidOperationException($"The event store on {_description} has no schema yet; run 'detektor db migrate' or start the store role.");
        return _layout;
    }

    private static async Task<string?> ReadSettingAsync(NpgsqlConnection connection, string key, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, "SELECT value FROM store_settings WHERE key = $1;", key);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    private async Task EnsurePartitionsAsync(StoreBatch batch, CancellationToken cancellationToken)
    {
        List<(string Table, DateOnly Day)>? missing = null;
        void Need(string table, DateTimeOffset time)
        {
            var day = DateOnly.FromDateTime(time.UtcDateTime);
            if (!_partitions.ContainsKey(PartitionName(table, day)) && !(missing ??= []).Contains((table, day)))
            {
                missing.Add((table, day));
            }
        }

        foreach (var e in batch.Events)
        {
            Need("frame_events", e.FrameId.Timestamp);
        }

        foreach (var d in batch.Detections)
        {
            Need("detections", FrameTimes.Of(d.FrameId) ?? d.Time);
        }

        foreach (var t in batch.TrackEvents)
        {
            Need("tracked_object_events", t.Time);
        }

        if (missing is null)
        {
            return;
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        foreach (var (table, day) in missing)
        {
            await CreatePartitionAsync(connection, table, day, cancellationToken);
        }
    }

    private async Task EnsurePartitionsAheadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime);
        foreach (var (table, _) in PostgresSchema.PartitionedTables)
        {
            for (var i = 0; i <= _settings.PartitionsAhead; i++)
            {
                await CreatePartitionAsync(connection, table, today.AddDays(i), cancellationToken);
            }
        }
    }

    private async Task CreatePartitionAsync(NpgsqlConnection connection, string table, DateOnly day, CancellationToken cancellationToken)
    {
        var name = PartitionName(table, day);
        if (_partitions.ContainsKey(name))
        {
            return;
        }

        var from = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var to = day.AddDays(1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        try
        {
            await ExecuteAsync(
                connection,
                $"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} FOR VALUES FROM ('{from} 00:00:00+00') TO ('{to} 00:00:00+00');",
                cancellationToken);
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.DuplicateTable or PostgresErrorCodes.UniqueViolation)
        {
            // Another writer created it at the same moment.
        }

        _partitions.TryAdd(name, 0);
    }

    private static async Task<List<(string Name, DateOnly Day)>> ListPartitionsAsync(NpgsqlConnection connection, string table, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, """
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace
            ORDER BY c.relname;
            """, table);
        var result = new List<(string, DateOnly)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var prefix = table + "_p";
        while (await reader.ReadAsync(cancellationToken))
        {
            var name = reader.GetString(0);
            // Only partitions this store made (name_pYYYYMMDD) are ever dropped.
            if (name.StartsWith(prefix, StringComparison.Ordinal) &&
                DateOnly.TryParseExact(name.AsSpan(prefix.Length), "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            {
                result.Add((name, day));
            }
        }

        return result;
    }

    private async Task<int> DropPartitionsAsync(NpgsqlConnection connection, string table, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        var dropped = 0;
        foreach (var (name, day) in await ListPartitionsAsync(connection, table, cancellationToken))
        {
            // A partition goes when all of it is older than the cutoff (as TimescaleDB's drop_chunks does).
            var end = new DateTimeOffset(day.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            if (end > cutoff)
            {
                continue;
            }

            await ExecuteAsync(connection, $"DROP TABLE IF EXISTS {name};", cancellationToken);
            _partitions.TryRemove(name, out _);
            dropped++;
        }

        return dropped;
    }

    private static async Task<int> DropChunksAsync(NpgsqlConnection connection, string table, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, $"SELECT count(*) FROM drop_chunks('{table}', older_than => $1);", cutoff);
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private static async Task<long> DeleteAsync(NpgsqlConnection connection, string sql, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, sql, cutoff);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static void AppendFrameRange(StringBuilder sql, NpgsqlCommand command, DateTimeOffset? from, DateTimeOffset? to)
    {
        // Both the frame id bound (for the index) and the frame_time bound (for partition pruning).
        if (from is { } f)
        {
            sql.Append(" AND frame_id >= ").Append(Add(command, FrameId.TimestampPrefix(f)));
            sql.Append(" AND frame_time >= ").Append(Add(command, FrameTimes.FromMicros(FrameTimes.ToMicros(f))));
        }

        if (to is { } t)
        {
            sql.Append(" AND frame_id < ").Append(Add(command, FrameId.TimestampPrefix(t)));
            sql.Append(" AND frame_time < ").Append(Add(command, FrameTimes.FromMicros(FrameTimes.ToMicros(t)) + TimeSpan.FromMicroseconds(1)));
        }
    }

    private static string Add(NpgsqlCommand command, object value)
    {
        command.Parameters.Add(new NpgsqlParameter { Value = Normalize(value) });
        return "$" + command.Parameters.Count.ToString(CultureInfo.InvariantCulture);
    }

    private static object Normalize(object value) => value is DateTimeOffset dto ? dto.ToUniversalTime() : value;

    private static NpgsqlBatchCommand Command(string sql, params object?[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value is null ? DBNull.Value : Normalize(value) });
        }

        return command;
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, params object?[] values)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value is null ? DBNull.Value : Normalize(value) });
        }

        return command;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static FrameEvent ReadEvent(NpgsqlDataReader r)
    {
        if (!FrameEventTypes.TryParse(r.GetString(3), out var type))
        {
            throw new InvalidDataException($"Unknown event type '{r.GetString(3)}' in frame_events.");
        }

        return new FrameEvent
        {
            EventId = r.GetGuid(0),
            FrameId = FrameId.Parse(r.GetString(1)),
            CameraId = r.GetString(2),
            Type = type,
            Timestamp = r.GetFieldValue<DateTimeOffset>(4),
            Stage = r.GetString(5),
            Service = r.GetString(6),
            TraceId = r.IsDBNull(7) ? default : GuidToTraceId(r.GetGuid(7)),
            SpanId = r.IsDBNull(8) ? default : LongToSpanId(r.GetInt64(8)),
            Duration = r.IsDBNull(9) ? null : TimeSpan.FromTicks(r.GetInt64(9) * TimeSpan.TicksPerMicrosecond),
            Reason = r.IsDBNull(10) ? null : r.GetString(10),
            Data = r.IsDBNull(11) ? null : r.GetString(11),
        };
    }

    /// <summary>A W3C trace id is 16 bytes: stored as a uuid whose text is the trace id's hex (with dashes).</summary>
    public static Guid TraceIdToGuid(ActivityTraceId traceId)
    {
        Span<byte> bytes = stackalloc byte[16];
        traceId.CopyTo(bytes);
        return new Guid(bytes, bigEndian: true);
    }

    public static ActivityTraceId GuidToTraceId(Guid value)
    {
        Span<byte> bytes = stackalloc byte[16];
        value.TryWriteBytes(bytes, bigEndian: true, out _);
        return ActivityTraceId.CreateFromBytes(bytes);
    }

    /// <summary>A span id is 8 bytes: stored as a bigint (big-endian).</summary>
    public static long SpanIdToLong(ActivitySpanId spanId)
    {
        Span<byte> bytes = stackalloc byte[8];
        spanId.CopyTo(bytes);
        return BinaryPrimitives.ReadInt64BigEndian(bytes);
    }

    public static ActivitySpanId LongToSpanId(long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        return ActivitySpanId.CreateFromBytes(bytes);
    }
}
