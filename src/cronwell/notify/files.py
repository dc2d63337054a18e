"""``file:///`` delivery targets: a task's result written to a file, atomically."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from urllib.parse import unquote


def is_file_url(target: str) -> bool:
    """A ``file:///`` target (an absolute path)."""
    return target[:8].lower() == "file:///"


def write_file(url: str, body: str, file_name: str | None) -> str | None:
    """Write ``body`` to the path of ``url``: into that folder under ``file_name`` when
    the URL ends in ``/`` (the folder is made if missing), else to that very file. Returns
    ``None``, or a sentence saying why it could not.

    Atomic: the text goes to a hidden temporary file in the same folder, which is then
    renamed over the target, so a reader sees the old file or the new one, never half of
    one. The file's mode follows the process's umask, as a file the application wrote
    itself would."""
    path = Path(unquote(url[len("file://") :]))
    if url.endswith("/"):
        path = path / (file_name or "result.txt")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(body if body.endswith("\n") else body + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    return None
