-- The intake queue moves to its own file (see migrations/sqlite-intake). Processing records here
-- the last sequence number of that queue it applied, in the same transaction as its effects.
-- Unprocessed events left in `intake_events` are moved to the new queue when the store opens.
CREATE TABLE intake_progress (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);
INSERT INTO intake_progress (id, last_seq) VALUES (1, 0);
