"""gankit benchmarks: `python -m bench speed` and `python -m bench quality` (see README)."""
