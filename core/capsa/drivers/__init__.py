"""Finding and loading drivers: one configured driver per kind, by entry-point name.

``load_driver`` imports only the selected driver. Its fast path takes the entry point from the
cached index (:mod:`capsa.entrypoints`); when that index does not know the name, or when
``discover`` is set (``capsa info``, ``capsa plugins``), stevedore's ``DriverManager`` does a
full discovery. Loader failures become capsa errors that keep the real cause.
"""
from __future__ import annotations

from capsa.entrypoints import DRIVER_GROUPS, PluginEntry, entries_in, import_entry, load_index
from capsa.errors import DriverError, DriverLoadError, DriverNotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from collections.abc import Mapping
    from typing import Any

    from capsa.drivers.base import Driver

# The ABC each kind's driver must subclass, as "module:class" so that nothing is imported early.
CONTRACTS: dict[str, str] = {
    "storage": "capsa.drivers.storage:StorageDriver",
    "network": "capsa.drivers.network:NetworkDriver",
    "isolation": "capsa.drivers.isolation:IsolationDriver",
    "registry": "capsa.drivers.registry:RegistryDriver",
}
FLAG_FOR_KIND = {"storage": "--storage-driver"}


def contract_class(kind: str) -> type[Driver]:
    """The ABC that every driver of ``kind`` subclasses."""
    return import_entry(PluginEntry("", "", CONTRACTS[kind], "capsa", ""))  # type: ignore[return-value]


def installed(kind: str, refresh: bool = False) -> list[PluginEntry]:
    """Entry points of ``kind``'s group, without importing any of them."""
    return entries_in(DRIVER_GROUPS[kind], load_index(refresh=refresh))


def _not_found(kind: str, name: str) -> DriverNotFound:
    names = sorted({e.name for e in installed(kind)})
    how = f"[{kind}] driver in capsa.toml"
    if kind in FLAG_FOR_KIND:
        how += f" or {FLAG_FOR_KIND[kind]}"
    return DriverNotFound(
        f"unknown {kind} driver {name!r}",
        hint=f"installed {kind} drivers: {', '.join(names) or 'none'} (choose with {how})",
    )


def _load_failed(kind: str, name: str, exc: BaseException, entries: list[PluginEntry]) -> DriverLoadError:
    dists = ", ".join(sorted({f"{e.dist} {e.version}" for e in entries})) or "its package"
    err = DriverLoadError(
        f"{kind} driver {name!r} failed to load: {type(exc).__name__}: {exc}",
        hint=f"reinstall or fix {dists}, or select another {kind} driver",
    )
    err.__cause__ = exc
    return err


def driver_class(kind: str, name: str, discover: bool = False) -> type[Driver]:
    """Import and return the class of driver ``name``; raise DriverNotFound / DriverLoadError."""
    if kind not in DRIVER_GROUPS:
        raise DriverError(f"unknown driver kind {kind!r}", hint=f"kinds: {', '.join(DRIVER_GROUPS)}")
    matches = [e for e in installed(kind) if e.name == name]
    if len(matches) == 1 and not discover:
        try:
            cls = import_entry(matches[0])
        except Exception as exc:  # an ImportError, or anything a broken module raises
            raise _load_failed(kind, name, exc, matches) from exc
    else:
        cls = _discover(kind, name)
    if not (isinstance(cls, type) and issubclass(cls, contract_class(kind))):
        raise DriverLoadError(
            f"{kind} driver {name!r} is not a capsa {kind} driver",
            hint=f"its entry point must name a subclass of {CONTRACTS[kind].replace(':', '.')}",
        )
    return cls


def _discover(kind: str, name: str) -> Any:
    """Full discovery with stevedore (and a refreshed index for the next fast path)."""
    from stevedore import DriverManager
    from stevedore.exception import MultipleMatches, NoMatches

    entries = [e for e in installed(kind, refresh=True) if e.name == name]
    try:
        manager = DriverManager(
            namespace=DRIVER_GROUPS[kind],
            name=name,
            invoke_on_load=False,
            on_missing_entrypoints_callback=None,
        )
    except NoMatches:
        raise _not_found(kind, name) from None
    except MultipleMatches:
        dists = ", ".join(sorted({e.dist for e in entries}))
        raise DriverError(
            f"several packages declare a {kind} driver named {name!r}: {dists}",
            hint="uninstall all but one of them",
        ) from None
    except Exception as exc:
        raise _load_failed(kind, name, exc, entries) from exc
    return manager.driver


def load_driver(
    kind: str,
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    root: str | os.PathLike[str],
    runroot: str | os.PathLike[str],
    discover: bool = False,
) -> Driver:
    """Load, configure and return driver ``name`` of ``kind``.

    Raises DriverNotFound, DriverLoadError, ConfigError (bad options) or DriverNotSupported.
    Nothing is written to disk.
    """
    import os

    from capsa.drivers.base import DriverContext

    cls = driver_class(kind, name, discover=discover)
    return cls(DriverContext(kind=kind, name=name, root=os.fspath(root), runroot=os.fspath(runroot)), options or {})
