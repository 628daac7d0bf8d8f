"""Benchmarks: `python -m bench` runs every module here and prints its figures."""
