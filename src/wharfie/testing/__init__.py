"""Helpers for tests and benches: ``wharfie.testing.random`` makes images to order."""
