"""Where runs execute: :class:`Dispatcher` is what the engine, recovery and the service ask
of an executor; :class:`LocalDispatcher` runs actions on worker threads of this process."""

from cronwell.dispatch.cancel import HandOver
from cronwell.dispatch.catchup import CatchUpSizes
from cronwell.dispatch.fire import Fire
from cronwell.dispatch.local import LocalDispatcher
from cronwell.dispatch.outcomes import (
    GridListener,
    OutcomeListener,
    RecordedGrid,
    RunListener,
    RunOutcome,
)
from cronwell.dispatch.protocol import Dispatcher
from cronwell.dispatch.registry import FunctionRegistry

__all__ = [
    "CatchUpSizes",
    "Dispatcher",
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
