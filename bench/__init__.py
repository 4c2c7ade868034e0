"""Benchmarks of the synth engine against the peer (ctgan); see bench/README.md.

This package is imported under two interpreters: the project's .venv (ours, scoring, the runner) and the
separate .venv-bench that holds the peer. Modules shared by both (datasets, common) import only the
standard library, numpy and pandas.
"""
