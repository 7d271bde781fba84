"""Detectors, heads and PPS fusion."""
