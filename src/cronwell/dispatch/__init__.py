"""Where runs execute. ``local``: worker threads of this process."""

from cronwell.dispatch.local import (
    Fire,
    LocalDispatcher,
    OutcomeListener,
    RunListener,
    RunOutcome,
)
from cronwell.dispatch.registry import FunctionRegistry

__all__ = [
    "Fire",
    "FunctionRegistry",
    "LocalDispatcher",
    "OutcomeListener",
    "RunListener",
    "RunOutcome",
]
