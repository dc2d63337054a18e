"""Benchmarks: cronwell and raw APScheduler 3 side by side, in the same process run.

They print figures and ratios; nothing here asserts a time.
"""
