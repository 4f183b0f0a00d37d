-- Under the chain lock: whether the record is stored already, the chain's head (the newest row, or the newest
-- purged one when the newest rows were purged), when the record expires, and its JSON values as jsonb gives them
-- back (the hash is taken over what the store will hand out again).
SELECT
    EXISTS (SELECT 1 FROM audit_disclosure WHERE event_id = %(event_id)s) AS stored,
    (
        SELECT heads.hash
        FROM (
            (SELECT id, hash FROM audit_disclosure ORDER BY id DESC LIMIT 1)
            UNION ALL
            (SELECT id, hash FROM audit_purged ORDER BY id DESC LIMIT 1)
        ) AS heads
        ORDER BY heads.id DESC
        LIMIT 1
    ) AS head,
    %(started_at)s::timestamptz + %(bewaartermijn)s::interval AS expires_at,
    %(values)s::jsonb AS json_values
