-- One writer at a time extends the chain, across replicas: held until the transaction ends.
SELECT pg_advisory_xact_lock(%(key)s)
