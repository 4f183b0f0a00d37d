"""The floor: a bare scatter-gather with the pipeline's message path and Redis work, and nothing else.

A gateway publishes each lookup once on a headers exchange; the broker copies it to two connector workers and to
the assembler (quorum queues, persistent messages, publisher confirms, acks after the work, as the pipeline
does). Workers answer with a fixed small fragment, at once or after the sandbox latency, on a direct exchange.
The assembler registers, records and finishes each request in Redis with one Lua call each, shaped like the
pipeline's ``assembler.lua``, and replies to the gateway's own reply queue. No validation, no logging, no
framework: aio-pika, redis-py and orjson only. Every role is its own OS process (``python -m bench.floor.<role>``).
"""
