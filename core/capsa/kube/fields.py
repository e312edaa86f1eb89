"""Reading Kubernetes objects field by field, with paths: the checks ``kube play`` runs before
anything is made.

A :class:`Node` wraps one mapping of a document and the path that leads to it
(``spec.containers[1]``). Reading a field marks it as known; :meth:`Node.unknown` names the
fields nobody read (capsa does not support them: the caller warns once per path). A missing
required field or a value of the wrong type raises :class:`~capsa.errors.UsageError` (exit 125)
naming the field's path. Pure: no I/O.
"""
from __future__ import annotations

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_TYPES = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "a mapping"}


class Node:
    """One mapping of a document at ``path`` (``where`` names the document in errors)."""

    def __init__(self, data: Any, path: str, where: str) -> None:
        if not isinstance(data, dict):
            raise invalid(where, path or "(document)", "must be a mapping")
        self.data, self.path, self.where = data, path, where
        self.read: set[str] = set()

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type, default: Any = None, required: bool = False) -> Any:
        """The value of ``key`` (``default`` when absent or null), checked to be a ``kind``."""
        self.read.add(key)
        value = self.data.get(key)
        if value is None:
            if required:
                raise invalid(self.where, self.sub(key), "is required")
            return default
        if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # YAML's 8080 where a string is meant, as Kubernetes' decoder allows for quantities
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise invalid(self.where, self.sub(key), f"must be {_TYPES[kind]}, not {type_name(value)}")
        if kind is str and required and not value:
            raise invalid(self.where, self.sub(key), "must not be empty")
        return value

    def strings(self, key: str) -> list[str] | None:
        """A list of strings (``command``, ``args``, ``capabilities.add``), None when absent."""
        value = self.get(key, list)
        if value is None:
            return None
        for i, item in enumerate(value):
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                value[i] = str(item)
            elif not isinstance(item, str):
                raise invalid(self.where, f"{self.sub(key)}[{i}]", f"must be a string, not {type_name(item)}")
        return [str(v) for v in value]

    def string_map(self, key: str) -> dict[str, str]:
        """A mapping of strings (labels, annotations, ConfigMap data)."""
        value = self.get(key, dict, {})
        out = {}
        for k, v in value.items():
            if isinstance(v, (int, float, bool)):
                v = str(v).lower() if isinstance(v, bool) else str(v)
            if not isinstance(v, str):
                raise invalid(self.where, f"{self.sub(key)}.{k}", f"must be a string, not {type_name(v)}")
            out[str(k)] = v
        return out

    def node(self, key: str, required: bool = False) -> Node | None:
        value = self.get(key, dict, None, required)
        return None if value is None else Node(value, self.sub(key), self.where)

    def nodes(self, key: str, required: bool = False) -> list[Node]:
        """The mappings of a list (``containers``, ``ports``...); ``required``: at least one."""
        value = self.get(key, list, [], required)
        if required and not value:
            raise invalid(self.where, self.sub(key), "must have at least one item")
        return [Node(item, f"{self.sub(key)}[{i}]", self.where) for i, item in enumerate(value)]

    def ignore(self, *keys: str) -> None:
        """Fields read elsewhere or without effect here (no warning)."""
        self.read.update(keys)

    def unknown(self) -> list[str]:
        """The paths of the fields present (not null) that nobody read."""
        return [self.sub(k) for k in self.data if k not in self.read and self.data[k] is not None]


def type_name(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
                       (list, "a list"), (dict, "a mapping")):
        if isinstance(value, kind):
            return name
    return "null"


def invalid(where: str, path: str, problem: str) -> UsageError:
    return UsageError(f"{where}: {path} {problem}",
                      hint="fix that field of the YAML; nothing was created")


_BINARY = {"Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4, "Pi": 1024 ** 5, "Ei": 1024 ** 6}
_DECIMAL = {"": 1, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18, "m": 10 ** -3}


def quantity(text: str, where: str, path: str) -> float:
    """A Kubernetes quantity (``128Mi``, ``1G``, ``500m``, ``1e3``, ``0.5``) as a number."""
    import re

    m = re.fullmatch(r"([+]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m|)", text.strip())
    if not m:
        raise invalid(where, path, f"is not a quantity: {text!r} (e.g. 128Mi, 1G, 500m)")
    number = float(m.group(1))
    unit = m.group(2)
    return number * (_BINARY[unit] if unit in _BINARY else _DECIMAL[unit])
