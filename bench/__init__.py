"""Benchmarks (not tests): they print figures. ``python -m bench`` runs them all."""
