"""Seed 003, the audiobook automation service, rebuilt on cronwell (see the README)."""
