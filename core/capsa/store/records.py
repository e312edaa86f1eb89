"""Metadata records: a JSON list per kind, replaced atomically on every write."""
from __future__ import annotations

import os

from capsa.errors import StorageError
from capsa.fsutil import atomic_write
from capsa.fastpath.jsonio import dumps, loads
from capsa.fastpath.record import fields

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


class RecordFile:  # of T: subscripting it (RecordFile[Image]) is for annotations only
    """Records of the record class ``kind`` (capsa.fastpath.record) kept in ``path``; the caller holds the store lock."""

    def __init__(self, path: str | os.PathLike[str], kind: type[T]) -> None:
        self.path = os.fspath(path)
        self.kind = kind
        self._names = [f.name for f in fields(kind)]  # type: ignore[arg-type]

    def load(self) -> list[T]:
        try:
            with open(self.path, "rb") as fh:
                raw = loads(fh.read())
        except FileNotFoundError:
            return []
        except ValueError as exc:
            raise StorageError(f"{self.path} is corrupt: {exc}", hint="run 'capsa system check --repair'") from None
        return [self.kind(**item) if list(item) == self._names else self._from_other_version(item) for item in raw]

    def _from_other_version(self, item: dict) -> T:  # type: ignore[type-arg]
        """A record written by another version of capsa: unknown keys are dropped (missing
        ones take their defaults)."""
        return self.kind(**{k: v for k, v in item.items() if k in self._names})

    def save(self, records: list[T]) -> None:
        atomic_write(self.path, dumps(records).encode())  # records are written as asdict() has them


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with nanosecond-style precision (as Go writes it)."""
    import time

    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns // 1000 % 10**6:06d}Z"

