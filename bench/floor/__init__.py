"""The floor: a bare scatter-gather with the pipeline's message path and Redis work, and nothing else.

A gateway publishes each lookup (its BSN included) once on a headers exchange; the broker copies it to two
connector workers and to the assembler (quorum queues, persistent messages, publisher confirms, acks after the
work, as the pipeline does). Each worker does its source's part of the pipeline connectors' work against its
simulator (``bench.sources``, the same code as the direct fan-out's, through the same httpx client on aiohttp's
pool) and publishes a fragment with the data on a direct exchange. The assembler registers, records and
finishes each request in Redis with one Lua call each, shaped like the pipeline's ``assembler.lua``, and replies
to the gateway's own reply queue. Before it answers, the gateway publishes an audit record of the disclosure
(who asked, about whom, which sources) to a quorum queue and waits for the broker's confirm, as every compliant
design must; an audit process takes the records off that queue and acks them (storing them is the pipeline's
audit service's work, beyond the floor). No validation, no logging, no framework: aio-pika, redis-py, orjson and the
source client only. Every role is its own OS process (``python -m bench.floor.<role>``); the BRP and ZGW
simulators are the sources, processes of their own too.
"""
