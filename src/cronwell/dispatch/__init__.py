"""Where runs execute: :class:`Dispatcher` is what the engine, recovery and the service ask
of an executor; :class:`LocalDispatcher` runs actions on worker threads of this process.
What a dispatcher does is published as :mod:`cronwell.domain.events`."""

from cronwell.dispatch.cancel import HandOver
from cronwell.dispatch.catchup import CatchUpSizes
from cronwell.dispatch.fire import Fire
from cronwell.dispatch.local import LocalDispatcher
from cronwell.dispatch.protocol import Dispatcher
from cronwell.dispatch.registry import FunctionRegistry

__all__ = [
    "CatchUpSizes",
    "Dispatcher",
    "Fire",
    "FunctionRegistry",
    "HandOver",
    "LocalDispatcher",
]
