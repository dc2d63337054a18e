"""Masking secrets in values shown to people: sensitive header values, the password of a
URL, sensitive query parameters. Pure functions on strings, importable from every layer;
:mod:`cronwell.domain.secrets` applies them to tasks."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

MASK = "***"

#: Header names masked whatever they hold (compared without case).
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

#: A header or query parameter whose name contains one of these words is masked.
SENSITIVE_WORDS = ("token", "key", "secret", "password", "passwd", "auth", "session")


def sensitive_name(name: str) -> bool:
    """Whether a header or query parameter named ``name`` holds a secret."""
    lower = name.strip().lower()
    return lower in SENSITIVE_HEADERS or any(word in lower for word in SENSITIVE_WORDS)


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the values of sensitive ones (:func:`sensitive_name`) replaced by
    :data:`MASK`."""
    return {k: MASK if v and sensitive_name(k) else v for k, v in headers.items()}


def mask_url(url: str) -> str:
    """``url`` with the password of ``user:pass@`` and the values of sensitive query
    parameters replaced by :data:`MASK`. Idempotent; anything unparsable is returned as is."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{host}"
    query = parts.query
    if query:
        pieces = []
        for piece in query.split("&"):
            key, equals, value = piece.partition("=")
            if equals and value and sensitive_name(key):
                value = MASK
            pieces.append(key + equals + value)
        query = "&".join(pieces)
    if netloc == parts.netloc and query == parts.query:
        return url
    return parts._replace(netloc=netloc, query=query).geturl()
