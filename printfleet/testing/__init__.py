"""Helpers for tests and benchmarks that run real printfleet parts."""
