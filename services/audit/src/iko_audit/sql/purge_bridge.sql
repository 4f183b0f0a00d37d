-- Before a row is deleted, its place in the chain is kept: the database itself admits only rows that have
-- expired by its own clock, with their real hashes (the row-level security policies of the migration).
INSERT INTO audit_purged (id, prev_hash, hash)
SELECT id, prev_hash, hash
FROM audit_disclosure
WHERE expires_at <= LEAST(%(now)s::timestamptz, now())
ORDER BY id
LIMIT %(batch)s
RETURNING id
