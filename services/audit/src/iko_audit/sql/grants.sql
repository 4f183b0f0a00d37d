-- The service appends and reads; the purge job reads, deletes expired rows and keeps their place in the chain.
-- Neither may change a row, and neither may truncate (the owner runs the migrations and holds the rest).
REVOKE ALL ON audit_disclosure, audit_purged FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {writer}, {purger};
GRANT SELECT, INSERT ON audit_disclosure TO {writer};
GRANT SELECT ON audit_purged TO {writer};
GRANT SELECT, DELETE ON audit_disclosure TO {purger};
GRANT SELECT, INSERT ON audit_purged TO {purger};
