namespace Detektor.Storage.Sqlite;

/// <summary>The SQLite schema, as numbered migrations applied in order, each in its own transaction (see docs/storage.md).</summary>
internal static class SqliteMigrations
{
    public static readonly IReadOnlyList<(int Version, string Name, string Sql)> All =
    [
        (1, "frame events, frames projection, detections", """
            CREATE TABLE frame_events (
                event_id    TEXT    NOT NULL PRIMARY KEY,
                frame_id    TEXT    NOT NULL,
                camera_id   TEXT    NOT NULL,
                type        TEXT    NOT NULL,
                time_us     INTEGER NOT NULL,
                stage       TEXT    NOT NULL,
                service     TEXT    NOT NULL,
                trace_id    TEXT,
                span_id     TEXT,
                duration_us INTEGER,
                reason      TEXT,
                data        TEXT
            ) WITHOUT ROWID;
            CREATE INDEX ix_frame_events_frame ON frame_events (frame_id, time_us);
            CREATE INDEX ix_frame_events_time ON frame_events (time_us);

            CREATE TABLE frames (
                frame_id     TEXT    NOT NULL PRIMARY KEY,
                camera_id    TEXT    NOT NULL,
                trace_id     TEXT,
                captured_us  INTEGER NOT NULL,
                updated_us   INTEGER NOT NULL,
                state        TEXT    NOT NULL,
                state_rank   INTEGER NOT NULL,
                outcome      TEXT,
                outcome_rank INTEGER NOT NULL DEFAULT 0,
                reason       TEXT,
                event_count  INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX ix_frames_camera ON frames (camera_id, frame_id);
            CREATE INDEX ix_frames_trace ON frames (trace_id) WHERE trace_id IS NOT NULL;

            CREATE TABLE detections (
                id              INTEGER PRIMARY KEY,
                frame_id        TEXT    NOT NULL,
                camera_id       TEXT    NOT NULL,
                time_us         INTEGER NOT NULL,
                label           TEXT    NOT NULL,
                confidence      REAL    NOT NULL,
                x               REAL    NOT NULL,
                y               REAL    NOT NULL,
                w               REAL    NOT NULL,
                h               REAL    NOT NULL,
                source          TEXT,
                track_id        TEXT,
                stored_event_id TEXT    NOT NULL
            );
            CREATE INDEX ix_detections_frame ON detections (frame_id);
            CREATE INDEX ix_detections_camera_time ON detections (camera_id, time_us);
            """),
        (2, "frame lists folded from events; tracked objects; per-minute stats", """
            -- The frame list is now folded from frame_events at read time (the same in every store), so ingest writes
            -- each event once. The per-camera index serves journeys, camera lists and keyset paging of events.
            DROP TABLE frames;
            DROP INDEX ix_frame_events_time;
            CREATE INDEX ix_frame_events_camera ON frame_events (camera_id, frame_id, event_id);
            CREATE INDEX ix_frame_events_trace ON frame_events (trace_id) WHERE trace_id IS NOT NULL;
            CREATE INDEX ix_detections_time ON detections (time_us);
            -- Event data is JSON, as in PostgreSQL's json column: anything else is refused (and set aside by the writer).
            CREATE TRIGGER frame_events_data_is_json BEFORE INSERT ON frame_events
            WHEN NEW.data IS NOT NULL AND NOT json_valid(NEW.data)
            BEGIN SELECT RAISE(ABORT, 'frame_events.data is not valid JSON'); END;

            CREATE TABLE tracked_object_events (
                event_id      TEXT    NOT NULL PRIMARY KEY,
                object_id     TEXT    NOT NULL,
                camera_id     TEXT    NOT NULL,
                type          TEXT    NOT NULL,
                time_us       INTEGER NOT NULL,
                frame_id      TEXT,
                trace_id      TEXT,
                label         TEXT    NOT NULL,
                score         REAL    NOT NULL,
                snapshot_path TEXT,
                data          TEXT
            ) WITHOUT ROWID;
            CREATE INDEX ix_tracked_object_events_object ON tracked_object_events (object_id, time_us);
            CREATE INDEX ix_tracked_object_events_time ON tracked_object_events (time_us);

            CREATE TABLE tracked_objects (
                object_id          TEXT    NOT NULL PRIMARY KEY,
                camera_id          TEXT    NOT NULL,
                label              TEXT    NOT NULL,
                first_seen_us      INTEGER NOT NULL,
                last_seen_us       INTEGER NOT NULL,
                best_score         REAL    NOT NULL,
                best_snapshot_path TEXT,
                best_frame_id      TEXT,
                state              TEXT    NOT NULL,
                event_count        INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX ix_tracked_objects_camera ON tracked_objects (camera_id, last_seen_us);
            CREATE INDEX ix_tracked_objects_seen ON tracked_objects (last_seen_us);

            CREATE TABLE camera_minute_stats (
                camera_id      TEXT    NOT NULL,
                minute_us      INTEGER NOT NULL,
                frames         INTEGER NOT NULL,
                stored         INTEGER NOT NULL,
                skipped        INTEGER NOT NULL,
                dropped        INTEGER NOT NULL,
                failed         INTEGER NOT NULL,
                detections     INTEGER NOT NULL,
                latency_count  INTEGER NOT NULL,
                latency_sum_ms REAL    NOT NULL,
                latency_max_ms REAL,
                PRIMARY KEY (camera_id, minute_us)
            ) WITHOUT ROWID;
            CREATE INDEX ix_camera_minute_stats_minute ON camera_minute_stats (minute_us);

            CREATE TABLE camera_minute_reasons (
                camera_id TEXT    NOT NULL,
                minute_us INTEGER NOT NULL,
                type      TEXT    NOT NULL,
                reason    TEXT    NOT NULL,
                count     INTEGER NOT NULL,
                PRIMARY KEY (camera_id, minute_us, type, reason)
            ) WITHOUT ROWID;
            CREATE INDEX ix_camera_minute_reasons_minute ON camera_minute_reasons (minute_us);

            CREATE TABLE camera_minute_latency (
                camera_id TEXT    NOT NULL,
                minute_us INTEGER NOT NULL,
                bucket    INTEGER NOT NULL,
                count     INTEGER NOT NULL,
                PRIMARY KEY (camera_id, minute_us, bucket)
            ) WITHOUT ROWID;
            CREATE INDEX ix_camera_minute_latency_minute ON camera_minute_latency (minute_us);
            """),
    ];
}
