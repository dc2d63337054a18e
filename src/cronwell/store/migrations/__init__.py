"""Alembic migrations for cronwell's tables (run by ``Store.upgrade``).

``HEAD`` is the revision of the newest migration in ``versions/``. The store compares a
database's version with it and imports Alembic only when they differ: Alembic adds about
20,000 objects to a process, and every full garbage collection walks them again, long
after the one start-up that needed them. A test keeps ``HEAD`` equal to Alembic's own head.
"""

HEAD = "0010"
