"""Records what capsa's hooks receive, one JSON line per call, in the file $CAPSA_HOOK_RECORD
names (nothing when it is unset); raises RuntimeError in the hooks $CAPSA_HOOK_RAISE lists
(comma-separated hook names, after recording the call).

The registry hooks answer from JSON objects in the environment (None when unset or when the
name is not there): ``$CAPSA_HOOK_SHORT_NAMES`` maps short names to qualified ones,
``$CAPSA_HOOK_CREDENTIALS`` registries to ``[username, password]`` (the password is never
recorded)."""
from __future__ import annotations

import json
import os
from typing import Any

from capsa.hookspecs import hookimpl


def _record(hook: str, **data: Any) -> None:
    target = os.environ.get("CAPSA_HOOK_RECORD")
    if target:
        with open(target, "a") as fh:
            fh.write(json.dumps({"hook": hook, "pid": os.getpid(), **data}) + "\n")
    if hook in os.environ.get("CAPSA_HOOK_RAISE", "").split(","):
        raise RuntimeError(f"the recorder was told to fail in {hook}")


@hookimpl
def capsa_container_created(container: dict[str, Any]) -> None:
    _record("capsa_container_created", container=container)


@hookimpl
def capsa_adjust_runtime_spec(container: dict[str, Any], spec: dict[str, Any]) -> None:
    spec["process"].setdefault("env", []).append(f"RECORDER_SAW={container['Name']}")
    _record("capsa_adjust_runtime_spec", container=container, args=spec["process"]["args"])


@hookimpl
def capsa_adjust_network_attachment(container: dict[str, Any], attachment: Any) -> None:
    _record("capsa_adjust_network_attachment", container=container, container_id=attachment.container_id,
            netns=attachment.netns)


@hookimpl
def capsa_container_prestart(container: dict[str, Any], spec: dict[str, Any]) -> None:
    _record("capsa_container_prestart", container=container, args=spec["process"]["args"])


@hookimpl
def capsa_container_poststart(container: dict[str, Any], pid: int) -> None:
    _record("capsa_container_poststart", container=container, pid_arg=pid)


@hookimpl
def capsa_container_poststop(container: dict[str, Any], exit_code: int) -> None:
    _record("capsa_container_poststop", container=container, exit_code=exit_code)


@hookimpl
def capsa_image_event(action: str, image_id: str, names: list[str]) -> None:
    _record("capsa_image_event", action=action, image_id=image_id, names=names)


@hookimpl
def capsa_resolve_short_name(name: str, search_registries: list[str]) -> str | None:
    _record("capsa_resolve_short_name", name=name, search_registries=search_registries)
    return json.loads(os.environ.get("CAPSA_HOOK_SHORT_NAMES") or "{}").get(name)


@hookimpl
def capsa_registry_credentials(registry: str) -> tuple[str, str] | None:
    _record("capsa_registry_credentials", registry=registry)
    answer = json.loads(os.environ.get("CAPSA_HOOK_CREDENTIALS") or "{}").get(registry)
    return (answer[0], answer[1]) if answer else None
