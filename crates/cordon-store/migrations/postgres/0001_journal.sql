-- The journal is the record; every other table is a projection of it, or a checkpoint over it.
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    severity    TEXT NOT NULL,
    status      TEXT NOT NULL,
    codename    TEXT,
    declared_by TEXT NOT NULL,
    declared_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    last_seq    BIGINT NOT NULL
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
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    payload     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

CREATE TABLE checkpoints (
    idx        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    prev       TEXT NOT NULL,
    heads      TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
);

-- Append-only through Cordon. Someone with database rights can drop these triggers; the hash
-- chain and the signed checkpoints are what catch that.
CREATE FUNCTION cordon_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION cordon_append_only();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION cordon_append_only();
