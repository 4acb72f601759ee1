using System.Diagnostics;
using System.Globalization;
using System.Text;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Storage.Abstractions;
using Microsoft.Data.Sqlite;

namespace Detektor.Storage.Sqlite;

/// <summary>
/// The embedded event store: one SQLite file in WAL mode. Writes go through one connection with prepared statements, one
/// transaction per batch; reads use pooled connections and never block the writer. Retention deletes rows in chunks.
/// </summary>
public sealed class SqliteEventStore : IEventStore, IDisposable
{
    private readonly SqliteStoreSettings _settings;
    private const string EventColumns = "event_id, frame_id, camera_id, type, time_us, stage, service, trace_id, span_id, duration_us, reason, data";
    private const string ObjectColumns =
        "object_id, camera_id, label, first_seen_us, last_seen_us, best_score, best_snapshot_path, best_frame_id, state, event_count";

    private const string TrackColumns = "event_id, object_id, camera_id, type, time_us, frame_id, trace_id, label, score, snapshot_path, data";
    private const int DeleteChunk = 10_000;

    private readonly string _connectionString;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private SqliteConnection? _writer;
    private WriterCommands? _commands;
    private int _schemaVersion;
    private string? _sqliteVersion;

    public SqliteEventStore(string path, TimeProvider? time = null, SqliteStoreSettings? settings = null)
    {
        _settings = settings ?? new SqliteStoreSettings();
        ArgumentOutOfRangeException.ThrowIfLessThan(_settings.CacheMegabytes, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(_settings.MmapMegabytes);
        _time = time ?? TimeProvider.System;
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        Path = full;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Provider => "sqlite";

    public string Path { get; }

    public StoreInfo Info => new(Provider, Partitioning.None, _schemaVersion, _sqliteVersion, false, null, null, Path);

    public async Task<MigrationResult> MigrateAsync(CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            ResetWriter(); // prepared statements must see the new schema
            await using var connection = await OpenAsync(cancellationToken);
            await ExecuteAsync(connection, "PRAGMA journal_mode = WAL;", cancellationToken);
            _sqliteVersion = connection.ServerVersion;
            await ExecuteAsync(connection, """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    INTEGER NOT NULL PRIMARY KEY,
                    name       TEXT    NOT NULL,
                    applied_us INTEGER NOT NULL
                );
                """, cancellationToken);

            var applied = new HashSet<int>();
            await using (var query = connection.CreateCommand())
            {
                query.CommandText = "SELECT version FROM schema_migrations;";
                await using var reader = await query.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    applied.Add(reader.GetInt32(0));
                }
            }

            var done = new List<string>();
            foreach (var (version, name, sql) in SqliteMigrations.All)
            {
                if (applied.Contains(version))
                {
                    continue;
                }

                // BEGIN IMMEDIATE: a second process migrating the same file waits here instead of failing half-way.
                await using var tx = connection.BeginTransaction(deferred: false);
                await using (var check = connection.CreateCommand())
                {
                    check.Transaction = tx;
                    check.CommandText = "SELECT count(*) FROM schema_migrations WHERE version = $v;";
                    check.Parameters.AddWithValue("$v", version);
                    if (Convert.ToInt64(await check.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture) > 0)
                    {
                        continue;
                    }
                }

                await using (var command = connection.CreateCommand())
                {
                    command.Transaction = tx;
                    command.CommandText = sql;
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }

                await using (var record = connection.CreateCommand())
                {
                    record.Transaction = tx;
                    record.CommandText = "INSERT INTO schema_migrations (version, name, applied_us) VALUES ($v, $n, $t);";
                    record.Parameters.AddWithValue("$v", version);
                    record.Parameters.AddWithValue("$n", name);
                    record.Parameters.AddWithValue("$t", FrameTimes.ToMicros(_time.GetUtcNow()));
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }

                await tx.CommitAsync(cancellationToken);
                done.Add($"{version}: {name}");
            }

            _schemaVersion = SqliteMigrations.All[^1].Version;
            return new MigrationResult(done, Info);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task<int> WriteAsync(StoreBatch batch, CancellationToken cancellationToken = default)
    {
        if (batch.Events.Count == 0 && batch.Detections.Count == 0 && batch.TrackEvents.Count == 0)
        {
            return 0;
        }

        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            var c = await GetWriterAsync(cancellationToken);
            using var tx = _writer!.BeginTransaction();
            try
            {
                c.Enlist(tx);
                var newEvents = new List<FrameEvent>(batch.Events.Count);
                HashSet<Guid>? newStoredEvents = null;
                foreach (var e in batch.Events)
                {
                    BindEvent(c.InsertEvent, e);
                    if (c.InsertEvent.ExecuteNonQuery() == 0)
                    {
                        continue; // already stored: idempotent replay
                    }

                    newEvents.Add(e);
                    if (e.Type == FrameEventType.Stored)
                    {
                        (newStoredEvents ??= []).Add(e.EventId);
                    }
                }

                foreach (var d in batch.Detections)
                {
                    if (newStoredEvents is null || !newStoredEvents.Contains(d.StoredEventId))
                    {
                        continue; // the detections came with a stored event this store already had
                    }

                    BindDetection(c.InsertDetection, d);
                    c.InsertDetection.ExecuteNonQuery();
                }

                var newTracks = new List<TrackedObjectEvent>();
                foreach (var t in batch.TrackEvents)
                {
                    BindTrack(c.InsertTrack, t);
                    if (c.InsertTrack.ExecuteNonQuery() > 0)
                    {
                        newTracks.Add(t);
                    }
                }

                WriteProjection(c, BatchProjection.Of(newEvents, newTracks));
                tx.Commit();
                return newEvents.Count;
            }
            catch
            {
                tx.Rollback();
                throw;
            }
        }
        catch (SqliteException)
        {
            // A broken connection is rebuilt on the next write.
            ResetWriter();
            throw;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task<FrameJourney?> GetJourneyAsync(string frameId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var events = new List<FrameEvent>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT {EventColumns} FROM frame_events WHERE frame_id = $id;";
            command.Parameters.AddWithValue("$id", frameId);
            await ReadEventsAsync(command, events, cancellationToken);
        }

        if (events.Count == 0)
        {
            return null;
        }

        var detections = new List<DetectionRecord>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT frame_id, camera_id, time_us, label, confidence, x, y, w, h, source, track_id, stored_event_id
                FROM detections WHERE frame_id = $id ORDER BY id;
                """;
            command.Parameters.AddWithValue("$id", frameId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                detections.Add(new DetectionRecord(
                    reader.GetString(0), reader.GetString(1), FrameTimes.FromMicros(reader.GetInt64(2)), reader.GetString(3),
                    reader.GetFloat(4), reader.GetFloat(5), reader.GetFloat(6), reader.GetFloat(7), reader.GetFloat(8),
                    reader.IsDBNull(9) ? null : reader.GetString(9), reader.IsDBNull(10) ? null : reader.GetString(10),
                    Guid.Parse(reader.GetString(11))));
            }
        }

        return FrameStateRules.Journey(frameId, events, detections);
    }

    public async Task<FramePage> QueryFramesAsync(FrameQuery query, CancellationToken cancellationToken = default)
    {
        var limit = Math.Clamp(query.Limit, 1, FrameQuery.MaxLimit);
        await using var connection = await OpenAsync(cancellationToken);
        var ids = new List<string>(limit + 1);
        await using (var command = connection.CreateCommand())
        {
            var sql = new StringBuilder("SELECT DISTINCT frame_id FROM frame_events WHERE 1 = 1");
            if (query.CameraId is not null)
            {
                sql.Append(" AND camera_id = $camera");
                command.Parameters.AddWithValue("$camera", query.CameraId);
            }

            if (query.TraceId is not null)
            {
                sql.Append(" AND trace_id = $trace");
                command.Parameters.AddWithValue("$trace", query.TraceId);
            }

            AppendFrameRange(sql, command, query.From, query.To);
            if (query.Before is not null)
            {
                sql.Append(" AND frame_id < $before");
                command.Parameters.AddWithValue("$before", query.Before);
            }

            sql.Append(" ORDER BY frame_id DESC LIMIT $limit;");
            command.Parameters.AddWithValue("$limit", limit + 1);
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
            await using var command = connection.CreateCommand();
            var sql = new StringBuilder($"SELECT {EventColumns} FROM frame_events WHERE frame_id IN (");
            for (var i = 0; i < ids.Count; i++)
            {
                var name = "$f" + i.ToString(CultureInfo.InvariantCulture);
                sql.Append(i == 0 ? name : "," + name);
                command.Parameters.AddWithValue(name, ids[i]);
            }

            command.CommandText = sql.Append(");").ToString();
            await ReadEventsAsync(command, events, cancellationToken);
        }

        return FramePages.Build(ids, events, limit);
    }

    public async Task<EventPage> QueryEventsAsync(EventQuery query, CancellationToken cancellationToken = default)
    {
        var limit = Math.Clamp(query.Limit, 1, EventQuery.MaxLimit);
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder($"SELECT {EventColumns} FROM frame_events WHERE camera_id = $camera");
        command.Parameters.AddWithValue("$camera", query.CameraId);
        AppendFrameRange(sql, command, query.From, query.To);
        if (query.After is { } after)
        {
            sql.Append(" AND (frame_id, event_id) > ($afterFrame, $afterEvent)");
            command.Parameters.AddWithValue("$afterFrame", after.FrameId);
            command.Parameters.AddWithValue("$afterEvent", after.EventId.ToString("D"));
        }

        sql.Append(" ORDER BY frame_id, event_id LIMIT $limit;");
        command.Parameters.AddWithValue("$limit", limit + 1);
        command.CommandText = sql.ToString();
        var items = new List<FrameEvent>(Math.Min(limit + 1, 1024));
        await ReadEventsAsync(command, items, cancellationToken);
        return EventPage.From(items, limit);
    }

    public async Task<IReadOnlyList<StatsBucket>> GetStatsAsync(StatsQuery query, CancellationToken cancellationToken = default)
    {
        var intervalMicros = query.IntervalSeconds * 1_000_000;
        var builder = new StatsBuilder(query.Interval);
        await using var connection = await OpenAsync(cancellationToken);

        await using (var command = StatsCommand(connection, query, """
            SELECT b, sum(frames), sum(stored), sum(skipped), sum(dropped), sum(failed), sum(detections),
                   sum(latency_count), sum(latency_sum_ms), max(latency_max_ms)
            FROM (SELECT minute_us - (minute_us % $interval) AS b, * FROM camera_minute_stats {0}) GROUP BY b;
            """, intervalMicros))
        {
            await using var r = await command.ExecuteReaderAsync(cancellationToken);
            await builder.ReadCountsAsync(r, cancellationToken);
        }

        await using (var command = StatsCommand(connection, query, """
            SELECT minute_us - (minute_us % $interval) AS b, type, reason, sum(count)
            FROM camera_minute_reasons {0} GROUP BY b, type, reason;
            """, intervalMicros))
        {
            await using var r = await command.ExecuteReaderAsync(cancellationToken);
            await builder.ReadReasonsAsync(r, cancellationToken);
        }

        await using (var command = StatsCommand(connection, query, """
            SELECT minute_us - (minute_us % $interval) AS b, bucket, sum(count)
            FROM camera_minute_latency {0} GROUP BY b, bucket;
            """, intervalMicros))
        {
            await using var r = await command.ExecuteReaderAsync(cancellationToken);
            await builder.ReadLatencyAsync(r, cancellationToken);
        }

        return builder.Build();
    }

    public async Task<TrackedObjectPage> QueryTrackedObjectsAsync(TrackedObjectQuery query, CancellationToken cancellationToken = default)
    {
        var limit = Math.Clamp(query.Limit, 1, TrackedObjectQuery.MaxLimit);
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder($"SELECT {ObjectColumns} FROM tracked_objects WHERE 1 = 1");
        if (query.CameraId is not null)
        {
            sql.Append(" AND camera_id = $camera");
            command.Parameters.AddWithValue("$camera", query.CameraId);
        }

        if (query.Label is not null)
        {
            sql.Append(" AND label = $label");
            command.Parameters.AddWithValue("$label", query.Label);
        }

        if (query.From is { } from)
        {
            sql.Append(" AND last_seen_us >= $from");
            command.Parameters.AddWithValue("$from", FrameTimes.ToMicros(from));
        }

        if (query.To is { } to)
        {
            sql.Append(" AND first_seen_us < $to");
            command.Parameters.AddWithValue("$to", FrameTimes.ToMicros(to));
        }

        if (query.Cursor is { } cursor)
        {
            sql.Append(" AND (first_seen_us < $cursorTime OR (first_seen_us = $cursorTime AND object_id < $cursorId))");
            command.Parameters.AddWithValue("$cursorTime", FrameTimes.ToMicros(cursor.FirstSeen));
            command.Parameters.AddWithValue("$cursorId", cursor.ObjectId);
        }

        sql.Append(" ORDER BY first_seen_us DESC, object_id DESC LIMIT $limit;");
        command.Parameters.AddWithValue("$limit", limit + 1);
        command.CommandText = sql.ToString();
        var rows = new List<TrackedObject>(Math.Min(limit + 1, 256));
        await using var r = await command.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            rows.Add(ReadObject(r));
        }

        return TrackedObjectPage.From(rows, limit);
    }

    public async Task<TrackedObjectHistory?> GetTrackedObjectAsync(string objectId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        TrackedObject? tracked = null;
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT {ObjectColumns} FROM tracked_objects WHERE object_id = $id;";
            command.Parameters.AddWithValue("$id", objectId);
            await using var r = await command.ExecuteReaderAsync(cancellationToken);
            if (await r.ReadAsync(cancellationToken))
            {
                tracked = ReadObject(r);
            }
        }

        if (tracked is null)
        {
            return null;
        }

        var events = new List<TrackedObjectEvent>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT {TrackColumns} FROM tracked_object_events WHERE object_id = $id ORDER BY time_us, event_id;";
            command.Parameters.AddWithValue("$id", objectId);
            await using var r = await command.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                events.Add(ReadTrack(r));
            }
        }

        return new TrackedObjectHistory(tracked, events);
    }

    public async Task<PruneResult> PruneAsync(RetentionCutoffs cutoffs, CancellationToken cancellationToken = default)
    {
        var eventsBefore = FrameId.TimestampPrefix(cutoffs.Events);
        var events = FrameTimes.ToMicros(cutoffs.Events);
        var detections = FrameTimes.ToMicros(cutoffs.Detections);
        var stats = FrameTimes.ToMicros(cutoffs.Stats);
        var deleted = new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["frame_events"] = await DeleteInChunksAsync("frame_events", "event_id", "frame_id < $cutoff", eventsBefore, cancellationToken),
            ["tracked_object_events"] = await DeleteInChunksAsync("tracked_object_events", "event_id", "time_us < $cutoff", events, cancellationToken),
            ["tracked_objects"] = await DeleteInChunksAsync("tracked_objects", "object_id", "last_seen_us < $cutoff", events, cancellationToken),
            ["detections"] = await DeleteInChunksAsync("detections", "id", "time_us < $cutoff", detections, cancellationToken),
            ["camera_minute_stats"] = await DeleteInChunksAsync("camera_minute_stats", "rowid", "minute_us < $cutoff", stats, cancellationToken, withoutRowId: true),
            ["camera_minute_reasons"] = await DeleteInChunksAsync("camera_minute_reasons", "rowid", "minute_us < $cutoff", stats, cancellationToken, withoutRowId: true),
            ["camera_minute_latency"] = await DeleteInChunksAsync("camera_minute_latency", "rowid", "minute_us < $cutoff", stats, cancellationToken, withoutRowId: true),
        };
        return new PruneResult(deleted, new Dictionary<string, int>());
    }

    public async Task PingAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(connection, "SELECT 1;", cancellationToken);
    }

    /// <summary>Constraint and type errors come from the data; busy, locked, I/O and full-disk errors from the moment.</summary>
    public bool IsPermanentFailure(Exception exception) => exception switch
    {
        SqliteException { SqliteErrorCode: 19 or 20 or 25 } => true, // SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_RANGE
        FormatException or InvalidCastException => true,
        _ => false,
    };

    public void Dispose()
    {
        ResetWriter();
        _writeLock.Dispose();
    }

    private static void AppendFrameRange(StringBuilder sql, SqliteCommand command, DateTimeOffset? from, DateTimeOffset? to)
    {
        if (from is { } f)
        {
            sql.Append(" AND frame_id >= $from");
            command.Parameters.AddWithValue("$from", FrameId.TimestampPrefix(f));
        }

        if (to is { } t)
        {
            sql.Append(" AND frame_id < $to");
            command.Parameters.AddWithValue("$to", FrameId.TimestampPrefix(t));
        }
    }

    private static SqliteCommand StatsCommand(SqliteConnection connection, StatsQuery query, string sqlFormat, long intervalMicros)
    {
        var command = connection.CreateCommand();
        var where = "WHERE minute_us >= $from AND minute_us < $to" + (query.CameraId is null ? string.Empty : " AND camera_id = $camera");
        command.CommandText = string.Format(CultureInfo.InvariantCulture, sqlFormat, where);
        command.Parameters.AddWithValue("$interval", intervalMicros);
        command.Parameters.AddWithValue("$from", FrameTimes.ToMicros(query.From));
        command.Parameters.AddWithValue("$to", FrameTimes.ToMicros(query.To));
        if (query.CameraId is not null)
        {
            command.Parameters.AddWithValue("$camera", query.CameraId);
        }

        return command;
    }

    private async Task<long> DeleteInChunksAsync(string table, string key, string condition, object cutoff, CancellationToken cancellationToken, bool withoutRowId = false)
    {
        // Small transactions, so the writer is never held up for long; WITHOUT ROWID tables are deleted by their condition directly.
        var sql = withoutRowId
            ? $"DELETE FROM {table} WHERE {condition};"
            : $"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {condition} LIMIT {DeleteChunk});";
        long total = 0;
        while (true)
        {
            int n;
            await _writeLock.WaitAsync(cancellationToken);
            try
            {
                await using var connection = await OpenAsync(cancellationToken);
                await using var command = connection.CreateCommand();
                command.CommandText = sql;
                command.Parameters.AddWithValue("$cutoff", cutoff);
                n = await command.ExecuteNonQueryAsync(cancellationToken);
            }
            finally
            {
                _writeLock.Release();
            }

            total += n;
            if (withoutRowId || n < DeleteChunk)
            {
                return total;
            }
        }
    }

    private static async Task ReadEventsAsync(SqliteCommand command, List<FrameEvent> into, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            into.Add(ReadEvent(reader));
        }
    }

    private static FrameEvent ReadEvent(SqliteDataReader r)
    {
        if (!FrameEventTypes.TryParse(r.GetString(3), out var type))
        {
            throw new InvalidDataException($"Unknown event type '{r.GetString(3)}' in frame_events.");
        }

        return new FrameEvent
        {
            EventId = Guid.Parse(r.GetString(0)),
            FrameId = FrameId.Parse(r.GetString(1)),
            CameraId = r.GetString(2),
            Type = type,
            Timestamp = FrameTimes.FromMicros(r.GetInt64(4)),
            Stage = r.GetString(5),
            Service = r.GetString(6),
            TraceId = r.IsDBNull(7) ? default : ActivityTraceId.CreateFromString(r.GetString(7)),
            SpanId = r.IsDBNull(8) ? default : ActivitySpanId.CreateFromString(r.GetString(8)),
            Duration = r.IsDBNull(9) ? null : TimeSpan.FromTicks(r.GetInt64(9) * TimeSpan.TicksPerMicrosecond),
            Reason = r.IsDBNull(10) ? null : r.GetString(10),
            Data = r.IsDBNull(11) ? null : r.GetString(11),
        };
    }

    private static TrackedObject ReadObject(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), FrameTimes.FromMicros(r.GetInt64(3)), FrameTimes.FromMicros(r.GetInt64(4)),
        r.GetFloat(5), r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7), r.GetString(8), r.GetInt32(9));

    private static TrackedObjectEvent ReadTrack(SqliteDataReader r)
    {
        if (!TrackedObjectEventTypes.TryParse(r.GetString(3), out var type))
        {
            throw new InvalidDataException($"Unknown tracked-object event type '{r.GetString(3)}'.");
        }

        return new TrackedObjectEvent(
            Guid.Parse(r.GetString(0)), r.GetString(1), r.GetString(2), type, FrameTimes.FromMicros(r.GetInt64(4)),
            r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6), r.GetString(7), r.GetFloat(8),
            r.IsDBNull(9) ? null : r.GetString(9), r.IsDBNull(10) ? null : r.GetString(10));
    }

    private static void BindEvent(SqliteCommand c, FrameEvent e)
    {
        var p = c.Parameters;
        p[0].Value = e.EventId.ToString("D");
        p[1].Value = e.FrameId.ToString();
        p[2].Value = e.CameraId;
        p[3].Value = e.Type.ToWireName();
        p[4].Value = FrameTimes.ToMicros(e.Timestamp);
        p[5].Value = e.Stage;
        p[6].Value = e.Service;
        p[7].Value = e.TraceId == default ? DBNull.Value : e.TraceId.ToHexString();
        p[8].Value = e.SpanId == default ? DBNull.Value : e.SpanId.ToHexString();
        p[9].Value = e.Duration is { } d ? d.Ticks / TimeSpan.TicksPerMicrosecond : DBNull.Value;
        p[10].Value = (object?)e.Reason ?? DBNull.Value;
        p[11].Value = (object?)e.Data ?? DBNull.Value;
    }

    private static void BindDetection(SqliteCommand c, DetectionRecord d)
    {
        var p = c.Parameters;
        p[0].Value = d.FrameId;
        p[1].Value = d.CameraId;
        p[2].Value = FrameTimes.ToMicros(d.Time);
        p[3].Value = d.Label;
        p[4].Value = d.Confidence;
        p[5].Value = d.X;
        p[6].Value = d.Y;
        p[7].Value = d.Width;
        p[8].Value = d.Height;
        p[9].Value = (object?)d.Source ?? DBNull.Value;
        p[10].Value = (object?)d.TrackId ?? DBNull.Value;
        p[11].Value = d.StoredEventId.ToString("D");
    }

    private static void BindTrack(SqliteCommand c, TrackedObjectEvent t)
    {
        var p = c.Parameters;
        p[0].Value = t.EventId.ToString("D");
        p[1].Value = t.ObjectId;
        p[2].Value = t.CameraId;
        p[3].Value = t.Type.ToWireName();
        p[4].Value = FrameTimes.ToMicros(t.Time);
        p[5].Value = (object?)t.FrameId ?? DBNull.Value;
        p[6].Value = (object?)t.TraceId ?? DBNull.Value;
        p[7].Value = t.Label;
        p[8].Value = t.Score;
        p[9].Value = (object?)t.SnapshotPath ?? DBNull.Value;
        p[10].Value = (object?)t.Data ?? DBNull.Value;
    }

    private static void WriteProjection(WriterCommands c, BatchProjection projection)
    {
        foreach (var (key, s) in projection.Minutes)
        {
            var p = c.UpsertMinute.Parameters;
            p[0].Value = key.CameraId;
            p[1].Value = key.MinuteMicros;
            p[2].Value = s.Frames;
            p[3].Value = s.Stored;
            p[4].Value = s.Skipped;
            p[5].Value = s.Dropped;
            p[6].Value = s.Failed;
            p[7].Value = s.Detections;
            p[8].Value = s.LatencyCount;
            p[9].Value = s.LatencySumMs;
            p[10].Value = s.LatencyCount > 0 ? s.LatencyMaxMs : DBNull.Value;
            c.UpsertMinute.ExecuteNonQuery();
        }

        foreach (var (key, count) in projection.Reasons)
        {
            var p = c.UpsertReason.Parameters;
            p[0].Value = key.CameraId;
            p[1].Value = key.MinuteMicros;
            p[2].Value = key.Type;
            p[3].Value = key.Reason;
            p[4].Value = count;
            c.UpsertReason.ExecuteNonQuery();
        }

        foreach (var (key, count) in projection.Latency)
        {
            var p = c.UpsertLatency.Parameters;
            p[0].Value = key.CameraId;
            p[1].Value = key.MinuteMicros;
            p[2].Value = key.Bucket;
            p[3].Value = count;
            c.UpsertLatency.ExecuteNonQuery();
        }

        foreach (var o in projection.Objects)
        {
            var p = c.UpsertObject.Parameters;
            p[0].Value = o.ObjectId;
            p[1].Value = o.CameraId;
            p[2].Value = o.Label;
            p[3].Value = FrameTimes.ToMicros(o.FirstSeen);
            p[4].Value = FrameTimes.ToMicros(o.LastSeen);
            p[5].Value = o.BestScore;
            p[6].Value = (object?)o.BestSnapshotPath ?? DBNull.Value;
            p[7].Value = (object?)o.BestFrameId ?? DBNull.Value;
            p[8].Value = o.State;
            p[9].Value = o.Count;
            c.UpsertObject.ExecuteNonQuery();
        }
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        // Memory-mapped reads share the OS page cache across connections instead of each filling its own; the mapped pages
        // count in the process's RSS (file-backed) up to this bound as the database grows.
        await ExecuteAsync(
            connection,
            string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA mmap_size = {_settings.MmapMegabytes * 1024L * 1024};"),
            cancellationToken);
        return connection;
    }

    /// <summary>The writer's page cache (KiB) and a reader's mapping (bytes) as SQLite reports them (tests).</summary>
    internal async Task<(long CacheKibibytes, long MmapBytes)> ReadMemoryPragmasAsync(CancellationToken cancellationToken = default)
    {
        await GetWriterAsync(cancellationToken);
        var writer = _writer!;
        await using var reader = await OpenAsync(cancellationToken);
        return (-await ScalarAsync(writer, "PRAGMA cache_size;"), await ScalarAsync(reader, "PRAGMA mmap_size;"));

        static async Task<long> ScalarAsync(SqliteConnection connection, string sql)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            return Convert.ToInt64(await command.ExecuteScalarAsync(CancellationToken.None), CultureInfo.InvariantCulture);
        }
    }

    private async Task<WriterCommands> GetWriterAsync(CancellationToken cancellationToken)
    {
        if (_commands is not null)
        {
            return _commands;
        }

        var writer = await OpenAsync(cancellationToken);
        // The writer updates several indexes per event (one keyed by random trace ids): its page cache (default 32 MiB,
        // Detektor:Storage:SqliteCacheMegabytes) keeps their upper levels in memory as the file grows past millions of events.
        await ExecuteAsync(writer, string.Create(CultureInfo.InvariantCulture, $"PRAGMA cache_size = -{_settings.CacheMegabytes * 1024L};"), cancellationToken);
        _commands = new WriterCommands(writer);
        _writer = writer;
        return _commands;
    }

    private void ResetWriter()
    {
        _commands?.Dispose();
        _writer?.Dispose();
        _commands = null;
        _writer = null;
    }

    /// <summary>The writer connection's prepared statements.</summary>
    private sealed class WriterCommands : IDisposable
    {
        public WriterCommands(SqliteConnection writer)
        {
            InsertEvent = Prepare(writer, $"""
                INSERT OR IGNORE INTO frame_events ({EventColumns})
                VALUES ($p1, $p2, $p3, $p4, $p5, $p6, $p7, $p8, $p9, $p10, $p11, $p12);
                """, 12);
            InsertDetection = Prepare(writer, """
                INSERT INTO detections (frame_id, camera_id, time_us, label, confidence, x, y, w, h, source, track_id, stored_event_id)
                VALUES ($p1, $p2, $p3, $p4, $p5, $p6, $p7, $p8, $p9, $p10, $p11, $p12);
                """, 12);
            InsertTrack = Prepare(writer, $"""
                INSERT OR IGNORE INTO tracked_object_events ({TrackColumns})
                VALUES ($p1, $p2, $p3, $p4, $p5, $p6, $p7, $p8, $p9, $p10, $p11);
                """, 11);
            UpsertMinute = Prepare(writer, """
                INSERT INTO camera_minute_stats AS s
                    (camera_id, minute_us, frames, stored, skipped, dropped, failed, detections, latency_count, latency_sum_ms, latency_max_ms)
                VALUES ($p1, $p2, $p3, $p4, $p5, $p6, $p7, $p8, $p9, $p10, $p11)
                ON CONFLICT (camera_id, minute_us) DO UPDATE SET
                    frames = s.frames + excluded.frames,
                    stored = s.stored + excluded.stored,
                    skipped = s.skipped + excluded.skipped,
                    dropped = s.dropped + excluded.dropped,
                    failed = s.failed + excluded.failed,
                    detections = s.detections + excluded.detections,
                    latency_count = s.latency_count + excluded.latency_count,
                    latency_sum_ms = s.latency_sum_ms + excluded.latency_sum_ms,
                    latency_max_ms = coalesce(max(s.latency_max_ms, excluded.latency_max_ms), s.latency_max_ms, excluded.latency_max_ms);
                """, 11);
            UpsertReason = Prepare(writer, """
                INSERT INTO camera_minute_reasons AS r (camera_id, minute_us, type, reason, count) VALUES ($p1, $p2, $p3, $p4, $p5)
                ON CONFLICT (camera_id, minute_us, type, reason) DO UPDATE SET count = r.count + excluded.count;
                """, 5);
            UpsertLatency = Prepare(writer, """
                INSERT INTO camera_minute_latency AS l (camera_id, minute_us, bucket, count) VALUES ($p1, $p2, $p3, $p4)
                ON CONFLICT (camera_id, minute_us, bucket) DO UPDATE SET count = l.count + excluded.count;
                """, 4);
            UpsertObject = Prepare(writer, """
                INSERT INTO tracked_objects AS o
                    (object_id, camera_id, label, first_seen_us, last_seen_us, best_score, best_snapshot_path, best_frame_id, state, event_count)
                VALUES ($p1, $p2, $p3, $p4, $p5, $p6, $p7, $p8, $p9, $p10)
                ON CONFLICT (object_id) DO UPDATE SET
                    label = CASE WHEN excluded.last_seen_us >= o.last_seen_us THEN excluded.label ELSE o.label END,
                    first_seen_us = min(o.first_seen_us, excluded.first_seen_us),
                    last_seen_us = max(o.last_seen_us, excluded.last_seen_us),
                    best_snapshot_path = CASE WHEN excluded.best_score > o.best_score THEN excluded.best_snapshot_path ELSE o.best_snapshot_path END,
                    best_frame_id = CASE WHEN excluded.best_score > o.best_score THEN excluded.best_frame_id ELSE o.best_frame_id END,
                    best_score = max(o.best_score, excluded.best_score),
                    state = CASE WHEN excluded.state = 'left' THEN 'left' ELSE o.state END,
                    event_count = o.event_count + excluded.event_count;
                """, 10);
        }

        public SqliteCommand InsertEvent { get; }

        public SqliteCommand InsertDetection { get; }

        public SqliteCommand InsertTrack { get; }

        public SqliteCommand UpsertMinute { get; }

        public SqliteCommand UpsertReason { get; }

        public SqliteCommand UpsertLatency { get; }

        public SqliteCommand UpsertObject { get; }

        private IEnumerable<SqliteCommand> All => [InsertEvent, InsertDetection, InsertTrack, UpsertMinute, UpsertReason, UpsertLatency, UpsertObject];

        public void Enlist(SqliteTransaction tx)
        {
            foreach (var command in All)
            {
                command.Transaction = tx;
            }
        }

        public void Dispose()
        {
            foreach (var command in All)
            {
                command.Dispose();
            }
        }

        private static SqliteCommand Prepare(SqliteConnection connection, string sql, int parameters)
        {
            var command = connection.CreateCommand();
            command.CommandText = sql;
            for (var i = 1; i <= parameters; i++)
            {
                command.Parameters.Add(new SqliteParameter("$p" + i.ToString(CultureInfo.InvariantCulture), null));
            }

            command.Prepare();
            return command;
        }
    }
}

/// <summary>Memory the SQLite store may use (<c>Detektor:Storage:SqliteCacheMegabytes</c>, <c>:SqliteMmapMegabytes</c>).</summary>
public sealed record SqliteStoreSettings
{
    public const int DefaultCacheMegabytes = 32;

    /// <summary>Page cache of the writer connection, MiB (anonymous memory, filled as the database grows). Default 32.</summary>
    public int CacheMegabytes { get; init; } = DefaultCacheMegabytes;

    /// <summary>Bytes of the database file each connection maps for reads, MiB; 0 (default) = read through the page cache.</summary>
    public int MmapMegabytes { get; init; }
}
