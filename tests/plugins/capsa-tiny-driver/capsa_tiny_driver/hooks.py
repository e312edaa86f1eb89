"""The tiny package's hook plugin: one extra command and a short-name rule."""
from __future__ import annotations

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
