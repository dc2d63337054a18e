"""Celery as the remote executor (DESIGN rule 13): the Celery app both sides configure
alike, and the publisher the leader sends runs with.

One message per run, ``cronwell.execute(run_id, attempt, task_version)``, JSON only. The
worker acknowledges a message once the run is over (``acks_late``) and a message whose
worker died goes back to the queue, so a message is never lost with its worker; the
worker's compare-and-set on the run row makes a message delivered twice execute once.
Celery keeps no result: the run row is the result. Celery is an extra (``cronwell[celery]``),
imported when first used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cronwell.dispatch.remote import HARD_LIMIT_SLACK, Message, Publisher
from cronwell.extras import require
from cronwell.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

#: The name of cronwell's Celery task.
EXECUTE = "cronwell.execute"


def configure(app: Celery, *, default_queue: str = "cronwell") -> None:
    """Give ``app`` the settings of cronwell's own Celery app (``register`` leaves an
    application's app as it is; the benchmarks configure their plain app alike)."""
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=default_queue,
        broker_connection_retry_on_startup=True,
    )


def celery_app(broker: str, *, default_queue: str = "cronwell") -> Celery:
    """A Celery app on ``broker`` configured for cronwell's messages."""
    require("celery", "celery", "executor='celery'")
    from celery import Celery

    app = Celery("cronwell", broker=broker, set_as_current=False)
    configure(app, default_queue=default_queue)
    return app


class CeleryPublisher:
    """Sends runs to Celery workers: each batch over one connection and channel."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    @classmethod
    def for_broker(cls, broker: str, *, default_queue: str = "cronwell") -> CeleryPublisher:
        return cls(celery_app(broker, default_queue=default_queue))

    def publish(self, messages: Sequence[Message]) -> None:
        app = self.app
        with app.producer_or_acquire() as producer:
            for message in messages:
                app.send_task(EXECUTE, **_send_options(message), producer=producer)

    def close(self) -> None:
        self.app.close()


def celery_publisher(settings: Settings) -> Callable[[], Publisher] | None:
    """What builds the publisher of ``settings``' broker, when one is set."""
    broker = settings.celery_broker
    if not broker:
        return None
    queue = settings.celery_queue
    return lambda: CeleryPublisher.for_broker(broker, default_queue=queue)


def _send_options(message: Message) -> dict[str, Any]:
    """The task's timeout becomes the worker's soft time limit (the action is told to stop),
    and the hard one follows ``HARD_LIMIT_SLACK`` later (its process is killed)."""
    options: dict[str, Any] = {
        "args": (message.run_id, message.attempt, message.task_version),
        "queue": message.queue,
        "ignore_result": True,
    }
    if message.timeout is not None:
        options["soft_time_limit"] = message.timeout
        options["time_limit"] = message.timeout + HARD_LIMIT_SLACK
    return options
