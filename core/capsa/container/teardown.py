"""Tearing a container down, in one place for its monitor and for whoever reaps a container
whose monitor died (:func:`capsa.container.removal.reap_orphan`).

A run ends with :func:`end_run` (the network driver's ``delete``, then the runtime's), once per
run (a restart is a new run); the container ends with :func:`release` (its layer's mount
reference, then ``--rm`` or the "exited" record). Each step is best effort: what goes wrong is
returned, for the container's State.Error, and the next step still runs.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def end_run(iso: Any | None, container_id: str, delete_network: Callable[[], str]) -> list[str]:
    """The network's ``delete`` (``delete_network()`` returns its problem, or "") while the
    namespace is still held, then the runtime's ``delete(force=True)``; ``iso`` None: the
    isolation driver could not be loaded, so the runtime made nothing to delete."""
    problems = []
    problem = delete_network()
    if problem:
        problems.append(problem)
    if iso is None:
        return problems
    try:
        iso.delete(container_id, force=True)
    except Exception as exc:  # noqa: BLE001 - best effort, reported
        problems.append(f"runtime cleanup: {getattr(exc, 'message', exc)}")
    return problems


def release_layer(storage: Any, layer_id: str | None) -> list[str]:
    """Drop the mount reference the container's start took on its writable layer."""
    if not layer_id:
        return []
    try:
        storage.unmount(layer_id)
    except Exception as exc:  # noqa: BLE001 - best effort, reported
        return [f"unmount: {getattr(exc, 'message', exc)}"]
    return []
