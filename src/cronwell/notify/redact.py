"""Hiding secrets in notification URLs before they reach a log, a record or a screen.

An Apprise URL carries its credentials in plain sight: a password in ``user:pass@``, a
webhook token in the path (``discord://ID/TOKEN``), a bot token as the host
(``tgram://BOTTOKEN/CHAT``), an API key in the query (``?token=...``). :func:`redact_url`
replaces those parts with ``***``; :func:`redact_text` does the same for every known URL (and
each of its secret parts on its own) inside a free text such as an exception message.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

from cronwell.domain.masking import MASK
from cronwell.domain.secrets import masked_task
from cronwell.domain.task import Task

#: A path segment, query value, host or user name containing a run of at least this many
#: token characters ([A-Za-z0-9_-]) is taken for a secret.
TOKEN_MIN_LENGTH = 16

#: Query keys (and Apprise ``+Header`` / ``-param`` / ``:field`` keys) containing one of
#: these words have their value masked whatever its length.
SECRET_KEY_WORDS = (
    "token",
    "key",
    "secret",
    "password",
    "pass",
    "apikey",
    "auth",
    "sig",
    "signature",
)

#: Secret parts shorter than this are not replaced on their own in free text (only as part
#: of a whole URL): replacing every "ab" in a message would make it unreadable.
MIN_STANDALONE_SECRET = 4

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)$", re.S)
_TOKEN_RUN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_MIN_LENGTH},}}")
_SECRET_PIECE = re.compile(r"[A-Za-z0-9_-]{8,}")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
_DIGITS = re.compile(r"\d*")


def redact_url(url: str) -> str:
    """``url`` with its secrets replaced by ``***``.

    Masked: the password of ``user:pass@``; a user name or host that looks like a token
    (a run of ≥ 16 of ``[A-Za-z0-9_-]``, no dots); the token segments of known webhook
    shapes (``discord://ID/***``, ``slack://T/B/***``, ``tgram://***/CHAT``, Discord, Slack and
    Telegram ``https://`` webhook URLs); query values whose key contains one of
    :data:`SECRET_KEY_WORDS`; and, for any scheme, every path segment, query value or
    fragment segment containing a run of ≥ 16 of ``[A-Za-z0-9_-]``. Something that is not a
    URL has such runs masked. The function is idempotent.
    """
    return _analyse(url)[0]


def url_secrets(url: str) -> tuple[str, ...]:
    """The substrings of ``url`` that :func:`redact_url` masks, with their percent-decoded
    and percent-encoded spellings and their token-like pieces (≥ 8 characters)."""
    return _analyse(url)[1]


def redact_text(text: str, urls: Iterable[str]) -> str:
    """``text`` with every occurrence of each of ``urls`` replaced by its redacted form,
    every secret part of those URLs (see :func:`url_secrets`; ≥ 4 characters) replaced by
    ``***`` wherever it appears on its own, and any other URL found in the text redacted
    with :func:`redact_url`."""
    if not text:
        return text
    known = sorted({u for u in urls if u}, key=len, reverse=True)
    secrets: set[str] = set()
    for url in known:
        redacted, parts = _analyse(url)
        if url in text:
            text = text.replace(url, redacted)
        secrets.update(parts)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_STANDALONE_SECRET and secret in text:
            text = text.replace(secret, MASK)
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


class URLRegistry:
    """A thread-safe set of URLs whose secrets must never be shown."""

    def __init__(self) -> None:
        self._urls: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *urls: str) -> None:
        with self._lock:
            self._urls.update(u for u in urls if u)

    def snapshot(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._urls)

    def redact(self, text: str) -> str:
        return redact_text(text, self.snapshot())


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites a record's message (and its formatted exception) with
    the URLs of a :class:`URLRegistry` redacted. Attach it to a *logger* (``apprise``) to
    clean what that library logs before any handler sees it."""

    def __init__(self, registry: URLRegistry) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business
            return True
        cleaned = self.registry.redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.registry.redact(
                logging.Formatter().formatException(record.exc_info)
            )
        elif record.exc_text:
            record.exc_text = self.registry.redact(record.exc_text)
        return True


# --- parsing -------------------------------------------------------------------------------


def _is_token_like(value: str) -> bool:
    return bool(_TOKEN_RUN.search(value) or _TOKEN_RUN.search(unquote(value)))


def _secret_key(key: str) -> bool:
    name = unquote(key).lstrip("+-:").lower()
    return any(word in name for word in SECRET_KEY_WORDS)


class _Masker:
    def __init__(self) -> None:
        self.secrets: list[str] = []

    def __call__(self, value: str) -> str:
        if value and value != MASK:
            self.secrets.append(value)
        return MASK if value else value


@lru_cache(maxsize=1024)
def _analyse(url: str) -> tuple[str, tuple[str, ...]]:
    mask = _Masker()
    match = _SCHEME.match(url)
    if match is None:
        redacted = _TOKEN_RUN.sub(lambda m: mask(m.group(0)), url)
        return redacted, _variants(mask.secrets)

    scheme = match.group("scheme")
    rest = match.group("rest")
    rest, hash_sign, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    lower = scheme.lower()

    # authority: [userinfo@]host[:port]
    userinfo, at, hostport = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if password:
        password = mask(password)
    elif user and _is_token_like(user):
        user = mask(user)

    segments = path.split("/") if slash else []
    public: set[int] = set()  # segments known not to be secrets (a webhook id)

    if lower in ("tgram", "telegram"):
        hostport = mask(hostport)
    else:
        host, port_colon, port = _split_port(hostport)
        if port and not _DIGITS.fullmatch(port):
            port = mask(port)  # `host:SECRET` is a token, not a port
        # Discord's webhook id and Slack's workspace id are not secrets (and identify the
        # target in the log); elsewhere a long token-like host is a key.
        keeps_host = lower in ("discord", "discords", "slack")
        hostname_like = "." in host or host.startswith("[")
        if not keeps_host and not hostname_like and _is_token_like(host):
            host = mask(host)
        if lower == "slack" and host.lower().startswith("xox"):
            host = mask(host)  # a bot or user OAuth token; the path holds channels
        elif lower == "slack":
            _mask_index(segments, 1, mask)  # slack://TokenA/TokenB/***/channels
        elif lower in ("discord", "discords"):
            for index in range(len(segments)):
                _mask_index(segments, index, mask)  # discord://ID/***
        elif lower in ("http", "https"):
            public = _mask_native_webhook(host.lower(), segments, mask)
        hostport = host + port_colon + port

    segments = [
        mask(s) if i not in public and s != MASK and _is_token_like(s) else s
        for i, s in enumerate(segments)
    ]
    query = _redact_query(query, mask)
    if fragment:
        fragment = "/".join(
            mask(s) if s != MASK and _is_token_like(s) else s for s in fragment.split("/")
        )

    authority = (user + colon + password + at if at else "") + hostport
    redacted = (
        f"{scheme}://{authority}{slash}{'/'.join(segments)}{question}{query}{hash_sign}{fragment}"
    )
    return redacted, _variants(mask.secrets)


def _split_port(hostport: str) -> tuple[str, str, str]:
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        if end != -1:
            host, rest = hostport[: end + 1], hostport[end + 1 :]
            return (host, ":", rest[1:]) if rest.startswith(":") else (host, "", rest)
    host, colon, port = hostport.partition(":")
    return host, colon, port


def _mask_index(segments: list[str], index: int, mask: _Masker) -> None:
    if index < len(segments) and segments[index] and segments[index] != MASK:
        segments[index] = mask(segments[index])


def _mask_native_webhook(host: str, segments: list[str], mask: _Masker) -> set[int]:
    """Mask the token of a service's own webhook URL; return the indexes of id segments."""
    if host in ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"):
        # /api/webhooks/ID/TOKEN
        if segments[:2] == ["api", "webhooks"]:
            _mask_index(segments, 3, mask)
            return {2}
    elif host == "hooks.slack.com":
        # /services/T/B/TOKEN
        if segments[:1] == ["services"]:
            _mask_index(segments, 3, mask)
    elif host == "api.telegram.org":
        # /bot<TOKEN>/method
        for index, segment in enumerate(segments):
            if segment.startswith("bot") and len(segment) > 3:
                _mask_index(segments, index, mask)
    return set()


def _redact_query(query: str, mask: _Masker) -> str:
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        key, equals, value = pair.partition("=")
        if equals and value and value != MASK and (_secret_key(key) or _is_token_like(value)):
            value = mask(value)
        elif not equals and _is_token_like(key):
            key = mask(key)  # a bare `?TOKEN`
        pairs.append(key + equals + value)
    return "&".join(pairs)


def _variants(secrets: list[str]) -> tuple[str, ...]:
    found: set[str] = set()
    for secret in secrets:
        for spelling in (secret, unquote(secret), quote(unquote(secret), safe="")):
            found.add(spelling)
            found.update(_SECRET_PIECE.findall(spelling))
    found.discard(MASK)
    found.discard("")
    return tuple(sorted(found, key=len, reverse=True))


def redacted_task(task: Task) -> Task:
    """``task`` with its secrets hidden: those of its alert and delivery URLs (channel names
    and ``file:///`` paths stay as they are) and of its HTTP action (sensitive headers, URL
    password and keys, see :func:`cronwell.domain.secrets.masked_task`). The task as people
    and clients (CLI, API, dashboard) see it."""
    task = masked_task(task)
    hidden: dict[str, Any] = {}
    for name in ("alerts", "deliver"):
        targets = getattr(task, name)
        if any(_secret_bearing(target.to) for target in targets):
            hidden[name] = [
                target.model_copy(update={"to": redact_url(target.to)})
                if _secret_bearing(target.to)
                else target
                for target in targets
            ]
    return task.model_copy(update=hidden) if hidden else task


def _secret_bearing(target: str) -> bool:
    """An URL, which may carry a secret; not a channel name, nor a file path."""
    return "://" in target and target[:8].lower() != "file:///"


def public_task(task: Task) -> dict[str, Any]:
    """A task as JSON for people and clients, its secrets hidden (:func:`redacted_task`)."""
    return redacted_task(task).model_dump(mode="json")
