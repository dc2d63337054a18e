"""Which processes of a Django project start the embedded scheduler.

Django runs every app's ``ready()`` in every process that loads the project: the web
server's workers, but also ``migrate``, ``shell``, ``test``, ``collectstatic``, a Celery
worker, a test run under pytest, and ``runserver``'s autoreloader, whose parent process
only watches files and restarts a child that serves. A scheduler started in all of them
fires from a migration, pins the lease in the reloader's parent (which keeps the code it
started with while the child reloads edits), or runs tasks against a test database.

So the embedded scheduler starts only where the project is served:

* ``manage.py runserver``: in the process that serves, i.e. the autoreloader's child
  (``RUN_MAIN=true``, Django's own marker) or the single process of ``--noreload``;
* a WSGI/ASGI server process cronwell recognises: gunicorn, uvicorn, daphne, hypercorn,
  granian, uWSGI, waitress, mod_wsgi. Each worker starts one; the scheduler lease lets
  exactly one of them fire and the others stand by to take over.

Every other process starts none. A server not in the list starts it by calling
:func:`cronwell.contrib.django.start` from its ``wsgi.py``/``asgi.py``.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

# Django's autoreloader marks the child process it starts to serve (django.utils.autoreload)
RELOADER_CHILD = ("RUN_MAIN", "true")
_MANAGE = frozenset({"manage.py", "django-admin", "django-admin.py"})
_SERVERS = frozenset(
    {
        "daphne",
        "granian",
        "gunicorn",
        "hypercorn",
        "mod_wsgi-express",
        "uvicorn",
        "uwsgi",
        "waitress-serve",
    }
)
# servers that embed Python and name no program: their own module is there to import
_EMBEDDING_MODULES = ("uwsgi", "mod_wsgi")


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether this process starts the embedded scheduler, and why (for the log)."""

    start: bool
    reason: str


def embedded_decision(
    argv: Sequence[str], environ: Mapping[str, str], modules: Container[str]
) -> Decision:
    """Decide for the process with command line ``argv``, environment ``environ`` and
    imported ``modules`` (``sys.argv``, ``os.environ``, ``sys.modules``)."""
    program = _program(argv)
    if program in _MANAGE:
        command = argv[1] if len(argv) > 1 else "help"
        if command != "runserver":
            return Decision(False, f"`{program} {command}` is a management command")
        if "--noreload" in argv:
            return Decision(True, "`runserver --noreload` serves in this process")
        if environ.get(RELOADER_CHILD[0]) == RELOADER_CHILD[1]:
            return Decision(True, "runserver's autoreloader started this process to serve")
        return Decision(
            False, "this is runserver's autoreloader, which only restarts the process that serves"
        )
    if program in _SERVERS:
        return Decision(True, f"{program} serves the project in this process")
    for module in _EMBEDDING_MODULES:
        if module in modules:
            return Decision(True, f"{module} serves the project in this process")
    return Decision(
        False,
        f"{program or 'this program'} is not a web server cronwell knows; start the "
        "scheduler with cronwell.contrib.django.start() in wsgi.py/asgi.py, or run "
        "`manage.py cronwell serve`",
    )


def _program(argv: Sequence[str]) -> str:
    """The program's name: ``gunicorn`` for ``/venv/bin/gunicorn`` and for ``python -m
    gunicorn`` (whose ``argv[0]`` is ``…/gunicorn/__main__.py``)."""
    if not argv or not argv[0]:
        return ""
    path = PurePath(argv[0])
    if path.name == "__main__.py":
        parent = path.parent.name
        return "django-admin" if parent == "django" else parent
    name = path.name
    return name if name in _MANAGE else name.removesuffix(".exe").removesuffix(".py")
