"""Metadata records: a JSON list per kind, replaced atomically on every write.

A file that is not a JSON list of objects of the record's fields with the right types (torn,
empty, garbage, or of another shape) is *corrupt*: :meth:`RecordFile.load` raises
:class:`CorruptRecord` (a one-line error pointing at ``system check --repair``), never a
TypeError deep inside a command; :meth:`RecordFile.quarantine` moves it aside for the repair.
"""
from __future__ import annotations

import os

from capsa.errors import StorageError
from capsa.fsutil import atomic_write, fsync_dir
from capsa.fastpath.jsonio import dumps, loads
from capsa.fastpath.record import fields

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")

REPAIR_HINT = "run 'capsa system check --repair'"


class CorruptRecord(StorageError):
    """A record file that cannot be read as what it should hold."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path} is corrupt: {why}", hint=REPAIR_HINT)
        self.path = path


# Field annotations (strings: the record modules use ``from __future__ import annotations``)
# -> the types a value of them may have. Unknown annotations are not checked.
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "str | None": (str, type(None)), "int": (int,), "int | None": (int, type(None)),
    "bool": (bool,), "float | None": (float, int, type(None)), "list[str]": (list,),
    "list[str] | None": (list, type(None)), "dict[str, str]": (dict,), "dict[str, Any]": (dict,),
    "dict[str, object]": (dict,),
}


_CHECKS: dict[type, list[tuple[str, tuple[type, ...] | None, bool]]] = {}  # per record class


def _checks(kind: type) -> list[tuple[str, tuple[type, ...] | None, bool]]:
    """(field name, the types its value may have or None, whether it has a default) per field."""
    found = _CHECKS.get(kind)
    if found is None:
        found = []
        for spec in fields(kind):  # type: ignore[arg-type]
            try:
                spec.value()
                optional = True
            except LookupError:
                optional = False
            found.append((spec.name, _TYPES.get(str(kind.__annotations__.get(spec.name, ""))), optional))
        _CHECKS[kind] = found
    return found


def shape_error(kind: type, item: Any) -> str | None:
    """Why ``item`` (a decoded JSON value) cannot be a record of ``kind``, or None when it can:
    an object whose known fields have the annotated types (extra keys are another version's)."""
    if not isinstance(item, dict):
        return f"expected an object, found {type(item).__name__}"
    for name, wanted, optional in _checks(kind):
        if name not in item:
            if not optional:
                return f"{name!r} is missing"
            continue
        value = item[name]
        if wanted is not None and (not isinstance(value, wanted) or (value is True or value is False) and bool not in wanted):
            return f"{name!r} is a {type(value).__name__}"
    return None


def read_json(path: str) -> Any:
    """The JSON document in ``path``; FileNotFoundError when there is none, CorruptRecord when it
    is not JSON (empty, torn, garbage, not UTF-8)."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return loads(data)
    except (ValueError, RecursionError) as exc:  # (UnicodeDecodeError is a ValueError)
        raise CorruptRecord(path, "empty file" if not data.strip() else f"not JSON ({exc})") from None


def quarantine(path: str) -> str | None:
    """Move a corrupt file aside as ``<path>.corrupt`` (kept for a post-mortem, replacing an
    older one) so that the next writer starts afresh; returns the new path (None: no file)."""
    aside = path + ".corrupt"
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return None
    fsync_dir(os.path.dirname(path) or ".")
    return aside


class RecordFile:  # of T: subscripting it (RecordFile[Image]) is for annotations only
    """Records of the record class ``kind`` (capsa.fastpath.record) kept in ``path``; the caller holds the store lock."""

    def __init__(self, path: str | os.PathLike[str], kind: type[T]) -> None:
        self.path = os.fspath(path)
        self.kind = kind
        self._names = [f.name for f in fields(kind)]  # type: ignore[arg-type]

    def load(self) -> list[T]:
        """Every record; none when the file does not exist; CorruptRecord when it is unreadable."""
        try:
            raw = read_json(self.path)
        except FileNotFoundError:
            return []
        if not isinstance(raw, list):
            raise CorruptRecord(self.path, f"expected a list, found {type(raw).__name__}")
        out = []
        for item in raw:
            why = shape_error(self.kind, item)
            if why is not None:
                raise CorruptRecord(self.path, why)
            out.append(self.kind(**item) if list(item) == self._names else self._from_other_version(item))
        return out

    def is_corrupt(self) -> CorruptRecord | None:
        """The error :meth:`load` raises, or None when the file is readable (or absent)."""
        try:
            self.load()
        except CorruptRecord as exc:
            return exc
        return None

    def quarantine(self) -> str | None:
        """Move the (corrupt) file aside: the records start empty (see :func:`quarantine`)."""
        return quarantine(self.path)

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
