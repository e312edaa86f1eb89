"""Plain data classes for capsa's records, without the ``dataclasses`` module.

``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis`` and ``tokenize``): about 6 ms
on the machines capsa runs on, paid by every command before it does anything, plus a fraction
of a millisecond per class for the methods it compiles. capsa's records use only the simple
part of it, which is here: fields from the class annotations in order, defaults and default
factories, ``__init__`` (positional or keyword), ``__repr__``, ``__eq__``, and frozen
instances (immutable and hashable); :func:`fields`, :func:`asdict` and :func:`replace`.

Contract: a class decorated with ``@record`` (or ``@record(frozen=True)``) behaves, for those
operations, like the same class decorated with ``@dataclass`` (or ``@dataclass(frozen=True)``).
Not supported (and not used in capsa): inheritance between records, ``ClassVar``/``InitVar``
fields, ``__post_init__``, per-field options beyond defaults. :func:`asdict` copies records,
lists, tuples and dicts; other values (capsa's are strings, numbers, booleans and None) are
shared, not deep-copied.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    C = TypeVar("C", bound=type)

_MISSING: Any = object()


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record."""


class Field:
    """One field of a record: its name and its default or default factory."""

    __slots__ = ("name", "default", "default_factory")

    def __init__(self, default: Any = _MISSING, default_factory: Any = _MISSING) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory

    def value(self) -> Any:
        """The value of a field its caller left out (raises LookupError when it has none)."""
        if self.default_factory is not _MISSING:
            return self.default_factory()
        if self.default is not _MISSING:
            return self.default
        raise LookupError(self.name)

    def __repr__(self) -> str:
        return f"Field(name={self.name!r})"


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None) -> Any:
    """A field with a default value or a default factory (as ``dataclasses.field``)."""
    return Field(default, _MISSING if default_factory is None else default_factory)


def record(cls: C | None = None, *, frozen: bool = False) -> Any:
    """Make ``cls`` a record (see the module docstring); usable as ``@record`` or ``@record(frozen=True)``."""

    def wrap(cls: C) -> C:
        found: list[Field] = []
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, _MISSING)
            spec = value if isinstance(value, Field) else Field(default=value)
            spec.name = name
            if isinstance(value, Field):  # as dataclasses: a plain default stays a class attribute
                if value.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, value.default)
            if found and not _has_default(spec) and _has_default(found[-1]):
                raise TypeError(f"non-default argument {name!r} follows default argument")
            found.append(spec)
        cls.__record_fields__ = tuple(found)  # type: ignore[attr-defined]
        cls.__record_names__ = [spec.name for spec in found]  # type: ignore[attr-defined]
        cls.__init__ = _init  # type: ignore[misc]
        cls.__repr__ = _repr  # type: ignore[assignment]
        cls.__eq__ = _eq  # type: ignore[assignment]
        if frozen:
            cls.__setattr__ = _frozen_setattr  # type: ignore[assignment]
            cls.__delattr__ = _frozen_delattr  # type: ignore[assignment]
            cls.__hash__ = _hash  # type: ignore[assignment]
        else:
            cls.__hash__ = None  # type: ignore[assignment]  (mutable and comparable: unhashable)
        return cls

    return wrap if cls is None else wrap(cls)


def _has_default(spec: Field) -> bool:
    return spec.default is not _MISSING or spec.default_factory is not _MISSING


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    if not args and list(kwargs) == type(self).__record_names__:  # every field by keyword, in order
        self.__dict__.update(kwargs)  # (records read back from JSON: the common case, made cheap)
        return
    specs = type(self).__record_fields__
    name = type(self).__qualname__
    if len(args) > len(specs):
        raise TypeError(f"{name}.__init__() takes {len(specs) + 1} positional arguments but {len(args) + 1} were given")
    for spec, value in zip(specs, args):
        if spec.name in kwargs:
            raise TypeError(f"{name}.__init__() got multiple values for argument {spec.name!r}")
        object.__setattr__(self, spec.name, value)
    missing = []
    for spec in specs[len(args):]:
        if spec.name in kwargs:
            object.__setattr__(self, spec.name, kwargs.pop(spec.name))
        else:
            try:
                object.__setattr__(self, spec.name, spec.value())
            except LookupError:
                missing.append(spec.name)
    if missing:
        raise TypeError(f"{name}.__init__() missing required argument(s): {', '.join(map(repr, missing))}")
    if kwargs:
        raise TypeError(f"{name}.__init__() got an unexpected keyword argument {next(iter(kwargs))!r}")


def _values(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, spec.name) for spec in obj.__record_fields__)


def _repr(self: Any) -> str:
    inner = ", ".join(f"{spec.name}={getattr(self, spec.name)!r}" for spec in self.__record_fields__)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def is_record(obj: Any) -> bool:
    """Whether ``obj`` is a record or a record class."""
    return hasattr(obj, "__record_fields__")


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record or record class, in order."""
    try:
        return obj.__record_fields__  # type: ignore[no-any-return]
    except AttributeError:
        raise TypeError("must be called with a record type or instance") from None


def asdict(obj: Any) -> dict[str, Any]:
    """The record as a dict, nested records, lists, tuples and dicts converted too."""
    if not is_record(obj) or isinstance(obj, type):
        raise TypeError("asdict() should be called on record instances")
    return _plain(obj)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if is_record(value) and not isinstance(value, type):
        return {spec.name: _plain(getattr(value, spec.name)) for spec in value.__record_fields__}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return type(value)(*map(_plain, value)) if hasattr(value, "_fields") else tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def shallow_dict(obj: Any) -> dict[str, Any]:
    """The record's fields as a dict, in order, values shared rather than converted (for a
    serialiser that turns nested records into dicts itself, as :func:`capsa.fastpath.jsonio.dumps` does)."""
    return {name: getattr(obj, name) for name in obj.__record_names__}


def replace(obj: Any, **changes: Any) -> Any:
    """A new record like ``obj`` with ``changes`` applied."""
    fields(obj)  # (a TypeError for anything but a record)
    values = shallow_dict(obj)
    values.update(changes)
    return type(obj)(**values)
