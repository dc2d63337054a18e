"""Asking a running service instead of the database: ``cronwell status --url``,
``cronwell reload --url``."""

from __future__ import annotations

from typing import Any

import httpx

from cronwell.errors import SchedulerStateError, ServiceUnavailableError, UnauthorizedError
from cronwell.service.declared import DocumentError, Problem
from cronwell.service.status import SchedulerStatus

TIMEOUT_S = 10.0
# a reload reads, checks and applies every task of the files: give it time
RELOAD_TIMEOUT_S = 300.0


def _request(method: str, url: str, path: str, token: str | None, timeout: float) -> httpx.Response:
    endpoint = url.rstrip("/") + path
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, endpoint, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ServiceUnavailableError(
            f"Cannot reach the cronwell service at {url}: {exc}. Is `cronwell serve` running "
            "there (it listens on 127.0.0.1:8080 by default)?"
        ) from None
    if response.status_code == 401:
        raise UnauthorizedError(
            f"The service at {url} wants a token: set CRONWELL_API_TOKEN or pass --token."
        )
    return response


def reload_service(url: str, token: str | None) -> dict[str, Any]:
    """``POST {url}/api/v1/reload``: the plan the service applied, as JSON;
    :class:`DocumentError` with the files' problems when it rejected them."""
    response = _request("POST", url, "/api/v1/reload", token, RELOAD_TIMEOUT_S)
    if response.status_code == 422:
        problems = _problems(response)
        if problems:
            raise DocumentError(problems)
    if response.status_code == 409:
        raise SchedulerStateError(f"The service at {url} answered: {_message(response)}")
    if response.status_code != 200:
        raise ServiceUnavailableError(
            f"The service at {url} answered {response.status_code}: {_message(response)}"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "unchanged" not in body:
        raise ServiceUnavailableError(
            f"{url} did not answer with a plan; is it a cronwell service?"
        )
    return body


def fetch_status(url: str, token: str | None) -> SchedulerStatus:
    """``GET {url}/api/v1/status`` with the bearer token, as a :class:`SchedulerStatus`."""
    endpoint = url.rstrip("/") + "/api/v1/status"
    response = _request("GET", url, "/api/v1/status", token, TIMEOUT_S)
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


def _problems(response: httpx.Response) -> list[Problem]:
    try:
        found = response.json()["error"]["problems"]
        return [
            Problem(item.get("file"), item.get("line"), item.get("task"), str(item["message"]))
            for item in found
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []
