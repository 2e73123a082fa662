"""Metric aggregation, comparison table and plots."""
