"""The tiny package's hook plugin: one extra command, a short-name rule, and two container hooks."""
from __future__ import annotations

import os
from typing import Any

from capsa.hookspecs import hookimpl


@hookimpl
def capsa_register_commands(app: Any) -> None:
    @app.command("tiny-hello")
    def tiny_hello(name: str = "world") -> None:
        """Say hello from the capsa-tiny-driver package."""
        print(f"hello {name} from capsa-tiny-driver")


@hookimpl
def capsa_resolve_short_name(name: str, search_registries: list[str]) -> str | None:
    return f"tiny.example/{name}" if name.startswith("tiny-") else None


@hookimpl
def capsa_adjust_runtime_spec(container: dict[str, Any], spec: dict[str, Any]) -> None:
    """Every container gets TINY_HOOK in its environment."""
    spec["process"].setdefault("env", []).append(f"TINY_HOOK=adjusted-{container['Name']}")


@hookimpl
def capsa_container_poststop(container: dict[str, Any], exit_code: int) -> None:
    """Appends "<name> <exit code>" to the file $TINY_POSTSTOP_FILE names, if it is set."""
    target = os.environ.get("TINY_POSTSTOP_FILE")
    if target:
        with open(target, "a") as fh:
            fh.write(f"{container['Name']} {exit_code}\n")
