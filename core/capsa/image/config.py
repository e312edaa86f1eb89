"""Image configs: building them, applying Dockerfile-style ``--change`` instructions, history.

The config is the OCI image config (``application/vnd.oci.image.config.v1+json``); its sha256
is the image id. capsa writes it as compact JSON with sorted keys, so the same content always
has the same id.
"""
from __future__ import annotations

import json
import shlex
from typing import Any

from capsa.errors import UsageError

CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def config_bytes(config: dict[str, Any]) -> bytes:
    """The canonical serialisation capsa stores (and whose digest is the image id)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def new_config(diff_ids: list[str], created: str, history: list[dict[str, Any]], runtime: dict[str, Any] | None = None,
               architecture: str | None = None) -> dict[str, Any]:
    """A fresh image config for this host's platform."""
    from capsa.hostinfo import go_arch

    return {
        "created": created,
        "architecture": architecture or go_arch(),
        "os": "linux",
        "config": dict(runtime or {}),
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": history,
    }


def _command(rest: str) -> list[str]:
    """JSON (exec) form, or shell form wrapped in ``/bin/sh -c`` as Docker does."""
    rest = rest.strip()
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", rest]


def _pairs(instruction: str, rest: str) -> dict[str, str]:
    """``K=V K2="v 2"`` or the legacy single ``K V`` form."""
    words = shlex.split(rest)
    if not words:
        raise UsageError(f"{instruction} needs at least one KEY=VALUE", hint=f"e.g. --change '{instruction} KEY=value'")
    if "=" not in words[0]:
        key, _, value = rest.strip().partition(" ")
        if not value.strip():
            raise UsageError(f"{instruction} {key} has no value", hint=f"write {instruction} {key}=VALUE")
        return {key: value.strip()}
    out = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid {instruction} pair {word!r}", hint="write KEY=VALUE")
        out[key] = value
    return out


def apply_change(runtime: dict[str, Any], change: str) -> None:
    """Apply one instruction (``CMD ["sh"]``, ``ENV A=b``, ``CMD=/bin/sh``...) to a runtime config."""
    text = change.strip()
    head = text.split(None, 1)[0] if text else ""
    instruction, eq, after_eq = head.partition("=")
    instruction = instruction.upper()
    if instruction not in CHANGE_INSTRUCTIONS:
        raise UsageError(f"invalid --change instruction {change!r}", hint=f"supported: {', '.join(CHANGE_INSTRUCTIONS)}")
    rest = (after_eq + text[len(head):]) if eq else text[len(head):]
    if not rest.strip() and instruction not in ("CMD", "ENTRYPOINT"):
        raise UsageError(f"{instruction} needs a value", hint=f"e.g. --change '{instruction} ...'")
    if instruction in ("CMD", "ENTRYPOINT"):
        runtime["Cmd" if instruction == "CMD" else "Entrypoint"] = _command(rest)
    elif instruction == "ENV":
        env = [e for e in runtime.get("Env", [])]
        for key, value in _pairs("ENV", rest).items():
            env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
        runtime["Env"] = env
    elif instruction == "LABEL":
        runtime["Labels"] = {**runtime.get("Labels", {}), **_pairs("LABEL", rest)}
    elif instruction == "EXPOSE":
        ports = dict(runtime.get("ExposedPorts", {}))
        for port in rest.split():
            ports[port if "/" in port else f"{port}/tcp"] = {}
        runtime["ExposedPorts"] = ports
    elif instruction == "VOLUME":
        stripped = rest.strip()
        try:
            paths = json.loads(stripped) if stripped.startswith("[") else stripped.split()
        except ValueError:
            paths = stripped.split()
        runtime["Volumes"] = {**runtime.get("Volumes", {}), **{str(p): {} for p in paths}}
    elif instruction == "ONBUILD":
        runtime["OnBuild"] = [*runtime.get("OnBuild", []), rest.strip()]
    elif instruction == "STOPSIGNAL":
        runtime["StopSignal"] = rest.strip()
    elif instruction == "USER":
        runtime["User"] = rest.strip()
    elif instruction == "WORKDIR":
        runtime["WorkingDir"] = rest.strip()
