namespace Detektor.Storage.Sqlite;

/// <summary>The SQLite schema, as numbered migrations applied in order (see docs/storage.md).</summary>
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
    ];
}
