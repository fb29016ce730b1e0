"""Dead letters: batches the server rejected, kept as JSON files to inspect and replay.

A batch the server answers with INVALID_INPUT (or another 4xx) will never succeed as it is, but
deleting it would lose data, so it is written to ``<data dir>/dead-letters/`` with the server's
answer. After fixing the cause, ``usageanalytics replay-dead-letters`` (or
``Client.replay_dead_letters()``) queues them again.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .storage import ensure_dir

DEAD_LETTERS_DIR = "dead-letters"


@dataclass(frozen=True)
class DeadLetter:
    path: Path
    request: dict[str, Any]
    status_code: int | None
    reason: str
    rejected_at: float

    @property
    def count(self) -> int:
        return int(self.request.get("n", 1))


def _plain(request: dict[str, Any]) -> dict[str, Any]:
    """``request`` as plain JSON values: a round's event bodies are their JSON text
    (``orjson.Fragment``), which only orjson writes. What orjson cannot encode (a hand-edited
    letter's lone surrogate, say) has no such text in it, and is written as it is."""
    try:
        plain: dict[str, Any] = orjson.loads(orjson.dumps(request))
    except TypeError:
        return request
    return plain


class DeadLetters:
    """The dead-letter folder of one data folder (shared by its processes)."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / DEAD_LETTERS_DIR

    def add(self, request: dict[str, Any], status_code: int | None, reason: str) -> Path:
        ensure_dir(self.folder)
        now = time.time()
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}-{uuid.uuid4().hex[:8]}.json"
        path = self.folder / name
        document = {
            "rejected_at": now,
            "status_code": status_code,
            "reason": reason,
            "request": _plain(request),
        }
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        return path

    def rewrite(self, letter: DeadLetter, request: dict[str, Any]) -> None:
        """Keep ``letter`` with ``request`` in place of its own (some of its records erased):
        the new file replaces the old one, whose bytes are overwritten first."""
        document = {
            "rejected_at": letter.rejected_at,
            "status_code": letter.status_code,
            "reason": letter.reason,
            "request": _plain(request),
        }
        temporary = letter.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        overwrite(letter.path)
        os.replace(temporary, letter.path)

    def erase(self, letter: DeadLetter) -> None:
        """Delete ``letter``, its bytes overwritten first."""
        overwrite(letter.path)
        letter.path.unlink(missing_ok=True)

    def list(self) -> list[DeadLetter]:
        if not self.folder.is_dir():
            return []
        letters = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            letters.append(
                DeadLetter(
                    path,
                    document["request"],
                    document.get("status_code"),
                    document.get("reason", ""),
                    float(document.get("rejected_at", 0.0)),
                )
            )
        return letters


def overwrite(path: Path) -> None:
    """Overwrite a file's bytes with zeros in place (synced) before it is deleted or replaced, so
    the erased data is not left in the blocks the file system frees. What a copy-on-write file
    system, an SSD's wear levelling or a backup kept is beyond an application's reach."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        zeros = bytes(min(size, 1 << 16))
        written = 0
        while written < size:
            written += os.write(fd, zeros[: size - written])
        os.fsync(fd)
    finally:
        os.close(fd)
