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
/// transaction per batch; reads use pooled connections and never block the writer.
/// </summary>
public sealed class SqliteEventStore : IEventStore, IDisposable
{
    private const string EventColumns = "event_id, frame_id, camera_id, type, time_us, stage, service, trace_id, span_id, duration_us, reason, data";
    private const string FrameColumns = "frame_id, camera_id, trace_id, state, outcome, reason, captured_us, updated_us, event_count";

    private readonly string _connectionString;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private SqliteConnection? _writer;
    private SqliteCommand? _insertEvent;
    private SqliteCommand? _upsertFrame;
    private SqliteCommand? _insertDetection;

    public SqliteEventStore(string path, TimeProvider? time = null)
    {
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

    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            await ExecuteAsync(connection, "PRAGMA journal_mode = WAL;", cancellationToken);
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

            foreach (var (version, name, sql) in SqliteMigrations.All)
            {
                if (applied.Contains(version))
                {
                    continue;
                }

                await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
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
                    record.Parameters.AddWithValue("$t", ToMicros(_time.GetUtcNow()));
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }

                await tx.CommitAsync(cancellationToken);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task<int> WriteAsync(StoreBatch batch, CancellationToken cancellationToken = default)
    {
        if (batch.Events.Count == 0 && batch.Detections.Count == 0)
        {
            return 0;
        }

        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            var writer = await GetWriterAsync(cancellationToken);
            using var tx = writer.BeginTransaction();
            try
            {
                var inserted = 0;
                var frames = new Dictionary<string, FrameAggregate>(StringComparer.Ordinal);
                HashSet<Guid>? newStoredEvents = null;
                _insertEvent!.Transaction = tx;
                foreach (var e in batch.Events)
                {
                    var frameId = e.FrameId.ToString();
                    BindEvent(_insertEvent, e, frameId);
                    if (_insertEvent.ExecuteNonQuery() == 0)
                    {
                        continue; // already stored: idempotent replay
                    }

                    inserted++;
                    if (e.Type == FrameEventType.Stored)
                    {
                        (newStoredEvents ??= []).Add(e.EventId);
                    }

                    if (!frames.TryGetValue(frameId, out var aggregate))
                    {
                        aggregate = new FrameAggregate(frameId, e.CameraId, e.FrameId.UnixMicroseconds);
                        frames.Add(frameId, aggregate);
                    }

                    aggregate.Add(e);
                }

                _upsertFrame!.Transaction = tx;
                foreach (var aggregate in frames.Values)
                {
                    BindFrame(_upsertFrame, aggregate);
                    _upsertFrame.ExecuteNonQuery();
                }

                _insertDetection!.Transaction = tx;
                foreach (var d in batch.Detections)
                {
                    if (newStoredEvents is null || !newStoredEvents.Contains(d.StoredEventId))
                    {
                        continue; // the detections came with a stored event this store already had
                    }

                    BindDetection(_insertDetection, d);
                    _insertDetection.ExecuteNonQuery();
                }

                tx.Commit();
                return inserted;
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
        FrameSummary? frame;
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT {FrameColumns} FROM frames WHERE frame_id = $id;";
            command.Parameters.AddWithValue("$id", frameId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            frame = await reader.ReadAsync(cancellationToken) ? ReadFrame(reader) : null;
        }

        if (frame is null)
        {
            return null;
        }

        var events = new List<FrameEvent>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT {EventColumns} FROM frame_events WHERE frame_id = $id ORDER BY time_us;";
            command.Parameters.AddWithValue("$id", frameId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                events.Add(ReadEvent(reader));
            }
        }

        events.Sort(FrameStateRules.CompareEvents);
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
                    reader.GetString(0), reader.GetString(1), FromMicros(reader.GetInt64(2)), reader.GetString(3),
                    reader.GetFloat(4), reader.GetFloat(5), reader.GetFloat(6), reader.GetFloat(7), reader.GetFloat(8),
                    reader.IsDBNull(9) ? null : reader.GetString(9), reader.IsDBNull(10) ? null : reader.GetString(10),
                    Guid.Parse(reader.GetString(11))));
            }
        }

        return new FrameJourney(frame, events, FrameStateRules.Stages(events), detections, TotalMs(events));
    }

    public async Task<FramePage> QueryFramesAsync(FrameQuery query, CancellationToken cancellationToken = default)
    {
        var limit = Math.Clamp(query.Limit, 1, FrameQuery.MaxLimit);
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder($"SELECT {FrameColumns} FROM frames WHERE 1 = 1");
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

        if (query.From is { } from)
        {
            sql.Append(" AND frame_id >= $from");
            command.Parameters.AddWithValue("$from", FrameId.TimestampPrefix(from));
        }

        if (query.To is { } to)
        {
            sql.Append(" AND frame_id < $to");
            command.Parameters.AddWithValue("$to", FrameId.TimestampPrefix(to));
        }

        if (query.Before is not null)
        {
            sql.Append(" AND frame_id < $before");
            command.Parameters.AddWithValue("$before", query.Before);
        }

        sql.Append(" ORDER BY frame_id DESC LIMIT $limit;");
        command.Parameters.AddWithValue("$limit", limit + 1);
        command.CommandText = sql.ToString();
        var items = new List<FrameSummary>(Math.Min(limit + 1, 256));
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add(ReadFrame(reader));
            }
        }

        string? next = null;
        if (items.Count > limit)
        {
            items.RemoveAt(items.Count - 1);
            next = items[^1].FrameId;
        }

        return new FramePage(items, next);
    }

    public async Task PingAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(connection, "SELECT 1;", cancellationToken);
    }

    public void Dispose()
    {
        ResetWriter();
        _writeLock.Dispose();
    }

    internal static long ToMicros(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;

    internal static DateTimeOffset FromMicros(long micros) => DateTimeOffset.UnixEpoch.AddTicks(micros * TimeSpan.TicksPerMicrosecond);

    private static double? TotalMs(List<FrameEvent> events)
    {
        if (events.Count == 0)
        {
            return null;
        }

        var start = events.Find(static e => e.Type == FrameEventType.Captured)?.Timestamp ?? events[0].Timestamp;
        var end = events.FindLast(static e => e.Type.IsTerminal())?.Timestamp ?? events[^1].Timestamp;
        return (end - start).TotalMilliseconds;
    }

    private static FrameSummary ReadFrame(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3),
        r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5),
        FromMicros(r.GetInt64(6)), FromMicros(r.GetInt64(7)), r.GetInt32(8));

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
            Timestamp = FromMicros(r.GetInt64(4)),
            Stage = r.GetString(5),
            Service = r.GetString(6),
            TraceId = r.IsDBNull(7) ? default : ActivityTraceId.CreateFromString(r.GetString(7)),
            SpanId = r.IsDBNull(8) ? default : ActivitySpanId.CreateFromString(r.GetString(8)),
            Duration = r.IsDBNull(9) ? null : TimeSpan.FromTicks(r.GetInt64(9) * TimeSpan.TicksPerMicrosecond),
            Reason = r.IsDBNull(10) ? null : r.GetString(10),
            Data = r.IsDBNull(11) ? null : r.GetString(11),
        };
    }

    private static void BindEvent(SqliteCommand c, FrameEvent e, string frameId)
    {
        var p = c.Parameters;
        p[0].Value = e.EventId.ToString("D");
        p[1].Value = frameId;
        p[2].Value = e.CameraId;
        p[3].Value = e.Type.ToWireName();
        p[4].Value = ToMicros(e.Timestamp);
        p[5].Value = e.Stage;
        p[6].Value = e.Service;
        p[7].Value = e.TraceId == default ? DBNull.Value : e.TraceId.ToHexString();
        p[8].Value = e.SpanId == default ? DBNull.Value : e.SpanId.ToHexString();
        p[9].Value = e.Duration is { } d ? d.Ticks / TimeSpan.TicksPerMicrosecond : DBNull.Value;
        p[10].Value = (object?)e.Reason ?? DBNull.Value;
        p[11].Value = (object?)e.Data ?? DBNull.Value;
    }

    private static void BindFrame(SqliteCommand c, FrameAggregate a)
    {
        var p = c.Parameters;
        p[0].Value = a.FrameId;
        p[1].Value = a.CameraId;
        p[2].Value = (object?)a.TraceId ?? DBNull.Value;
        p[3].Value = a.CapturedMicros;
        p[4].Value = a.UpdatedMicros;
        p[5].Value = a.State.ToWireName();
        p[6].Value = a.State.Rank();
        p[7].Value = (object?)a.Outcome ?? DBNull.Value;
        p[8].Value = a.OutcomeRank;
        p[9].Value = (object?)a.Reason ?? DBNull.Value;
        p[10].Value = a.Count;
    }

    private static void BindDetection(SqliteCommand c, DetectionRecord d)
    {
        var p = c.Parameters;
        p[0].Value = d.FrameId;
        p[1].Value = d.CameraId;
        p[2].Value = ToMicros(d.Time);
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
        await ExecuteAsync(connection, "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;", cancellationToken);
        return connection;
    }

    private async Task<SqliteConnection> GetWriterAsync(CancellationToken cancellationToken)
    {
        if (_writer is not null)
        {
            return _writer;
        }

        var writer = await OpenAsync(cancellationToken);
        _insertEvent = Prepare(writer, $"""
            INSERT OR IGNORE INTO frame_events ({EventColumns})
            VALUES ($p1, $p2, $p3, $p4, $p5, $p6, $p7, $p8, $p9, $p10, $p11, $p12);
            """, 12);
        _upsertFrame = Prepare(writer, """
            INSERT INTO frames (frame_id, camera_id, trace_id, captured_us, updated_us, state, state_rank, outcome, outcome_rank, reason, event_count)
            VALUES ($p1, $p2, $p3, $p4, $p5, $p6, $p7, $p8, $p9, $p10, $p11)
            ON CONFLICT (frame_id) DO UPDATE SET
                trace_id     = coalesce(frames.trace_id, excluded.trace_id),
                updated_us   = max(frames.updated_us, excluded.updated_us),
                state        = CASE WHEN excluded.state_rank > frames.state_rank THEN excluded.state ELSE frames.state END,
                state_rank   = max(frames.state_rank, excluded.state_rank),
                outcome      = CASE WHEN excluded.outcome_rank > frames.outcome_rank THEN excluded.outcome ELSE frames.outcome END,
                reason       = CASE WHEN excluded.outcome_rank > frames.outcome_rank THEN excluded.reason ELSE frames.reason END,
                outcome_rank = max(frames.outcome_rank, excluded.outcome_rank),
                event_count  = frames.event_count + excluded.event_count;
            """, 11);
        _insertDetection = Prepare(writer, """
            INSERT INTO detections (frame_id, camera_id, time_us, label, confidence, x, y, w, h, source, track_id, stored_event_id)
            VALUES ($p1, $p2, $p3, $p4, $p5, $p6, $p7, $p8, $p9, $p10, $p11, $p12);
            """, 12);
        _writer = writer;
        return writer;
    }

    private void ResetWriter()
    {
        _insertEvent?.Dispose();
        _upsertFrame?.Dispose();
        _insertDetection?.Dispose();
        _writer?.Dispose();
        _insertEvent = _upsertFrame = _insertDetection = null;
        _writer = null;
    }

    /// <summary>What one batch adds to a frame's row.</summary>
    private sealed class FrameAggregate(string frameId, string cameraId, long capturedMicros)
    {
        public string FrameId { get; } = frameId;

        public string CameraId { get; } = cameraId;

        public long CapturedMicros { get; } = capturedMicros;

        public string? TraceId { get; private set; }

        public long UpdatedMicros { get; private set; }

        public FrameEventType State { get; private set; } = FrameEventType.Captured;

        public string? Outcome { get; private set; }

        public int OutcomeRank { get; private set; }

        public string? Reason { get; private set; }

        public int Count { get; private set; }

        public void Add(FrameEvent e)
        {
            Count++;
            UpdatedMicros = Math.Max(UpdatedMicros, ToMicros(e.Timestamp));
            if (TraceId is null && e.TraceId != default)
            {
                TraceId = e.TraceId.ToHexString();
            }

            if (Count == 1 || e.Type.Rank() > State.Rank())
            {
                State = e.Type;
            }

            var (outcome, rank) = FrameStateRules.Outcome(e.Type);
            if (rank > OutcomeRank)
            {
                Outcome = outcome;
                OutcomeRank = rank;
                Reason = e.Reason;
            }
        }
    }
}
