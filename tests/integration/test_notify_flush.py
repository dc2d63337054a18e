"""``Notifier.flush``: waiting for what is queued without closing the notifier, as an
integration does before the connection its alerts go through closes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tests.support.receiver import Receiver, receiver, receiver_factory

from cronwell.clock import FrozenClock
from cronwell.domain.alerts import Alert, AlertEvent
from cronwell.notify import Notifier

__all__ = ["receiver", "receiver_factory"]  # fixtures used by pytest


def test_flush_waits_for_queued_and_in_flight_alerts_and_the_notifier_goes_on(
    receiver_factory: Callable[..., Receiver],
) -> None:
    held = receiver_factory(hold=True)
    notifier = Notifier(
        channels={}, clock=FrozenClock(datetime(2024, 5, 1, tzinfo=UTC)), backoff=0.05
    )
    notifier.start()
    try:
        assert notifier.flush(0.1)  # nothing queued
        notifier.send(Alert(event=AlertEvent.STOPPED, title="stopped"), [held.url("json")])
        held.wait_for(1)  # the delivery is in flight, held by the receiver
        assert not notifier.flush(0.2)
        held.release.set()
        assert notifier.flush(5)
        assert notifier.sent == 1
        # still delivering after a flush
        notifier.send(Alert(event=AlertEvent.STARTED, title="started"), [held.url("json")])
        assert notifier.flush(5)
        assert notifier.sent == 2
    finally:
        notifier.close()
