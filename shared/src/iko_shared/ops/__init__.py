"""Operations: the ops HTTP endpoint (Prometheus ``/metrics``, ``/livez``, ``/readyz``) and the consumer watchdog.

``metrics`` holds the metric objects (one registry) and the small functions the adapters record through;
``health`` the plain readiness and liveness decisions; ``watchdog`` the consumer watchdog; ``server`` the
aiohttp endpoint; ``service`` wires the three into a FastStream service.
"""
