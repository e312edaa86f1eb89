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
_POD_LIMITS = ("pod-level resource limits need a pod cgroup, which capsa does not make: set it on each container "
               "(capsa run --{})")

# Each slice of commands keeps its entries in its own block, in command order.
REFUSED: dict[tuple[str, ...], dict[str, str]] = {
    # -- global flags, info, version, help
    # -- images
    # -- containers (ps, start, stop, rm, kill, wait, ...)
    # -- run, create, exec
    # -- volumes, system, networks
    ("network", "create"): {
        "--ip-range": "addresses come from the whole subnet (the bridge driver's IPAM)",
        "--ipv6": "capsa's networks are IPv4 only",
        "--dns": "a network's own DNS servers are not supported; give --dns to run/create",
        "--disable-dns": "capsa networks have no DNS server to disable (dns_enabled is false)",
    },
    ("pod", "create"): {
        "--blkio-weight": "block IO weights are not supported by capsa's containers",
        "--blkio-weight-device": "block IO weights are not supported by capsa's containers",
        "--cpu-shares": _POD_LIMITS.format("cpu-shares"), "-c": _POD_LIMITS.format("cpu-shares"),
        "--cpus": _POD_LIMITS.format("cpus"),
        "--cpuset-cpus": "cpusets are not supported by capsa's containers",
        "--cpuset-mems": "cpusets are not supported by capsa's containers",
        "--device": "devices are given to each container (capsa run --device), not to a pod",
        "--device-read-bps": "block IO limits are not supported by capsa's containers",
        "--device-write-bps": "block IO limits are not supported by capsa's containers",
        "--gidmap": "capsa makes no user namespaces",
        "--uidmap": "capsa makes no user namespaces",
        "--subgidname": "capsa makes no user namespaces",
        "--subuidname": "capsa makes no user namespaces",
        "--userns": "capsa makes no user namespaces",
        "--ip6": "capsa's networks are IPv4 only",
        "--mac-address": "capsa's network drivers do not set a MAC address",
        "--memory": _POD_LIMITS.format("memory"), "-m": _POD_LIMITS.format("memory"),
        "--memory-swap": _POD_LIMITS.format("memory-swap"),
        "--pid": "a pod's members join its infra's pid namespace (--share +pid) or have their own: the host's is not offered",
        "--uts": "a pod's members join its infra's uts namespace (--share uts) or have their own: the host's is not offered",
        "--shm-size": "capsa's pod infra container takes no /dev/shm size: give --shm-size to each member's run/create",
        "--sysctl": "capsa's pod infra container takes no sysctls: give --sysctl to each member's run/create",
        "--volumes-from": "capsa's run has no --volumes-from either",
        "--no-hosts": "capsa always writes the pod's /etc/hosts (its run has no --no-hosts either)",
    },
    ("pod", "logs"): {
        "--color": "capsa writes the logs as they were recorded, without terminal colors (--names tells the containers apart)",
    },
    ("kube", "play"): {
        "--build": "capsa kube play does not build images from Containerfiles: build them with capsa build -t NAME first",
        "--context-dir": "it only serves --build, which capsa kube play does not support",
        "--log-opt": "capsa's containers have one log format (k8s-file) without options",
        "--mac-address": "capsa pods cannot be given static MAC addresses",
        "--no-hosts": "capsa always writes /etc/hosts for a pod's containers",
        "--userns": "capsa runs containers without user namespaces",
    },
}


def same(path: tuple[str, ...], *aliases: tuple[str, ...]) -> None:
    """Give each alias command path the refusals of ``path``."""
    for alias in aliases:
        REFUSED[alias] = REFUSED[path]


same(("kube", "play"), ("play", "kube"))


def reason(path: Sequence[str], flag: str) -> str | None:
    """Why ``flag`` is refused for the command ``path``, or None when it is not."""
    table = REFUSED.get(tuple(path))
    return table.get(flag) if table else None


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
