"""Alert delivery with real Apprise over real HTTP on loopback.

Every service here is a ``ThreadingHTTPServer`` on 127.0.0.1 speaking the wire format the
Apprise plugin expects (``json://``, ``form://``, and Discord's webhook API, reached by
pointing Apprise's Discord plugin at the local server).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apprise.plugins.discord import NotifyDiscord
from tests.support.receiver import Receiver, closed_port, receiver, receiver_factory

from cronwell.clock import FrozenClock
from cronwell.domain.alerts import Alert, AlertEvent
from cronwell.domain.events import AlertDelivered, EventBus
from cronwell.notify import DeliveryRecord, Notifier, TemplateSet, render

__all__ = ["receiver", "receiver_factory"]  # fixtures used by pytest

WAIT = 10.0
NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SECRET_PASSWORD = "s3cretpass"
SECRET_TOKEN = "abcdefghijklmnopqrstuvwxyz"
DISCORD_ID = "123456789012345678"
DISCORD_TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEfGhIjKlMnOpQrStUvWxYz01"


# -- records --------------------------------------------------------------------------------


class Records:
    """The deliveries a Notifier publishes on ``events``, waitable."""

    def __init__(self) -> None:
        self.items: list[DeliveryRecord] = []
        self._changed = threading.Condition()
        self.events = EventBus()
        self.events.subscribe(AlertDelivered, self)

    def __call__(self, delivered: AlertDelivered) -> None:
        with self._changed:
            self.items.append(delivered.record)
            self._changed.notify_all()

    def wait_for(
        self, count: int, where: Callable[[DeliveryRecord], bool] = lambda r: True
    ) -> list[DeliveryRecord]:
        with self._changed:
            ok = self._changed.wait_for(
                lambda: len([r for r in self.items if where(r)]) >= count, WAIT
            )
            found = [r for r in self.items if where(r)]
        assert ok, f"expected {count} record(s), got {self.items}"
        return found


@pytest.fixture
def records() -> Records:
    return Records()


@pytest.fixture
def make_notifier(records: Records) -> Iterator[Callable[..., Notifier]]:
    made: list[Notifier] = []

    def make(**kwargs: Any) -> Notifier:
        kwargs.setdefault("channels", {})
        kwargs.setdefault("clock", FrozenClock(NOW))
        kwargs.setdefault("events", records.events)
        kwargs.setdefault("backoff", 0.01)
        kwargs.setdefault("timeout", 5.0)
        notifier = Notifier(**kwargs)
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        notifier.close(timeout=1.0)


def failed_alert(task: str = "nightly-backup", **kwargs: Any) -> Alert:
    values: dict[str, Any] = {
        "event": AlertEvent.FAILED,
        "title": f"{task} failed",
        "task_id": task,
        "schedule": "every day at 02:00",
        "occurrence": datetime(2024, 5, 1, 2, 0, tzinfo=UTC),
        "attempt": 1,
        "duration": 12.5,
        "error": "RuntimeError: disk full",
        "output_excerpt": "copying files\ndone 42%",
        "run_id": 7,
        "link": "https://cronwell.example/runs/7",
    }
    values.update(kwargs)
    return Alert(**values)


# -- delivery -------------------------------------------------------------------------------


def test_json_delivery_posts_title_body_and_type(
    receiver: Receiver, make_notifier: Callable[..., Notifier], records: Records
) -> None:
    notifier = make_notifier()
    notifier.start()
    alert = failed_alert()
    notifier.send(alert, [receiver.url("json")])

    (request,) = receiver.wait_for(1)
    (record,) = records.wait_for(1)
    payload = request.json()
    assert request.path == "/hook"
    assert payload["title"] == "❌ nightly-backup failed"
    assert "RuntimeError: disk full" in payload["message"]
    assert "every day at 02:00" in payload["message"]
    assert payload["type"] == "failure"
    assert record.status == "sent"
    assert record.attempts == 1
    assert record.error is None
    assert record.event == "failed"
    assert record.task_id == "nightly-backup"
    assert record.run_id == 7
    assert record.created_at == NOW
    assert record.title == "❌ nightly-backup failed"
    assert notifier.sent == 1
    assert notifier.failed == 0


def test_form_delivery_posts_form_fields(
    receiver: Receiver, make_notifier: Callable[..., Notifier], records: Records
) -> None:
    notifier = make_notifier()
    notifier.start()
    notifier.send(failed_alert(event=AlertEvent.RECOVERED, failures=3), [receiver.url("form")])

    (request,) = receiver.wait_for(1)
    records.wait_for(1, lambda r: r.status == "sent")
    fields = request.form()
    assert fields["title"] == "✅ nightly-backup recovered after 3 failures"
    assert fields["type"] == "success"
    assert "every day at 02:00" in fields["message"]


def test_a_channel_with_two_urls_reaches_both(
    receiver_factory: Callable[..., Receiver],
    make_notifier: Callable[..., Notifier],
    records: Records,
) -> None:
    first, second = receiver_factory(), receiver_factory()
    notifier = make_notifier(channels={"ops": [first.url("json"), second.url("form")]})
    notifier.start()
    notifier.send(failed_alert(), ["ops"])

    first.wait_for(1)
    second.wait_for(1)
    sent = records.wait_for(2, lambda r: r.status == "sent")
    assert {r.channel for r in sent} == {"ops"}
    assert {r.target for r in sent} == {first.url("json"), second.url("form")}
    assert notifier.sent == 2


def test_a_channel_given_as_one_string(
    receiver: Receiver, make_notifier: Callable[..., Notifier], records: Records
) -> None:
    notifier = make_notifier(channels={"dev": receiver.url("json")})
    notifier.start()
    notifier.send(failed_alert(), ["dev"])
    receiver.wait_for(1)
    assert records.wait_for(1)[0].status == "sent"


def test_an_unknown_channel_is_a_failed_record_not_an_exception(
    make_notifier: Callable[..., Notifier], records: Records
) -> None:
    notifier = make_notifier(channels={"dev": ["json://127.0.0.1:9/x"]})
    notifier.start()
    notifier.send(failed_alert(), ["nope"])

    (record,) = records.wait_for(1)
    assert record.status == "failed"
    assert record.target == "nope"
    assert record.attempts == 0
    assert record.error == "no channel named 'nope'; configure CRONWELL_CHANNELS"
    assert notifier.failed == 1


def test_an_invalid_url_fails_with_a_sentence_without_retrying(
    make_notifier: Callable[..., Notifier], records: Records
) -> None:
    notifier = make_notifier(max_attempts=4)
    notifier.start()
    notifier.send(failed_alert(), [f"nosuchservice://user:{SECRET_PASSWORD}@host/path"])

    (record,) = records.wait_for(1)
    assert record.status == "failed"
    assert record.attempts == 1
    assert record.error is not None
    assert "is not a usable Apprise URL" in record.error
    assert SECRET_PASSWORD not in record.error
    assert SECRET_PASSWORD not in record.target


def test_retry_with_backoff_then_success(
    receiver_factory: Callable[..., Receiver],
    make_notifier: Callable[..., Notifier],
    records: Records,
) -> None:
    """A failed attempt is retried after a backoff, not at once: an alert sent after each
    failure reaches the same target before the retry does."""
    # answers in the order requests arrive: the flaky alert's first two attempts fail
    receiver = receiver_factory(statuses=[500, 200, 500, 200, 200])
    notifier = make_notifier(max_attempts=4, backoff=1.0)
    notifier.start()
    notifier.send(failed_alert("flaky"), [receiver.url("json")])
    receiver.wait_for(1)  # the first attempt failed (or is failing)
    notifier.send(failed_alert("first-other"), [receiver.url("json")])
    receiver.wait_for(3)  # the other one, then the retry
    notifier.send(failed_alert("second-other"), [receiver.url("json")])

    records.wait_for(3)
    titles = [request.json()["title"].removeprefix("❌ ") for request in receiver.wait_for(5)]
    assert titles == [
        "flaky failed",
        "first-other failed",
        "flaky failed",
        "second-other failed",
        "flaky failed",
    ]
    flaky = next(r for r in records.items if r.task_id == "flaky")
    assert flaky.status == "sent"
    assert flaky.attempts == 3
    assert notifier.sent == 3
    assert notifier.failed == 0


def test_permanent_failure_does_not_hold_back_other_alerts(
    receiver: Receiver,
    make_notifier: Callable[..., Notifier],
    records: Records,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cronwell.notify")
    dead = f"json://127.0.0.1:{closed_port()}/x"
    notifier = make_notifier(max_attempts=3, backoff=0.2)
    notifier.start()
    notifier.send(failed_alert("doomed"), [dead])
    notifier.send(failed_alert("healthy"), [receiver.url("json")])

    records.wait_for(2)
    order = [(r.task_id, r.status) for r in records.items]
    # The healthy alert is delivered while the dead target waits out its backoff.
    assert order == [("healthy", "sent"), ("doomed", "failed")]
    doomed = records.items[1]
    assert doomed.attempts == 3
    assert doomed.error
    assert doomed.target == dead
    assert notifier.failed == 1
    assert notifier.sent == 1
    failures = [r for r in caplog.records if getattr(r, "action", None) == "alert_failed"]
    assert [getattr(r, "target", None) for r in failures] == [dead]
    retries = [r for r in caplog.records if getattr(r, "action", None) == "alert_retry"]
    assert len(retries) == 2


def test_send_returns_at_once_while_the_target_hangs(
    receiver_factory: Callable[..., Receiver],
    make_notifier: Callable[..., Notifier],
    records: Records,
) -> None:
    hanging = receiver_factory(hold=True)
    healthy = receiver_factory()
    notifier = make_notifier(max_attempts=1, timeout=30.0)
    notifier.start()

    notifier.send(failed_alert("slow"), [hanging.url("json")])
    hanging.wait_for(1)  # the delivery thread is now stuck in the request
    notifier.send(failed_alert("fast"), [healthy.url("json")])
    # both sends returned while the first delivery still hangs: nothing is recorded yet
    assert records.items == []
    assert healthy.requests == []  # the second waits behind the first
    hanging.release.set()

    slow = records.wait_for(1, lambda r: r.task_id == "slow")[0]
    assert slow.status == "sent"
    fast = records.wait_for(1, lambda r: r.task_id == "fast")[0]
    assert fast.status == "sent"


def test_close_flushes_what_is_queued(
    receiver: Receiver, make_notifier: Callable[..., Notifier], records: Records
) -> None:
    notifier = make_notifier()
    for index in range(3):
        notifier.send(failed_alert(f"task-{index}"), [receiver.url("json")])
    notifier.start()
    notifier.close(timeout=WAIT)
    assert [r.status for r in records.items] == ["sent", "sent", "sent"]


def test_close_records_what_it_could_not_deliver(
    make_notifier: Callable[..., Notifier], records: Records
) -> None:
    notifier = make_notifier(max_attempts=4, backoff=30.0)
    notifier.start()
    notifier.send(failed_alert(), [f"json://127.0.0.1:{closed_port()}/x"])
    records_before = len(records.items)
    notifier.close(timeout=0.5)
    assert records_before == 0
    (record,) = records.items
    assert record.status == "failed"
    assert record.attempts == 1
    assert record.error is not None
    assert "stopped before" in record.error
    # Sending after close never raises either.
    notifier.send(failed_alert(), ["anything"])
    assert records.items[-1].status == "failed"


def test_close_does_not_wait_for_a_hanging_attempt_and_still_records_it(
    receiver_factory: Callable[..., Receiver],
    make_notifier: Callable[..., Notifier],
    records: Records,
) -> None:
    hanging = receiver_factory(hold=True, statuses=[500])
    notifier = make_notifier(max_attempts=3, timeout=30.0)
    notifier.start()
    notifier.send(failed_alert(), [hanging.url("json")])
    hanging.wait_for(1)

    notifier.close(timeout=0.1)
    assert records.items == []  # close returned while the attempt still hangs
    hanging.release.set()  # the attempt fails now, after close gave up on it

    (record,) = records.wait_for(1)  # recorded once the attempt gave up
    assert record.status == "failed"
    assert record.attempts == 1
    assert record.error is not None
    assert "stopped before" in record.error


def test_deliver_now_is_synchronous(receiver: Receiver, records: Records) -> None:
    notifier = Notifier(channels={}, clock=FrozenClock(NOW), events=records.events)
    alert = Alert(event=AlertEvent.TEST, title="Test alert from cronwell")
    record = notifier.deliver_now(alert, receiver.url("json"))
    assert record.status == "sent"
    assert record.attempts == 1
    assert receiver.requests[0].json()["title"] == "ℹ️ Test alert from cronwell"
    assert records.items == [record]


def test_deliver_now_to_a_dead_target_fails_after_one_attempt(records: Records) -> None:
    notifier = Notifier(channels={}, clock=FrozenClock(NOW), events=records.events, max_attempts=4)
    record = notifier.deliver_now(failed_alert(), f"json://127.0.0.1:{closed_port()}/x")
    assert record.status == "failed"
    assert record.attempts == 1
    assert record.error


def test_a_template_that_fails_at_render_time_falls_back_to_the_default(
    receiver: Receiver,
    make_notifier: Callable[..., Notifier],
    records: Records,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "title.j2").write_text("{{ alert.no_such_field }}")
    notifier = make_notifier(templates=TemplateSet.from_directory(tmp_path))
    notifier.start()
    notifier.send(failed_alert(), [receiver.url("json")])
    (request,) = receiver.wait_for(1)
    records.wait_for(1)
    assert request.json()["title"] == "❌ nightly-backup failed"
    assert any(getattr(r, "action", None) == "alert_template_failed" for r in caplog.records)


# -- redaction ------------------------------------------------------------------------------


def _assert_no_secret(texts: list[str]) -> None:
    for text in texts:
        assert SECRET_PASSWORD not in text, text
        assert SECRET_TOKEN not in text, text


@pytest.mark.parametrize("answer", ["refused", "500"])
def test_a_failed_delivery_never_shows_the_secrets(
    answer: str,
    receiver_factory: Callable[..., Receiver],
    make_notifier: Callable[..., Notifier],
    records: Records,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # Apprise's debug lines name the URL it posts to
    port = receiver_factory(statuses=[500]).port if answer == "500" else closed_port()
    url = f"json://user:{SECRET_PASSWORD}@127.0.0.1:{port}/x?token={SECRET_TOKEN}"
    notifier = make_notifier(max_attempts=2)
    notifier.start()
    notifier.send(failed_alert(), [url])

    (record,) = records.wait_for(1)
    notifier.close()
    assert record.status == "failed"
    assert record.error
    assert record.target == f"json://user:***@127.0.0.1:{port}/x?token=***"
    _assert_no_secret([record.target, record.error, repr(record)])
    assert any(r.name.startswith("apprise") for r in caplog.records)
    _assert_no_secret([r.getMessage() for r in caplog.records])
    _assert_no_secret([caplog.text])


def test_deliver_now_error_never_shows_the_secrets(records: Records) -> None:
    url = f"json://user:{SECRET_PASSWORD}@127.0.0.1:{closed_port()}/x?token={SECRET_TOKEN}"
    notifier = Notifier(channels={"x": [url]}, clock=FrozenClock(NOW), events=records.events)
    record = notifier.deliver_now(failed_alert(), "x")
    assert record.status == "failed"
    _assert_no_secret([repr(record)])


# -- Discord through Apprise ----------------------------------------------------------------


@pytest.fixture
def discord(receiver_factory: Callable[..., Receiver], monkeypatch: pytest.MonkeyPatch) -> Receiver:
    """Apprise's Discord plugin posting to a loopback server instead of discord.com."""
    receiver = receiver_factory(statuses=[204])
    monkeypatch.setattr(
        NotifyDiscord, "notify_url", f"http://127.0.0.1:{receiver.port}/api/webhooks"
    )
    return receiver


@pytest.mark.parametrize(
    ("event", "colour"),
    [
        (AlertEvent.FAILED, 0xFF0000),
        (AlertEvent.RECOVERED, 0x00FF00),
        (AlertEvent.MISSED, 0xFFA500),
        (AlertEvent.TEST, 0x3498DB),
    ],
)
def test_discord_gets_an_embed_in_the_seed_colours(
    event: AlertEvent, colour: int, discord: Receiver, records: Records
) -> None:
    notifier = Notifier(channels={}, clock=FrozenClock(NOW), events=records.events)
    alert = failed_alert(event=event, failures=2)
    record = notifier.deliver_now(alert, f"discord://{DISCORD_ID}/{DISCORD_TOKEN}")

    assert record.status == "sent"
    assert record.target == f"discord://{DISCORD_ID}/***"
    (request,) = discord.wait_for(1)
    assert request.path.startswith(f"/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}")
    payload = request.json()
    (embed,) = payload["embeds"]
    rendered = render(alert)
    assert embed["color"] == colour
    assert embed["title"] == rendered.title
    assert embed["description"] == rendered.body
    assert "content" not in payload


def test_discord_output_cannot_ping_everyone(discord: Receiver, records: Records) -> None:
    notifier = Notifier(channels={}, clock=FrozenClock(NOW), events=records.events)
    alert = failed_alert(output_excerpt="@everyone look! mail ops@example.com <@1234>")
    assert notifier.deliver_now(alert, f"discord://{DISCORD_ID}/{DISCORD_TOKEN}").status == "sent"
    payload = discord.wait_for(1)[0].json()
    assert "allowed_mentions" not in payload
    assert "content" not in payload
    assert "everyone look!" in payload["embeds"][0]["description"]


def test_discord_keeps_a_format_the_user_chose(discord: Receiver, records: Records) -> None:
    notifier = Notifier(channels={}, clock=FrozenClock(NOW), events=records.events)
    url = f"discord://{DISCORD_ID}/{DISCORD_TOKEN}/?format=text"
    assert notifier.deliver_now(failed_alert(), url).status == "sent"
    payload = discord.wait_for(1)[0].json()
    assert "embeds" not in payload
    assert payload["content"].startswith("❌ nightly-backup failed")


def test_discord_failure_hides_the_webhook_token(
    receiver_factory: Callable[..., Receiver],
    monkeypatch: pytest.MonkeyPatch,
    records: Records,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    refusing = receiver_factory(statuses=[400])
    monkeypatch.setattr(
        NotifyDiscord, "notify_url", f"http://127.0.0.1:{refusing.port}/api/webhooks"
    )
    notifier = Notifier(
        channels={"dev": [f"discord://{DISCORD_ID}/{DISCORD_TOKEN}"]},
        clock=FrozenClock(NOW),
        events=records.events,
    )
    record = notifier.deliver_now(failed_alert(), "dev")
    assert record.status == "failed"
    assert DISCORD_TOKEN not in repr(record)
    assert any("Discord POST URL" in r.getMessage() for r in caplog.records)
    assert DISCORD_TOKEN not in caplog.text
