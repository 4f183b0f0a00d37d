-- One page of the disclosures about one data subject, newest first (the index audit_disclosure_by_subject).
SELECT
    id, event_id, request_id, kind, profile,
    verwerkingsactiviteit, doelbinding, verwerking, vertrouwelijkheid, bewaartermijn,
    uitvoerder, systeem, gebruiker, subject, client, caller_kind, roles,
    soort_object_id, object_id, sources, search, outcome, started_at, ended_at
FROM audit_disclosure
WHERE soort_object_id = %(type)s AND object_id = %(value)s
ORDER BY started_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s
