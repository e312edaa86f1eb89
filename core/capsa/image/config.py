"""Image configs: building them, applying Dockerfile-style ``--change`` instructions, history.

The config is the OCI image config (``application/vnd.oci.image.config.v1+json``); its sha256
is the image id. capsa writes it as compact JSON with sorted keys, so the same content always
has the same id.
"""
from __future__ import annotations

import json
from typing import Any

from capsa.errors import UsageError



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


def apply_instruction(runtime: dict[str, Any], inst: Any, shell: list[str] | None = None) -> None:
    """Apply one parsed, already expanded instruction (``capsa.build.instructions``: CMD,
    ENTRYPOINT, ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, ONBUILD) to a runtime
    config, as docker does: shell form runs through ``shell`` (default ``/bin/sh -c``), ENV
    replaces a variable in place of its old entry, EXPOSE gives ``PORT/proto`` keys (``tcp`` by
    default, ranges one key per port), a relative WORKDIR is joined to the previous one, ONBUILD
    appends its expression. Used by ``--change`` and by the build's metadata steps."""
    import posixpath

    from capsa.build import instructions as I

    if isinstance(inst, (I.Cmd, I.Entrypoint)):
        key = "Cmd" if isinstance(inst, I.Cmd) else "Entrypoint"
        if inst.json_form:
            runtime[key] = list(inst.command)
        elif inst.command and inst.command[0]:
            runtime[key] = [*(shell or ["/bin/sh", "-c"]), inst.command[0]]
        else:  # an empty shell form: podman's --change gives "sh -c" alone for CMD, nothing for ENTRYPOINT
            runtime[key] = [*(shell or ["/bin/sh", "-c"])] if key == "Cmd" else []
    elif isinstance(inst, I.Env):
        env = list(runtime.get("Env", []))
        for name, value in inst.pairs:
            line = f"{name}={value}"
            at = next((i for i, e in enumerate(env) if e.split("=", 1)[0] == name), None)
            if at is None:
                env.append(line)
            else:
                env[at] = line
        runtime["Env"] = env
    elif isinstance(inst, I.Label):
        runtime["Labels"] = {**runtime.get("Labels", {}), **dict(inst.pairs)}
    elif isinstance(inst, I.Expose):
        ports = dict(runtime.get("ExposedPorts", {}))
        for port in inst.ports:
            spec, _, proto = port.partition("/")
            low, _, high = spec.partition("-")
            for number in range(int(low), int(high or low) + 1):
                ports[f"{number}/{(proto or 'tcp').lower()}"] = {}
        runtime["ExposedPorts"] = ports
    elif isinstance(inst, I.Volume):
        runtime["Volumes"] = {**runtime.get("Volumes", {}), **{path: {} for path in inst.paths}}
    elif isinstance(inst, I.User):
        runtime["User"] = inst.user
    elif isinstance(inst, I.Workdir):
        runtime["WorkingDir"] = posixpath.join(runtime.get("WorkingDir") or "/", inst.path)
    elif isinstance(inst, I.StopSignal):
        runtime["StopSignal"] = inst.signal
    elif isinstance(inst, I.OnBuild):
        runtime["OnBuild"] = [*runtime.get("OnBuild", []), inst.expression]
    else:
        raise UsageError(f"{inst.keyword} does not change an image config")


def _invalid(change: str, why: str, hint: str) -> UsageError:
    """podman's message for a bad ``--change``: ``invalid change "CHANGE" - WHY``."""
    return UsageError(f'invalid change "{change}" - {why}', hint=hint)


def apply_change(runtime: dict[str, Any], change: str) -> None:
    """Apply one ``--change`` instruction (``CMD ["sh"]``, ``ENV A=b``, ``CMD=/bin/sh``...) to a
    runtime config: read and expanded (with the config's own ENV) as the same line in a
    Containerfile (``capsa.build.changes.parse_change``), applied by ``apply_instruction``.
    As podman's ``--change``: every instruction needs a value, STOPSIGNAL is stored as the
    signal's number (``TERM`` -> ``"15"``). A bad change is a UsageError naming it (``invalid
    change "..." - ...``), with ``runtime`` untouched."""
    from capsa.build import instructions as I
    from capsa.build.changes import CHANGE_KEYWORDS, parse_change
    from capsa.errors import BuildError

    text = change.strip()
    head = text.split(None, 1)[0] if text else ""
    keyword, eq, after_eq = head.partition("=")
    if keyword.upper() not in CHANGE_KEYWORDS:
        raise _invalid(change, f"invalid instruction {keyword or text}", f"supported: {', '.join(CHANGE_KEYWORDS)}")
    if not (after_eq if eq else text[len(head):]).strip():
        raise _invalid(change, "must be formatted as KEY VALUE", f"e.g. --change '{keyword.upper()} ...'")
    try:
        inst = parse_change(change)
        env = dict(e.split("=", 1) for e in runtime.get("Env", []) if "=" in e)
        inst = inst.expanded(env)
    except BuildError as err:
        message = err.message.removeprefix("--change:").removeprefix("1: ").removeprefix("line 1: ").strip()
        raise _invalid(change, message, err.hint or "see docs/containerfile.md") from None
    if isinstance(inst, I.StopSignal):
        from dataclasses import replace

        from capsa.signals import signal_number

        try:
            inst = replace(inst, signal=str(signal_number(inst.signal)))
        except UsageError:
            raise _invalid(change, f"invalid signal {inst.signal!r}", "use a name like SIGTERM or TERM, or a number") from None
    apply_instruction(runtime, inst)
