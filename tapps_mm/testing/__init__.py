"""Helpers for tests and benchmarks: random PPS cases and the official evaluator as oracle."""
