"""Benchmarks of irefer-async, each against a baseline measured in the same run (see run.py)."""
