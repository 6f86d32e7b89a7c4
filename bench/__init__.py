"""Benchmarks: ``python -m bench`` (``make bench``). They print figures; nothing here is a timed test."""
