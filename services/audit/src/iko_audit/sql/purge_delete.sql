DELETE FROM audit_disclosure WHERE id = ANY(%(ids)s)
