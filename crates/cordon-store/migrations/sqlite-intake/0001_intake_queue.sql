-- The intake queue of the SQLite backend, in a file of its own (`<database>-intake.db`), so that
-- accepting an event never waits for SQLite's one write lock on the main file. Every accepted
-- event is stored here before the sender is told 202; processing reads it in order and records
-- the last sequence number it applied in the main file (`intake_progress`), in the same
-- transaction as the alerts it wrote.
CREATE TABLE intake_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    integration TEXT NOT NULL,
    service     TEXT NOT NULL,
    action      TEXT NOT NULL,
    dedup_key   TEXT NOT NULL,
    group_key   TEXT,
    signal      TEXT NOT NULL
);
