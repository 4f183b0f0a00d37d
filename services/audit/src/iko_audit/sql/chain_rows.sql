-- Every stored row in chain order, with every column its hash covers.
SELECT
    id, hash,
    event_id, ordinal, request_id, kind, profile,
    verwerkingsactiviteit, doelbinding, verwerking, vertrouwelijkheid, bewaartermijn,
    uitvoerder, systeem, gebruiker, subject, client, caller_kind, roles,
    objecttype, soort_object_id, object_id, sources, search, outcome,
    started_at, ended_at, expires_at, prev_hash
FROM audit_disclosure
ORDER BY id
