SELECT count(*) FROM audit_disclosure WHERE soort_object_id = %(type)s AND object_id = %(value)s
