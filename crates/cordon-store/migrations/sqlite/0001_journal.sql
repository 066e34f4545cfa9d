-- The journal is the record; every other table is a projection of it, or a checkpoint over it.
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    severity    TEXT NOT NULL,
    status      TEXT NOT NULL,
    codename    TEXT,
    declared_by TEXT NOT NULL,
    declared_at INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL
);

-- Codenames are unique among incidents that are not closed.
CREATE UNIQUE INDEX incidents_open_codename ON incidents (codename)
    WHERE codename IS NOT NULL AND status <> 'closed';

-- Who may see an incident (members) and who must not (excluded), for filtering lists.
CREATE TABLE incident_people (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    person      TEXT NOT NULL,
    excluded    BOOLEAN NOT NULL,
    PRIMARY KEY (incident_id, person)
);

CREATE TABLE journal (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    payload     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

CREATE TABLE checkpoints (
    idx        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    prev       TEXT NOT NULL,
    heads      TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
);

-- Append-only through Cordon. Someone with the file can drop these triggers; the hash chain
-- and the signed checkpoints are what catch that.
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
