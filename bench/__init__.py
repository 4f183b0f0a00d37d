"""IKO's benchmark harness: the pipeline against a bare scatter-gather floor and a one-process direct fan-out.

``python -m bench`` (``make bench``) runs every scenario in one go and writes ``bench/results/<date>.json`` and
``docs/benchmarks.md`` with its plots. See ``docs/benchmarks.md`` for what is measured and how.
"""
