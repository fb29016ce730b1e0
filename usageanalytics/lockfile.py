"""An exclusive, non-blocking lock on a file, released by the OS when its process dies.

The queue folder of each process is guarded by one of these: a live process holds its lock for as
long as it runs, so another process can tell a dead owner (lock free) from a live one and adopt its
queue. It is written against ``fcntl``/``msvcrt`` directly rather than a locking library because a
forked child must be able to drop the parent's lock *without* unlocking it (see
:meth:`FileLock.forget`), which the libraries do not offer.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def _lock(fd: int) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    try:
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


class FileLock:
    """Holds ``path`` locked, or nothing. Not reentrant; one object per lock file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False if another live process holds it."""
        if self._fd is not None:
            return True
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path, flags, 0o600)
        if not _lock(fd):
            os.close(fd)
            return False
        # The previous holder may have unlinked the file after we opened it: a lock on an
        # unlinked file guards nothing, so check it is still the file at ``path``.
        try:
            same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            _unlock(fd)
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self, *, unlink: bool = False) -> None:
        """Give the lock up; with ``unlink``, remove the file first so nobody waits on it."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if unlink:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        _unlock(fd)
        os.close(fd)

    def forget(self) -> None:
        """In a forked child: close the inherited descriptor without unlocking.

        ``flock`` locks belong to the open file description shared with the parent, so unlocking
        here would unlock the parent too; closing our copy leaves the parent's lock intact.
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
