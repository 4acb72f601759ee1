using Detektor.Storage.Abstractions;

namespace Detektor.Storage.Postgres;

/// <summary>
/// The PostgreSQL schema as numbered migrations (see docs/storage.md). The same versions exist in both layouts:
/// <see cref="Partitioning.Native"/> (declarative partitioning by day) and <see cref="Partitioning.TimescaleDb"/>
/// (hypertables with one-day chunks, stats as continuous aggregates). The layout is chosen once, when the schema is
/// created, and recorded in <c>store_settings</c>.
/// </summary>
internal static class PostgresSchema
{
    /// <summary>Names of the time-partitioned tables and their partition column.</summary>
    public static readonly IReadOnlyList<(string Table, string Column)> PartitionedTables =
    [
        ("frame_events", "frame_time"),
        ("detections", "frame_time"),
        ("tracked_object_events", "time"),
    ];

    public static readonly IReadOnlyList<string> StatsTables = ["camera_minute_stats", "camera_minute_reasons", "camera_minute_latency"];

    /// <summary>A migration: its SQL statements for a layout, and whether they run in one transaction.</summary>
    public sealed record Migration(int Version, string Name, Func<string, IReadOnlyList<string>> Statements, Func<string, bool> Transactional);

    public static readonly IReadOnlyList<Migration> All =
    [
        new(1, "frame events, detections, tracked objects (time-partitioned by day)", EventTables, static _ => true),
        new(2, "per-camera per-minute stats", StatsObjects, static layout => layout != Partitioning.TimescaleDb),
    ];

    public static int LatestVersion => All[^1].Version;

    public const string Bootstrap = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer     NOT NULL PRIMARY KEY,
            name       text        NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS store_settings (
            key   text NOT NULL PRIMARY KEY,
            value text NOT NULL
        );
        """;

    private static List<string> EventTables(string layout)
    {
        var native = layout == Partitioning.Native;
        string PartitionBy(string column) => native ? $" PARTITION BY RANGE ({column})" : string.Empty;
        var statements = new List<string>
        {
            $"""
            CREATE TABLE frame_events (
                event_id    uuid        NOT NULL,
                frame_id    text        COLLATE "C" NOT NULL,
                camera_id   text        COLLATE "C" NOT NULL,
                type        text        NOT NULL,
                frame_time  timestamptz NOT NULL,
                time        timestamptz NOT NULL,
                stage       text        NOT NULL,
                service     text        NOT NULL,
                trace_id    uuid,
                span_id     bigint,
                duration_us bigint,
                reason      text,
                data        json,
                CONSTRAINT frame_events_pkey PRIMARY KEY (camera_id, frame_id, event_id, frame_time)
            ){PartitionBy("frame_time")};
            COMMENT ON TABLE frame_events IS 'Append-only frame lifecycle events. frame_time is the capture time from the frame id: all of a frame''s events share a partition.';
            CREATE INDEX frame_events_frame ON frame_events (frame_id);
            CREATE INDEX frame_events_trace ON frame_events (trace_id) WHERE trace_id IS NOT NULL;
            """,
            $"""
            CREATE TABLE detections (
                stored_event_id uuid        NOT NULL,
                ordinal         integer     NOT NULL,
                frame_id        text        COLLATE "C" NOT NULL,
                camera_id       text        COLLATE "C" NOT NULL,
                frame_time      timestamptz NOT NULL,
                time            timestamptz NOT NULL,
                label           text        NOT NULL,
                confidence      real        NOT NULL,
                x               real        NOT NULL,
                y               real        NOT NULL,
                w               real        NOT NULL,
                h               real        NOT NULL,
                source          text,
                track_id        text,
                CONSTRAINT detections_pkey PRIMARY KEY (frame_id, stored_event_id, ordinal, frame_time)
            ){PartitionBy("frame_time")};
            CREATE INDEX detections_camera_time ON detections (camera_id, frame_time);
            """,
            $"""
            CREATE TABLE tracked_object_events (
                event_id      uuid        NOT NULL,
                object_id     text        COLLATE "C" NOT NULL,
                camera_id     text        COLLATE "C" NOT NULL,
                type          text        NOT NULL,
                time          timestamptz NOT NULL,
                frame_id      text        COLLATE "C",
                trace_id      text,
                label         text        NOT NULL,
                score         real        NOT NULL,
                snapshot_path text,
                data          json,
                CONSTRAINT tracked_object_events_pkey PRIMARY KEY (object_id, event_id, time)
            ){PartitionBy("time")};
            CREATE INDEX tracked_object_events_camera_time ON tracked_object_events (camera_id, time);
            """,
            """
            CREATE TABLE tracked_objects (
                object_id          text        COLLATE "C" NOT NULL PRIMARY KEY,
                camera_id          text        COLLATE "C" NOT NULL,
                label              text        NOT NULL,
                first_seen         timestamptz NOT NULL,
                last_seen          timestamptz NOT NULL,
                best_score         real        NOT NULL,
                best_snapshot_path text,
                best_frame_id      text,
                state              text        NOT NULL,
                event_count        integer     NOT NULL
            );
            CREATE INDEX tracked_objects_camera_seen ON tracked_objects (camera_id, last_seen);
            CREATE INDEX tracked_objects_seen ON tracked_objects (last_seen);
            """,
        };

        if (!native)
        {
            foreach (var (table, column) in PartitionedTables)
            {
                statements.Add($"SELECT create_hypertable('{table}', '{column}', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);");
            }

            statements.Add("""
                ALTER TABLE frame_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id', timescaledb.compress_orderby = 'frame_id, event_id');
                ALTER TABLE detections SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id', timescaledb.compress_orderby = 'frame_id, stored_event_id, ordinal');
                ALTER TABLE tracked_object_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id', timescaledb.compress_orderby = 'object_id, event_id');
                """);
        }

        return statements;
    }

    private static IReadOnlyList<string> StatsObjects(string layout)
    {
        if (layout != Partitioning.TimescaleDb)
        {
            return
            [
                """
                CREATE TABLE camera_minute_stats (
                    camera_id      text             COLLATE "C" NOT NULL,
                    minute         timestamptz      NOT NULL,
                    frames         bigint           NOT NULL,
                    stored         bigint           NOT NULL,
                    skipped        bigint           NOT NULL,
                    dropped        bigint           NOT NULL,
                    failed         bigint           NOT NULL,
                    detections     bigint           NOT NULL,
                    latency_count  bigint           NOT NULL,
                    latency_sum_ms double precision NOT NULL,
                    latency_max_ms double precision,
                    PRIMARY KEY (camera_id, minute)
                );
                CREATE INDEX camera_minute_stats_minute ON camera_minute_stats (minute);
                CREATE TABLE camera_minute_reasons (
                    camera_id text        COLLATE "C" NOT NULL,
                    minute    timestamptz NOT NULL,
                    type      text        NOT NULL,
                    reason    text        NOT NULL,
                    count     bigint      NOT NULL,
                    PRIMARY KEY (camera_id, minute, type, reason)
                );
                CREATE INDEX camera_minute_reasons_minute ON camera_minute_reasons (minute);
                CREATE TABLE camera_minute_latency (
                    camera_id text        COLLATE "C" NOT NULL,
                    minute    timestamptz NOT NULL,
                    bucket    smallint    NOT NULL,
                    count     bigint      NOT NULL,
                    PRIMARY KEY (camera_id, minute, bucket)
                );
                CREATE INDEX camera_minute_latency_minute ON camera_minute_latency (minute);
                """,
            ];
        }

        // Continuous aggregates over frame_events with the same names and columns as the native tables, so the stats
        // queries are the same SQL. They cannot be created inside a transaction; IF NOT EXISTS makes a re-run safe.
        const string latencyMs = "greatest(0, extract(epoch FROM time - frame_time) * 1000)";
        return
        [
            $"""
            CREATE MATERIALIZED VIEW IF NOT EXISTS camera_minute_stats
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT camera_id,
                   time_bucket(INTERVAL '1 minute', frame_time) AS minute,
                   count(*) FILTER (WHERE type = 'captured') AS frames,
                   count(*) FILTER (WHERE type = 'stored') AS stored,
                   count(*) FILTER (WHERE type = 'skipped') AS skipped,
                   count(*) FILTER (WHERE type = 'dropped') AS dropped,
                   count(*) FILTER (WHERE type = 'processing_failed') AS failed,
                   coalesce(sum(CASE WHEN type = 'stored' AND json_typeof(data -> 'detections') = 'number'
                                     THEN greatest(0, (data ->> 'detections')::numeric) ELSE 0 END), 0)::bigint AS detections,
                   count(*) FILTER (WHERE type = 'stored') AS latency_count,
                   coalesce(sum({latencyMs}) FILTER (WHERE type = 'stored'), 0)::double precision AS latency_sum_ms,
                   (max({latencyMs}) FILTER (WHERE type = 'stored'))::double precision AS latency_max_ms
            FROM frame_events
            GROUP BY camera_id, minute
            WITH NO DATA;
            """,
            """
            CREATE MATERIALIZED VIEW IF NOT EXISTS camera_minute_reasons
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT camera_id,
                   time_bucket(INTERVAL '1 minute', frame_time) AS minute,
                   type,
                   coalesce(reason, 'unknown') AS reason,
                   count(*) AS count
            FROM frame_events
            WHERE type IN ('skipped', 'dropped')
            GROUP BY camera_id, minute, type, coalesce(reason, 'unknown')
            WITH NO DATA;
            """,
            $"""
            CREATE MATERIALIZED VIEW IF NOT EXISTS camera_minute_latency
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT camera_id,
                   time_bucket(INTERVAL '1 minute', frame_time) AS minute,
                   ({LatencyHistogram.SqlExpression(latencyMs)})::smallint AS bucket,
                   count(*) AS count
            FROM frame_events
            WHERE type = 'stored'
            GROUP BY camera_id, minute, bucket
            WITH NO DATA;
            """,
        ];
    }
}
