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


def _invalid(change: str, why: str, hint: str) -> UsageError:
    """podman's message for a bad ``--change``: ``invalid change "CHANGE" - WHY``."""
    return UsageError(f'invalid change "{change}" - {why}', hint=hint)


def _ports(change: str, rest: str) -> list[str]:
    """EXPOSE's ports as ``PORT/PROTO`` (tcp by default); a range ``8000-8001`` gives each of its
    ports, as docker does."""
    out = []
    for word in rest.split():
        port, _, proto = word.partition("/")
        first, dash, last = port.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise _invalid(change, f"EXPOSE port must be an integer: {port!r}", "e.g. --change 'EXPOSE 8080/tcp'")
        if proto.lower() not in ("", "tcp", "udp", "sctp"):
            raise _invalid(change, f"EXPOSE protocol {proto!r} is not tcp, udp or sctp", "e.g. --change 'EXPOSE 53/udp'")
        low, high = int(first), int(last) if dash else int(first)
        if not 0 < low <= high <= 65535:
            raise _invalid(change, f"EXPOSE port out of range: {port!r}", "ports are 1 to 65535")
        out += [f"{n}/{proto.lower() or 'tcp'}" for n in range(low, high + 1)]  # (a range: each port, as docker)
    return out


def apply_change(runtime: dict[str, Any], change: str) -> None:
    """Apply one instruction (``CMD ["sh"]``, ``ENV A=b``, ``CMD=/bin/sh``...) to a runtime config,
    as podman's ``--change`` does: every instruction needs a value; STOPSIGNAL is stored as the
    signal's number (``TERM`` -> ``"15"``); ENV, LABEL, EXPOSE and VOLUME add to what is there.
    A bad change is a UsageError naming it (``invalid change "..." - ...``)."""
    text = change.strip()
    head = text.split(None, 1)[0] if text else ""
    instruction, eq, after_eq = head.partition("=")
    instruction = instruction.upper()
    if instruction not in CHANGE_INSTRUCTIONS:
        raise _invalid(change, f"invalid instruction {instruction or head}", f"supported: {', '.join(CHANGE_INSTRUCTIONS)}")
    rest = (after_eq + text[len(head):]) if eq else text[len(head):]
    if not rest.strip():
        raise _invalid(change, "must be formatted as KEY VALUE", f"e.g. --change '{instruction} ...'")
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
        runtime["ExposedPorts"] = {**runtime.get("ExposedPorts", {}), **{p: {} for p in _ports(change, rest)}}
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
        from capsa.signals import signal_number

        try:
            runtime["StopSignal"] = str(signal_number(rest.strip()))
        except UsageError:
            raise _invalid(change, f"invalid signal {rest.strip()!r}", "use a name like SIGTERM or TERM, or a number") from None
    elif instruction == "USER":
        runtime["User"] = rest.strip()
    elif instruction == "WORKDIR":
        runtime["WorkingDir"] = rest.strip()
