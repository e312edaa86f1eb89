"""What the monitor imports ahead of need (:mod:`capsa.container.monitor`): the isolation and
network drivers while the CLI still writes the bundle, the storage driver once the container
runs. Imports only: a driver that cannot be imported is reported where it is used."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def preload(drivers: dict[str, str], kinds: tuple[str, ...] = ("isolation", "network")) -> None:
    """Import what creating the container needs while the CLI is still making it and writing
    its bundle: the isolation and network drivers (the storage driver is needed at teardown
    only), and let them warm up (:meth:`capsa.drivers.base.Driver.warm_up`)."""
    import capsa.drivers  # noqa: F401
    import capsa.container.netattach  # noqa: F401
    import capsa.drivers.network  # noqa: F401

    for kind in kinds:
        cls = import_driver(kind, drivers.get(kind))
        warm_up = getattr(cls, "warm_up", None)
        if warm_up is not None:
            try:
                warm_up()
            except Exception:  # best effort, as the contract says: met again where it matters
                pass


def load_for_teardown(storage_driver: str) -> None:
    """Import what teardown needs (the storage driver, the store for --rm, shutil), once the
    container runs: the monitor is idle then, and not before, when the container waits for it."""
    import shutil  # noqa: F401

    import capsa.store.store  # noqa: F401

    import_driver("storage", storage_driver)


def import_driver(kind: str, name: str | None) -> Any:
    """Import driver ``name`` of ``kind`` and return its class, or None (a failure is reported
    where the driver is used)."""
    import capsa.entrypoints as entrypoints

    for entry in entrypoints.load_index():
        if entry.name == name and entrypoints.DRIVER_GROUPS.get(kind) == entry.group:
            try:
                return entrypoints.import_entry(entry)
            except Exception:  # loading reports it properly later
                return None
    return None
