"""Where runs execute. ``local``: worker threads of this process."""

from cronwell.dispatch.local import Fire, LocalDispatcher, RunListener
from cronwell.dispatch.registry import FunctionRegistry

__all__ = ["Fire", "FunctionRegistry", "LocalDispatcher", "RunListener"]
