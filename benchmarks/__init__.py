"""Benchmarks: cronwell and raw APScheduler 3.11 side by side, scenario by scenario, each
measurement in a fresh child process (``python -m benchmarks``; see README.md).

They print figures and ratios; nothing here asserts a time.
"""
