"""The HTTP runner: sends an HTTP action's request through one shared ``httpx.Client``,
created (and httpx imported) when the first HTTP action runs, so a process with none pays
for neither.

Success is a status the action accepts (``expect_status``, or any 2xx). The output is the
status line and the start of the body: text bodies up to ``output_limit`` bytes, binary
ones summarized as ``<N bytes of content-type>``. The whole body is read (and discarded past
the limit) within the timeout. Redirects are not followed, as with ``curl`` without ``-L``:
accept 3xx statuses in ``expect_status`` if they mean success.

The timeout is ``min(action.timeout, timeout)``; it bounds each network operation (the
client's timeout, DESIGN rule 7) and the whole exchange. The request carries
``X-Cronwell-Task-Id``, ``X-Cronwell-Run-Id``, ``X-Cronwell-Occurrence-Key`` and
``X-Cronwell-Attempt`` headers (unless the action sets them) so receivers can deduplicate.
"""

from __future__ import annotations

import codecs
import threading
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from cronwell.domain.action import HttpAction
from cronwell.domain.masking import mask_url
from cronwell.domain.run import RunStatus
from cronwell.runners.base import DEFAULT_OUTPUT_LIMIT, one_line, timed_out_message
from cronwell.runners.context import RunContext
from cronwell.runners.outcome import Outcome

if TYPE_CHECKING:
    import httpx

_TEXT_TYPES = ("json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "csv")


class HttpRunner:
    """Runs HTTP actions; see the module docstring. A client passed in stays the caller's to
    close; one the runner creates is closed by :meth:`close`."""

    def __init__(
        self, output_limit: int = DEFAULT_OUTPUT_LIMIT, client: httpx.Client | None = None
    ) -> None:
        self.output_limit = output_limit
        self._owns_client = client is None
        self._client = client
        self._closed = False
        self._lock = threading.Lock()

    def _session(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                if self._closed:  # as a closed client would: nothing left open behind
                    raise RuntimeError("The HTTP runner is closed.")
                import httpx

                self._client = httpx.Client(follow_redirects=False)
            return self._client

    def run(self, action: HttpAction, ctx: RunContext, *, timeout: float | None) -> Outcome:
        """Send the request and judge the response; every failure is an :class:`Outcome`."""
        client = self._session()
        import httpx

        limit = action.timeout if timeout is None else min(action.timeout, timeout)
        deadline = time.monotonic() + limit
        headers = {
            "X-Cronwell-Task-Id": ctx.task_id,
            "X-Cronwell-Run-Id": str(ctx.run_id),
            "X-Cronwell-Occurrence-Key": ctx.occurrence_key,
            "X-Cronwell-Attempt": str(ctx.attempt),
        }
        lowered = {name.lower() for name in action.headers}
        headers = {k: v for k, v in headers.items() if k.lower() not in lowered}
        headers.update(action.headers)
        request: dict[str, Any] = {"headers": headers, "timeout": httpx.Timeout(limit)}
        if action.json_body is not None:
            request["json"] = action.json_body
        elif action.body is not None:
            request["content"] = action.body
        try:
            with client.stream(action.method, action.url, **request) as response:
                body, total = self._read(response, deadline)
        except _TotalTimeout as exc:
            return Outcome(
                RunStatus.TIMED_OUT,
                error=timed_out_message(limit) + " (reading the response)",
                output=exc.partial,
            )
        except httpx.TimeoutException as exc:
            during = " (connecting)" if isinstance(exc, httpx.ConnectTimeout) else ""
            return Outcome(RunStatus.TIMED_OUT, error=timed_out_message(limit) + during)
        except httpx.ConnectError as exc:
            return Outcome(
                RunStatus.FAILED,
                error=f"cannot connect to {mask_url(action.url)}: "
                + (one_line(str(exc)) or type(exc).__name__),
            )
        except httpx.HTTPError as exc:  # protocol errors, invalid URLs, …
            reason = one_line(str(exc))
            return Outcome(
                RunStatus.FAILED,
                error=f"request to {mask_url(action.url)} failed: {type(exc).__name__}"
                + (f": {reason}" if reason else ""),
            )
        status = response.status_code
        status_line = f"HTTP {status} {_reason(response)}".rstrip()
        output = status_line + "\n" + self._excerpt(response, body, total)
        if action.accepts(status):
            return Outcome(RunStatus.SUCCEEDED, output=output, return_value=str(status))
        expected = (
            ", ".join(str(s) for s in action.expect_status) if action.expect_status else "2xx"
        )
        return Outcome(
            RunStatus.FAILED,
            error=f"{status_line} (expected {expected})",
            output=output,
            return_value=str(status),
        )

    def _read(self, response: httpx.Response, deadline: float) -> tuple[bytes, int]:
        """The first ``output_limit`` bytes of the body and the body's total size."""
        kept = bytearray()
        total = 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            room = self.output_limit - len(kept)
            if room > 0:
                kept += chunk[:room]
            if time.monotonic() > deadline:
                raise _TotalTimeout(
                    f"HTTP {response.status_code} {_reason(response)}\n"
                    + kept.decode(response.encoding or "utf-8", "replace")
                )
        return bytes(kept), total

    def _excerpt(self, response: httpx.Response, body: bytes, total: int) -> str:
        if not total:
            return ""
        content_type = response.headers.get("content-type", "")
        if not _is_text(content_type, body):
            kind = content_type.split(";")[0].strip() or "unknown type"
            return f"<{total} bytes of {kind}>"
        text = body.decode(response.encoding or "utf-8", "replace")
        # a body cut in the middle of a multi-byte character ends with a replacement char
        if total > len(body):
            text = text.rstrip("\ufffd") + f"\n…[{total - len(body)} bytes truncated]"
        return text

    def close(self) -> None:
        """Close the client if the runner created it."""
        with self._lock:
            self._closed = True
            if self._owns_client and self._client is not None and not self._client.is_closed:
                self._client.close()


class _TotalTimeout(Exception):
    def __init__(self, partial: str) -> None:
        super().__init__("response not read within the timeout")
        self.partial = partial


def _reason(response: httpx.Response) -> str:
    if response.reason_phrase:
        return response.reason_phrase
    try:
        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return ""


def _is_text(content_type: str, body: bytes) -> bool:
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media.startswith("text/") or any(t in media for t in _TEXT_TYPES):
        return True
    if media:
        return False
    try:  # no content type: text if it decodes (the excerpt may end mid-character)
        codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        return False
    return True
