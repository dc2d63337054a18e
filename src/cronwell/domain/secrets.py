"""Secrets inside a task's own definition, masked wherever a task is shown.

An HTTP action may carry credentials: headers such as ``Authorization`` or ``X-Api-Key``,
a password in ``https://user:pass@host``, a key in the query (``?token=...``). Every output
of a task (API answers, CLI text and JSON, summaries, alerts) shows them as :data:`MASK`;
the stored task keeps the real values. A definition sent back with the mask in place of a
value (a client that read a task, changed its schedule and wrote it back) keeps the stored
value: :func:`restore_secrets`. Alert URLs are masked by :mod:`cronwell.notify.redact`,
which uses the same mask.
"""

from __future__ import annotations

from cronwell.domain.action import HttpAction
from cronwell.domain.masking import MASK, mask_headers, mask_url, sensitive_name
from cronwell.domain.task import Task
from cronwell.errors import InvalidInputError

__all__ = ["MASK", "masked_task", "restore_secrets"]


def masked_task(task: Task) -> Task:
    """``task`` with the secrets of its HTTP action masked (the task itself is unchanged)."""
    action = task.action
    if not isinstance(action, HttpAction):
        return task
    headers = mask_headers(action.headers)
    url = mask_url(action.url)
    if headers == action.headers and url == action.url:
        return task
    return task.model_copy(
        update={"action": action.model_copy(update={"headers": headers, "url": url})}
    )


def restore_secrets(task: Task, stored: Task | None) -> Task:
    """``task`` with each masked value that came back (:data:`MASK` in a sensitive header,
    or the masked form of the stored URL) replaced by the stored one.

    A sensitive header holding only the mask with no stored value to restore raises
    :class:`InvalidInputError`: storing the mask itself would send ``***`` as a credential.
    """
    action = task.action
    if not isinstance(action, HttpAction):
        return task
    if MASK not in action.url and not any(v == MASK for v in action.headers.values()):
        return task
    old = stored.action if stored is not None else None
    old_headers = (
        {k.lower(): v for k, v in old.headers.items()} if isinstance(old, HttpAction) else {}
    )
    headers = dict(action.headers)
    for name, value in action.headers.items():
        if value != MASK or not sensitive_name(name):
            continue
        if name.lower() not in old_headers:
            raise InvalidInputError(
                f"Task {task.id!r}: header {name!r} holds the mask {MASK!r} and the stored "
                "task has no value for it; send the real value."
            )
        headers[name] = old_headers[name.lower()]
    url = action.url
    if isinstance(old, HttpAction) and url != old.url and url == mask_url(old.url):
        url = old.url
    return task.model_copy(
        update={"action": action.model_copy(update={"headers": headers, "url": url})}
    )
