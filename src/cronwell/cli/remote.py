"""Asking a running service instead of the database: ``cronwell status --url``."""

from __future__ import annotations

import httpx

from cronwell.errors import ServiceUnavailableError, UnauthorizedError
from cronwell.service.status import SchedulerStatus

TIMEOUT_S = 10.0


def fetch_status(url: str, token: str | None) -> SchedulerStatus:
    """``GET {url}/api/v1/status`` with the bearer token, as a :class:`SchedulerStatus`."""
    endpoint = url.rstrip("/") + "/api/v1/status"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(endpoint, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise ServiceUnavailableError(
            f"Cannot reach the cronwell service at {url}: {exc}. Is `cronwell serve` running "
            "there (it listens on 127.0.0.1:8080 by default)?"
        ) from None
    if response.status_code == 401:
        raise UnauthorizedError(
            f"The service at {url} wants a token: set CRONWELL_API_TOKEN or pass --token."
        )
    if response.status_code != 200:
        raise ServiceUnavailableError(
            f"The service at {url} answered {response.status_code}: {_message(response)}"
        )
    try:
        return SchedulerStatus.model_validate_json(response.content)
    except ValueError:
        raise ServiceUnavailableError(
            f"{endpoint} did not answer with a cronwell status; is it a cronwell service?"
        ) from None


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase
