SELECT id, prev_hash, hash FROM audit_purged ORDER BY id
