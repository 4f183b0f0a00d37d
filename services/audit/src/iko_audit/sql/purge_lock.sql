-- One purge at a time; a second one finds the lock taken and leaves the work to the first.
SELECT pg_try_advisory_xact_lock(%(key)s)
