INSERT INTO audit_disclosure (
    event_id, ordinal, request_id, kind, profile,
    verwerkingsactiviteit, doelbinding, verwerking, vertrouwelijkheid, bewaartermijn,
    uitvoerder, systeem, gebruiker, subject, client, caller_kind, roles,
    objecttype, soort_object_id, object_id, sources, search, outcome,
    started_at, ended_at, expires_at, prev_hash, hash
) VALUES (
    %(event_id)s, %(ordinal)s, %(request_id)s, %(kind)s, %(profile)s,
    %(verwerkingsactiviteit)s, %(doelbinding)s, %(verwerking)s, %(vertrouwelijkheid)s, %(bewaartermijn)s,
    %(uitvoerder)s, %(systeem)s, %(gebruiker)s, %(subject)s, %(client)s, %(caller_kind)s, %(roles)s,
    %(objecttype)s, %(soort_object_id)s, %(object_id)s, %(sources)s, %(search)s, %(outcome)s,
    %(started_at)s, %(ended_at)s, %(expires_at)s, %(prev_hash)s, %(hash)s
)
