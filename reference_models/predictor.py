"""Placeholder; the predictor follows."""
