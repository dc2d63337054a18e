"""Where runs execute. ``local``: worker threads of this process."""

from cronwell.dispatch.cancel import HandOver
from cronwell.dispatch.fire import Fire
from cronwell.dispatch.local import LocalDispatcher
from cronwell.dispatch.outcomes import (
    GridListener,
    OutcomeListener,
    RecordedGrid,
    RunListener,
    RunOutcome,
)
from cronwell.dispatch.registry import FunctionRegistry

__all__ = [
    "Fire",
    "FunctionRegistry",
    "GridListener",
    "HandOver",
    "LocalDispatcher",
    "OutcomeListener",
    "RecordedGrid",
    "RunListener",
    "RunOutcome",
]
