"""Benchmarks: each prints its figure and its ratio against a baseline measured in the same run."""
