"""What every driver shares: its context, its declared options and its status."""
from __future__ import annotations

import os
from abc import ABC

from capsa.errors import ConfigError, OperationNotSupported
from capsa.fastpath.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path
    from typing import Any, ClassVar, TypeVar

    D = TypeVar("D", bound=type)


@record(frozen=True)
class Option:
    """A driver option: its type (str, int, bool or list), default and one-line help."""

    type: type
    default: Any
    help: str

    def parse(self, key: str, value: Any, where: str) -> Any:
        """Check ``value`` (from TOML, or a string from a flag) and convert it to ``type``."""
        if isinstance(value, self.type) and not (self.type is int and isinstance(value, bool)):
            return value
        if isinstance(value, str):
            if self.type is bool and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            if self.type is int:
                try:
                    return int(value)
                except ValueError:
                    pass
            if self.type is list:
                return [item.strip() for item in value.split(",") if item.strip()]
        raise ConfigError(
            f"option {key!r} of {where} must be a {self.type.__name__}, not {value!r}",
            hint=f"{key}: {self.help}",
        )


@record(frozen=True)
class DriverContext:
    """Where a driver lives: the store's ``root`` and ``runroot`` (strings), and the driver's own name.

    ``home``/``run_home`` are pathlib paths; ``home_dir``/``run_home_dir`` the same as strings,
    for drivers that stay off pathlib on the way to a container (it costs ~3 ms to import)."""

    kind: str
    name: str
    root: str
    runroot: str

    @property
    def home_dir(self) -> str:
        """The driver's own persistent directory: ``<root>/<kind>/<name>`` (not created here)."""
        return os.path.join(self.root, self.kind, self.name)

    @property
    def run_home_dir(self) -> str:
        """The driver's own volatile directory: ``<runroot>/<kind>/<name>`` (not created here)."""
        return os.path.join(self.runroot, self.kind, self.name)

    @property
    def home(self) -> Path:
        """:attr:`home_dir` as a ``pathlib.Path``."""
        from pathlib import Path

        return Path(self.home_dir)

    @property
    def run_home(self) -> Path:
        """:attr:`run_home_dir` as a ``pathlib.Path``."""
        from pathlib import Path

        return Path(self.run_home_dir)


class Driver(ABC):
    """Base of every driver kind.

    ``__init__`` validates options (unknown keys and wrong types raise ``ConfigError``) and
    then calls :meth:`check_host`, which raises ``DriverNotSupported(reason)`` when the host
    lacks a prerequisite. Constructing a driver changes nothing on disk.
    """

    kind: ClassVar[str] = ""
    OPTIONS: ClassVar[Mapping[str, Option]] = {}

    def __init__(self, context: DriverContext, options: Mapping[str, Any] | None = None) -> None:
        self.context = context
        self.options = self.parse_options(options or {})
        self.check_host()

    @property
    def name(self) -> str:
        return self.context.name

    def parse_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``; unknown keys raise ``ConfigError`` with the known ones."""
        where = f"{self.kind} driver {self.context.name!r}"
        unknown = sorted(set(given) - set(self.OPTIONS))
        if unknown:
            known = ", ".join(sorted(self.OPTIONS)) or "none"
            raise ConfigError(
                f"unknown option {unknown[0]!r} for {where}",
                hint=f"options it accepts: {known} (set them in [{self.kind}.options.{self.context.name}])",
            )
        parsed = {key: opt.default for key, opt in self.OPTIONS.items()}
        for key, value in given.items():
            parsed[key] = self.OPTIONS[key].parse(key, value, where)
        return parsed

    def check_host(self) -> None:
        """Raise ``DriverNotSupported`` if this host cannot run the driver. Default: no check."""

    def status(self) -> dict[str, Any]:
        """What ``capsa info`` shows: at least ``ready`` (usable: host fit and every operation
        implemented) and ``detail`` (one line)."""
        missing = self.unimplemented()
        out: dict[str, Any] = {"ready": not missing, "detail": "ok"}
        if missing:
            out["unimplemented"] = missing
        return out

    @classmethod
    def warm_up(cls) -> None:
        """Optional: load ahead of time what this driver's operations will soon need (modules,
        shared libraries, caches). capsa's container monitor calls it on the driver's class
        while it idles, waiting for the container the CLI is still preparing, so that this work
        is off the critical path; no other process calls it. Best effort: it must not raise (an
        exception is ignored) and must change nothing on disk. Default: nothing."""

    @classmethod
    def unimplemented(cls) -> list[str]:
        """The operations this class refuses (see :func:`refuse_unimplemented`), sorted."""
        return sorted(name for name in dir(cls) if getattr(getattr(cls, name, None), "_capsa_refusal", False))



def refuse_unimplemented(hint: str) -> Callable[[D], D]:
    """Class decorator: each abstract method the class leaves open raises ``OperationNotSupported``.

    For drivers that load and report status before all their operations exist: they refuse
    those operations with a clear error instead of pretending. ``Driver.unimplemented()`` lists
    them, for subclasses too (a subclass that implements one drops it from the list).
    """

    def decorate(cls: D) -> D:
        for op in getattr(cls, "__abstractmethods__", frozenset()):
            setattr(cls, op, _refusal(op, hint))
        cls.__abstractmethods__ = frozenset()  # type: ignore[attr-defined]
        return cls

    return decorate


def _refusal(op: str, hint: str) -> Callable[..., Any]:
    def refuse(self: Driver, *args: Any, **kwargs: Any) -> Any:
        raise OperationNotSupported(f"{self.kind} driver {self.name!r} does not implement {op}", hint=hint)

    refuse.__name__ = op
    refuse._capsa_refusal = True  # type: ignore[attr-defined]
    return refuse
