-- One row per disclosure per data subject: "who saw this subject's data" is one index lookup.
CREATE TABLE audit_disclosure (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id text NOT NULL,
    ordinal integer NOT NULL,
    request_id text NOT NULL,
    kind text NOT NULL,
    profile text NOT NULL,
    verwerkingsactiviteit text NOT NULL,
    doelbinding text NOT NULL,
    verwerking text NOT NULL,
    vertrouwelijkheid text NOT NULL,
    bewaartermijn text NOT NULL,
    uitvoerder text NOT NULL,
    systeem text NOT NULL,
    gebruiker text NOT NULL,
    subject text NOT NULL,
    client text NOT NULL,
    caller_kind text NOT NULL,
    roles text[] NOT NULL,
    -- The data subject; all null for an access that disclosed no one (a search without rows).
    objecttype text,
    soort_object_id text,
    object_id text,
    -- What of this subject was disclosed: source, operation, fields, status; never a fetched value.
    sources jsonb NOT NULL,
    search jsonb,
    outcome text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    -- A redelivered record is stored once.
    CONSTRAINT audit_disclosure_once UNIQUE (event_id, ordinal),
    CONSTRAINT audit_disclosure_object CHECK ((soort_object_id IS NULL) = (object_id IS NULL))
);

CREATE INDEX audit_disclosure_by_subject ON audit_disclosure (soort_object_id, object_id, started_at DESC, id DESC);
CREATE INDEX audit_disclosure_by_time ON audit_disclosure (started_at);
CREATE INDEX audit_disclosure_by_expiry ON audit_disclosure (expires_at);

-- The place in the chain of every row the retention purge deleted, so that the chain bridges them.
CREATE TABLE audit_purged (
    id bigint PRIMARY KEY,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    purged_at timestamptz NOT NULL DEFAULT now()
);

-- Row-level security binds every role but the owner (and superusers), whatever it was granted: a row may be
-- deleted only once it has expired by the database's clock, and a purge record only names a real expired row
-- with its real hashes. So the purge role cannot remove a live record, nor bridge a gap it made.
ALTER TABLE audit_disclosure ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_disclosure_read ON audit_disclosure FOR SELECT USING (true);
CREATE POLICY audit_disclosure_append ON audit_disclosure FOR INSERT WITH CHECK (true);
CREATE POLICY audit_disclosure_expired ON audit_disclosure FOR DELETE USING (expires_at <= now());

ALTER TABLE audit_purged ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_purged_read ON audit_purged FOR SELECT USING (true);
CREATE POLICY audit_purged_bridge ON audit_purged FOR INSERT WITH CHECK (
    EXISTS (
        SELECT 1
        FROM audit_disclosure AS d
        WHERE d.id = audit_purged.id
          AND d.prev_hash = audit_purged.prev_hash
          AND d.hash = audit_purged.hash
          AND d.expires_at <= now()
    )
);
