"""Hook specifications: the points where plugins from the ``capsa.hooks`` group join in.

Every hook is called with keyword arguments only. Hooks are for things many plugins may want at
once; drivers never use them to do their own job. docs/hooks.md documents each one and
tests/test_hooks.py tests each one (a test fails when either is missing).
"""
from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("capsa")
hookimpl = pluggy.HookimplMarker("capsa")


@hookspec
def capsa_container_created(container: dict[str, Any]) -> None:
    """A container was created (its record is written, nothing runs yet)."""


@hookspec
def capsa_container_prestart(container: dict[str, Any], spec: dict[str, Any]) -> None:
    """A container is about to start; ``spec`` is its final OCI runtime config (read-only)."""


@hookspec
def capsa_container_poststart(container: dict[str, Any], pid: int) -> None:
    """A container's process started with host pid ``pid``."""


@hookspec
def capsa_container_poststop(container: dict[str, Any], exit_code: int) -> None:
    """A container stopped. Errors only warn and every implementation still runs (OCI semantics)."""


@hookspec
def capsa_image_event(action: str, image_id: str, names: list[str]) -> None:
    """An image was pulled, pushed, built, imported, loaded, tagged, untagged or removed."""


@hookspec
def capsa_network_event(action: str, network_id: str, name: str, container_id: str) -> None:
    """A network was created or removed (``network create``, ``rm``, ``prune``), or a container
    (``container_id``, "" for the others) connected to or disconnected from it."""


@hookspec(firstresult=True)
def capsa_resolve_short_name(name: str, search_registries: list[str]) -> str | None:
    """Map a short image name (``busybox``) to a fully qualified one; first non-None wins."""


@hookspec
def capsa_adjust_runtime_spec(container: dict[str, Any], spec: dict[str, Any]) -> None:
    """Change the OCI runtime spec in place before the isolation driver receives it."""


@hookspec
def capsa_adjust_network_attachment(container: dict[str, Any], attachment: Any) -> None:
    """Change the network ``Attachment`` in place before the network driver receives it."""


@hookspec(firstresult=True)
def capsa_registry_credentials(registry: str) -> tuple[str, str] | None:
    """Return ``(username, password)`` for ``registry``; first non-None wins over stored auth."""


@hookspec
def capsa_register_commands(app: Any) -> None:
    """Add commands to the CLI: ``app`` is the top-level ``typer.Typer``."""
