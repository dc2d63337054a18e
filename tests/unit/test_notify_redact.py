"""Secrets in notification URLs never reach a log, a record or a screen."""

from __future__ import annotations

import logging

import pytest

from cronwell.notify.redact import (
    RedactingFilter,
    URLRegistry,
    redact_text,
    redact_url,
    url_secrets,
)

TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEfGhIjKlMnOpQrStUvWxYz01"
TG_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

# (url, expected redacted form, secrets that must not survive)
CASES = [
    pytest.param(
        f"discord://123456789012345678/{TOKEN}",
        "discord://123456789012345678/***",
        [TOKEN],
        id="discord",
    ),
    pytest.param(
        "discord://botname@123456789012345678/abcDEF-ghi_JKL/?format=markdown&avatar=no",
        "discord://botname@123456789012345678/***/?format=markdown&avatar=no",
        ["abcDEF-ghi_JKL"],
        id="discord-short-token-with-botname",
    ),
    pytest.param(
        f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}",
        "https://discord.com/api/webhooks/123456789012345678/***",
        [TOKEN],
        id="discord-native",
    ),
    pytest.param(
        "https://discordapp.com/api/webhooks/1234/short-token",
        "https://discordapp.com/api/webhooks/1234/***",
        ["short-token"],
        id="discordapp-native-short-token",
    ),
    pytest.param(
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#random",
        "slack://T1JJ3T3L2/A1BRTD4JD/***/#random",
        ["TIiajkdnlazkcOXrIdevi7FQ"],
        id="slack-webhook",
    ),
    pytest.param(
        "slack://botname@T1JJ3T3L2/A1BRTD4JD/shorttok/%23general",
        "slack://botname@T1JJ3T3L2/A1BRTD4JD/***/%23general",
        ["shorttok"],
        id="slack-webhook-short-token",
    ),
    pytest.param(
        "slack://xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d/#general",
        "slack://***/#general",
        ["xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d"],
        id="slack-bot-token",
    ),
    pytest.param(
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnla",
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/***",
        ["TIiajkdnla"],
        id="slack-native",
    ),
    pytest.param(
        f"tgram://{TG_TOKEN}/-1001234567",
        "tgram://***/-1001234567",
        [TG_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"],
        id="telegram",
    ),
    pytest.param(
        "tgram://bot123456:abc/12345/67890?silent=yes",
        "tgram://***/12345/67890?silent=yes",
        ["bot123456:abc"],
        id="telegram-short-token",
    ),
    pytest.param(
        f"https://api.telegram.org/bot{TG_TOKEN}/sendMessage",
        "https://api.telegram.org/***/sendMessage",
        [f"bot{TG_TOKEN}", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"],
        id="telegram-native",
    ),
    pytest.param(
        "json://user:s3cretpass@127.0.0.1:8080/x?token=abcdefghijklmnopqrstuvwxyz&mode=a",
        "json://user:***@127.0.0.1:8080/x?token=***&mode=a",
        ["s3cretpass", "abcdefghijklmnopqrstuvwxyz"],
        id="json-password-and-token",
    ),
    pytest.param(
        "jsons://example.com/hook?+X-Api-Key=k1&+Authorization=Bearer%20zz9&-sig=q&keep=yes",
        "jsons://example.com/hook?+X-Api-Key=***&+Authorization=***&-sig=***&keep=yes",
        ["k1", "Bearer%20zz9", "Bearer zz9"],
        id="json-secret-headers",
    ),
    pytest.param(
        "forms://host/p?secret=a&password=b&pass=c&apikey=d&auth=e&signature=f&key=g",
        "forms://host/p?secret=***&password=***&pass=***&apikey=***&auth=***&signature=***&key=***",
        [],
        id="form-secret-keys",
    ),
    pytest.param(
        "xml://host/path/0123456789abcdef0123",
        "xml://host/path/***",
        ["0123456789abcdef0123"],
        id="generic-path-token",
    ),
    pytest.param(
        "ntfy://host/topic?cursor=0123456789abcdefXYZ",
        "ntfy://host/topic?cursor=***",
        ["0123456789abcdefXYZ"],
        id="generic-query-token",
    ),
    pytest.param(
        "pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi",
        "pover://***@***",
        ["uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "azGDORePK8gMaC0QOYAMyEEuzJnyUi"],
        id="pushover-user-and-token",
    ),
    pytest.param(
        "mailto://user:pa%40ss%2Fword@gmail.com?to=ops@example.com",
        "mailto://user:***@gmail.com?to=ops@example.com",
        ["pa%40ss%2Fword", "pa@ss/word"],
        id="mail-encoded-password",
    ),
    pytest.param(
        "postgresql+psycopg://app:hunter22@db.internal:5432/cronwell",
        "postgresql+psycopg://app:***@db.internal:5432/cronwell",
        ["hunter22"],
        id="database-url",
    ),
    pytest.param(
        "http://[::1]:8080/hook?sig=x1",
        "http://[::1]:8080/hook?sig=***",
        ["x1"],
        id="ipv6",
    ),
    pytest.param(
        "https://example.com/status?page=2",
        "https://example.com/status?page=2",
        [],
        id="nothing-secret",
    ),
    pytest.param(
        "json://host/x#frag/0123456789abcdefXYZ",
        "json://host/x#frag/***",
        ["0123456789abcdefXYZ"],
        id="fragment-token",
    ),
]


@pytest.mark.parametrize(("url", "expected", "secrets"), CASES)
def test_redact_url(url: str, expected: str, secrets: list[str]) -> None:
    redacted = redact_url(url)
    assert redacted == expected
    for secret in secrets:
        assert secret not in redacted
        assert secret in url_secrets(url)


@pytest.mark.parametrize(("url", "expected", "secrets"), CASES)
def test_redact_url_is_idempotent(url: str, expected: str, secrets: list[str]) -> None:
    assert redact_url(redact_url(url)) == redact_url(url)


def test_something_that_is_not_a_url_has_its_tokens_masked() -> None:
    assert redact_url("dev") == "dev"
    assert redact_url("key 0123456789abcdefXYZ here") == "key *** here"


@pytest.mark.parametrize(("url", "expected", "secrets"), CASES)
def test_redact_text_hides_the_url_and_its_parts(
    url: str, expected: str, secrets: list[str]
) -> None:
    parts = " | ".join(secrets)
    text = f"Could not post to {url}: refused ({parts})"
    redacted = redact_text(text, [url])
    assert expected in redacted
    for secret in secrets:
        if len(secret) >= 4:
            assert secret not in redacted


def test_redact_text_finds_a_known_url_rebuilt_by_a_library() -> None:
    known = f"discord://123456789012345678/{TOKEN}"
    text = f"POST https://discord.com/api/webhooks/123456789012345678/{TOKEN}?wait=true failed"
    redacted = redact_text(text, [known])
    assert TOKEN not in redacted
    assert "https://discord.com/api/webhooks/123456789012345678/***" in redacted


def test_redact_text_redacts_unknown_urls_too() -> None:
    text = "failed: json://bob:opensesame@h/x and https://x.org/?token=abc plain words"
    assert redact_text(text, []) == (
        "failed: json://bob:***@h/x and https://x.org/?token=*** plain words"
    )


def test_redact_text_leaves_short_secrets_alone_outside_urls() -> None:
    text = "password ab in json://u:ab@h/"
    assert redact_text(text, ["json://u:ab@h/"]) == "password ab in json://u:***@h/"


def test_the_filter_cleans_messages_arguments_and_tracebacks() -> None:
    registry = URLRegistry()
    registry.add(f"tgram://{TG_TOKEN}/42")
    record = logging.LogRecord(
        "apprise", logging.WARNING, __file__, 1, "sending to %s failed", (TG_TOKEN,), None
    )
    try:
        raise RuntimeError(f"boom at https://api.telegram.org/bot{TG_TOKEN}/sendMessage")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter(registry).filter(record) is True
    assert TG_TOKEN not in record.getMessage()
    assert record.exc_text is not None
    assert TG_TOKEN not in record.exc_text
    formatted = logging.Formatter().format(record)
    assert TG_TOKEN not in formatted
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in formatted
