"""Alembic migrations for cronwell's tables (run by ``Store.upgrade``)."""
