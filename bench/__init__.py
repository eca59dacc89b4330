"""Benchmarks: measured and written down in BENCHMARKS.md, never asserted in tests."""
