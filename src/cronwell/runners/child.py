"""Entry point of the child process that runs a Python action with process isolation:
``python -m cronwell.runners.child`` (see :mod:`cronwell.runners.isolated`).

Not imported by :mod:`cronwell.runners`, so that ``-m`` runs it without a warning.
"""

from __future__ import annotations

import sys

from cronwell.runners.isolated import child_main

if __name__ == "__main__":
    sys.exit(child_main())
