"""File locks that guard a store against parallel commands (fcntl.flock)."""
from __future__ import annotations

import fcntl
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType


class FileLock:
    """A lock on ``path`` (created if missing): shared for readers, exclusive for writers.

    Re-entrant within one object: nested ``with`` blocks only count. An exclusive request on
    an object that holds a shared lock upgrades it. Locks die with the process, so a killed
    command never leaves a store locked. The holder may delete the file (and its directory):
    waiters notice and lock the file that takes its place.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd: int | None = None
        self._depth = 0
        self._exclusive = False

    def acquire(self, exclusive: bool = True) -> None:
        if self._depth == 0:
            self._lock_fresh(exclusive)
        elif exclusive and not self._exclusive:
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # type: ignore[arg-type]
            self._exclusive = True
        self._depth += 1

    def _lock_fresh(self, exclusive: bool) -> None:
        """Open and lock the file; if it was replaced or removed while we waited (a failed first
        command removes the store it created), lock the new one instead."""
        while True:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd, self._exclusive = fd, exclusive
                return
            os.close(fd)

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            self._exclusive = False

    def exclusive(self) -> "_Held":
        return _Held(self, True)

    def shared(self) -> "_Held":
        return _Held(self, False)


class _Held:
    def __init__(self, lock: FileLock, exclusive: bool) -> None:
        self._lock, self._exclusive = lock, exclusive

    def __enter__(self) -> FileLock:
        self._lock.acquire(self._exclusive)
        return self._lock

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._lock.release()
