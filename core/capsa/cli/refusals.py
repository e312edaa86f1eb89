"""The flags of podman 4.3 that capsa refuses, each with the reason, in one table.

Contract: :data:`REFUSED` maps a command path (the command words as typed, ``("image", "rm")``)
to ``{flag: reason}``; a flag is its long form (``--gpus``), and its short form when podman has
one is listed beside it with the same reason. An alias of a command (``image rm`` of ``rmi``)
needs its own entry: :func:`same` copies one. :func:`check` refuses, before anything is parsed,
a command line that gives one of its command's refused flags (``--flag``, ``--flag=VALUE`` or
``--flag VALUE``), with one line naming the flag and why (exit 125); the words after ``--`` are
not looked at. ``run``/``create``/``exec`` take their flags from their own parser
(:mod:`capsa.cli.runflags`), which asks :func:`reason` about a flag it does not know.
docs/cli.md lists every entry (tests/test_parity_flags.py holds the two together).
"""
from __future__ import annotations

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

HINT = "see docs/cli.md (refused flags) for what capsa supports instead"

# Each slice of commands keeps its entries in its own block, in command order.
REFUSED: dict[tuple[str, ...], dict[str, str]] = {
    # -- global flags, info, version, help
    (): {
        "--remote": "podman's remote client only: capsa has no service to connect to (it runs the engine in-process)",
        "-r": "podman's remote client only (--remote): capsa has no service to connect to",
        "--url": "podman's remote client only: capsa has no service to connect to (it runs the engine in-process)",
        "--connection": "podman's remote client only: capsa has no service connections",
        "-c": "podman's remote client only (--connection): capsa has no service connections",
        "--identity": "podman's remote client only (an SSH key for a service connection)",
        "--ssh": "podman's remote client only (the SSH mode of a service connection)",
        "--conmon": "capsa runs no conmon: each container's monitor is capsa's own process",
        "--events-backend": "capsa keeps no event log (it has no `events` command)",
        "--hooks-dir": "capsa runs no OCI hooks: its hooks are plugins (see docs/hooks.md)",
        "--network-cmd-path": "rootless networking (slirp4netns) only: capsa runs as root, on its bridge driver",
        "--namespace": "capsa has no libpod namespaces: use a store of its own (--root/--runroot) to keep containers apart",
        "--syslog": "capsa logs to standard error only",
    },
    # -- images
    # -- containers (ps, start, stop, rm, kill, wait, ...)
    # -- run, create, exec
    ("run",): {
        "--secret": "capsa has no secrets store (podman secret); bind-mount the file with -v SRC:DST:ro",
        "--uidmap": "capsa runs containers without a user namespace (as root, --userns host)",
        "--gidmap": "capsa runs containers without a user namespace (as root, --userns host)",
        "--subuidname": "capsa runs containers without a user namespace (as root, --userns host)",
        "--subgidname": "capsa runs containers without a user namespace (as root, --userns host)",
        "--ip6": "capsa's networks are IPv4 only",
        "--link-local-ip": "capsa's networks have no link-local addresses (podman ignores the flag too)",
        "--mac-address": "capsa's network drivers choose the container interface's MAC address",
        "--preserve-fds": "capsa's monitor, not the caller, starts a run container: no descriptor of the caller reaches it",
    },
    # -- volumes, system, networks
}


def same(path: tuple[str, ...], *aliases: tuple[str, ...]) -> None:
    """Give each alias command path the refusals of ``path``."""
    for alias in aliases:
        REFUSED[alias] = REFUSED[path]


def reason(path: Sequence[str], flag: str) -> str | None:
    """Why ``flag`` is refused for the command ``path``, or None when it is not."""
    table = REFUSED.get(tuple(path))
    why = table.get(flag) if table else None
    return why if why is not None else REFUSED[()].get(flag) if flag.startswith("--") else None


def refusal(flag: str, why: str) -> UsageError:
    """The error for a refused flag: one line naming it and why, and the hint."""
    return UsageError(f"{flag} is not supported: {why}", hint=HINT)


def check(path: Sequence[str], args: Sequence[str]) -> None:
    """Raise :func:`refusal` for the first refused flag of ``path`` in ``args``."""
    table = REFUSED.get(tuple(path))
    if not table:
        return
    for arg in args:
        if arg == "--":
            return
        if arg.startswith("-"):
            flag = arg.split("=", 1)[0]
            why = table.get(flag)
            if why is not None:
                raise refusal(flag, why)


def _run_create_exec() -> None:
    """``create`` refuses what ``run`` does, but ``--preserve-fds`` (which it lacks), and
    ``--init-ctr`` besides; the ``container`` aliases share the tables."""
    run = REFUSED[("run",)]
    REFUSED[("create",)] = {**{k: v for k, v in run.items() if k != "--preserve-fds"},
                            "--init-ctr": "capsa's pods have no init containers"}
    same(("run",), ("container", "run"))
    same(("create",), ("container", "create"))


_run_create_exec()
