"""What a task created or run from outside the machine may make the service execute.

The holder of the API token is an operator, not root (DESIGN rule 12): they manage tasks, but
cannot make the service run arbitrary code. Every remote door (the HTTP API today; the
dashboard and the "tasks as code" apply endpoint go through the same check) calls
:meth:`ActionPolicy.check` before anything else looks at a task's action, so a refused
function is never imported. The library and the CLI do not: they run with the rights of the
machine's owner, who could run the code directly.

A Python action is allowed when its ``pkg.mod:func`` reference is the one of a function
registered in the serving process (``@cw.task``, ``add_job`` with a callable), is listed
exactly in ``CRONWELL_API_FUNCTIONS``, or names a function defined in a module that a module
entry of ``CRONWELL_API_FUNCTIONS`` allows. A shell action is allowed with ``CRONWELL_ALLOW_SHELL``.
HTTP actions are always allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from cronwell.domain.action import PythonAction, ShellAction
from cronwell.domain.task import Task
from cronwell.errors import ForbiddenError
from cronwell.runners import resolve_function


def function_matches(ref: str, pattern: str) -> bool:
    """Whether the function reference ``ref`` (``pkg.mod:func``) matches one entry of the
    allow-list.

    - ``pkg.mod:func`` (with a colon) matches that reference exactly;
    - ``pkg.`` (ending in a dot) matches every module under ``pkg`` but not ``pkg`` itself;
    - ``pkg.mod`` matches the module ``pkg.mod`` and every module under it.

    Module names compare as whole dotted names: ``myapp`` does not match ``myapplication``.
    """
    if ":" in pattern:
        return ref == pattern
    module = ref.partition(":")[0]
    if pattern.endswith("."):
        return module.startswith(pattern)
    return module == pattern or module.startswith(pattern + ".")


class ActionPolicy:
    """The check every remote door runs on a task before storing or running it.

    ``registered`` returns the references of the functions registered in this process; it is
    read on each check, so functions registered after start-up count.
    """

    def __init__(
        self,
        *,
        allow_shell: bool,
        functions: Sequence[str],
        registered: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self._allow_shell = allow_shell
        self._exact = frozenset(p for p in functions if ":" in p)
        self._modules = tuple(p for p in functions if ":" not in p)
        self._registered = registered

    def _module_allowed(self, module: str) -> bool:
        return any(function_matches(f"{module}:_", p) for p in self._modules)

    def check(self, task: Task, *, doing: str = "create") -> None:
        """Raise :class:`ForbiddenError` when ``task``'s action may not come from outside.

        ``doing`` names what was asked (``create``, ``update``, ``run``) for the message.
        The reference is judged as text first, so a refused module is never imported. A
        reference allowed by a module entry is then resolved (importing that allowed module)
        and must name an object defined in an allowed module: ``myapp.jobs:os.system``,
        reaching through a module ``myapp.jobs`` imported, is refused.
        """
        action = task.action
        if isinstance(action, ShellAction) and not self._allow_shell:
            raise ForbiddenError(
                f"Cannot {doing} task {task.id!r} through the API: shell tasks run any "
                "command, so the API accepts them only when the service runs with "
                "CRONWELL_ALLOW_SHELL=1."
            )
        if not isinstance(action, PythonAction):
            return
        ref = action.func
        if ref in self._exact or ref in self._registered():
            return
        module, _, qualname = ref.partition(":")
        if not self._module_allowed(module):
            raise ForbiddenError(
                f"Cannot {doing} task {task.id!r} through the API: the function {ref!r} is "
                "neither registered in the application (@cw.task, add_job with a callable) "
                "nor allowed by CRONWELL_API_FUNCTIONS. Add its module or the reference "
                f"itself to CRONWELL_API_FUNCTIONS (e.g. CRONWELL_API_FUNCTIONS={module}) "
                "to allow it."
            )
        if any(part.startswith("__") for part in qualname.split(".")):
            raise ForbiddenError(
                f"Cannot {doing} task {task.id!r} through the API: {ref!r} reaches through "
                "a special attribute; name the function itself, or list the exact reference "
                "in CRONWELL_API_FUNCTIONS."
            )
        defined_in = getattr(resolve_function(ref), "__module__", None)
        if not isinstance(defined_in, str) or not self._module_allowed(defined_in):
            raise ForbiddenError(
                f"Cannot {doing} task {task.id!r} through the API: {ref!r} is defined in "
                f"module {defined_in!r}, which CRONWELL_API_FUNCTIONS does not allow (a module "
                "entry allows the functions defined in those modules, not what they import). "
                "List the exact reference in CRONWELL_API_FUNCTIONS to allow it."
            )
