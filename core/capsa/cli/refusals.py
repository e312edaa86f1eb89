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

_NO_MULTIARCH = "capsa builds for this host's platform only"
_NO_REMOTE_CACHE = "capsa's build cache is local (see docs/build.md)"
_BUILD_OUTPUT = "capsa builds into its store; use capsa save or push"
_USERNS = "user namespaces are not supported by capsa's containers"

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
    ("build",): {
        "--add-host": "build containers use the default /etc/hosts",
        "--all-platforms": _NO_MULTIARCH,
        "--annotation": "capsa's images carry no manifest annotations",
        "--arch": _NO_MULTIARCH,
        "--build-context": "named build contexts are not supported",
        "--cache-from": _NO_REMOTE_CACHE,
        "--cache-to": _NO_REMOTE_CACHE,
        "--cache-ttl": _NO_REMOTE_CACHE,
        "--cgroupns": "build containers use capsa's cgroup namespace setting",
        "--cpp-flag": "Containerfile.in preprocessing is not supported",
        "--cpu-period": "capsa's containers take --cpus, not CFS periods",
        "--cpu-quota": "capsa's containers take --cpus, not CFS quotas",
        "--cpuset-cpus": "cpusets are not supported by capsa's containers",
        "--cpuset-mems": "cpusets are not supported by capsa's containers",
        "--decryption-key": "encrypted images are not supported",
        "--dns": "build containers use the host's resolv.conf",
        "--dns-option": "build containers use the host's resolv.conf",
        "--dns-search": "build containers use the host's resolv.conf",
        "--from": "override the FROM line in the Containerfile instead",
        "--hooks-dir": "OCI hooks are not supported",
        "--http-proxy": "proxy variables pass only as --build-arg HTTP_PROXY=...",
        "--identity-label": "capsa adds no io.buildah.version label",
        "--ignorefile": "capsa reads .containerignore or .dockerignore in the context",
        "--ipc": "build containers use a private IPC namespace",
        "--isolation": "RUN uses capsa's configured isolation driver",
        "--logfile": "redirect the output instead",
        "--logsplit": "redirect the output instead",
        "--manifest": "manifest lists are not supported",
        "--no-hosts": "build containers always get /etc/hosts",
        "--omit-history": "capsa always writes the history",
        "--os": _NO_MULTIARCH,
        "--os-feature": _NO_MULTIARCH,
        "--os-version": _NO_MULTIARCH,
        "--output": _BUILD_OUTPUT,
        "--pid": "build containers use a private PID namespace",
        "--platform": _NO_MULTIARCH,
        "--retry": "FROM pulls once",
        "--retry-delay": "FROM pulls once",
        "--runtime-flag": "RUN uses capsa's configured isolation driver",
        "--secret": "RUN --mount=type=secret is not supported",
        "--shm-size": "capsa's containers have the default /dev/shm",
        "--sign-by": "image signing is not supported",
        "--skip-unused-stages": "capsa always skips the stages the target does not need",
        "--ssh": "RUN --mount=type=ssh is not supported",
        "--stdin": "RUN containers get no standard input",
        "--timestamp": "reproducible timestamps are not supported",
        "--unsetenv": "not supported",
        "--userns": _USERNS,
        "--userns-gid-map": _USERNS,
        "--userns-gid-map-group": _USERNS,
        "--userns-uid-map": _USERNS,
        "--userns-uid-map-user": _USERNS,
        "--uts": "build containers use a private UTS namespace",
        "--variant": _NO_MULTIARCH,
        "-o": _BUILD_OUTPUT,
    },
    ("pull",): {"--decryption-key": "capsa does not pull encrypted images (decrypt first: skopeo copy --decryption-key)"},
    ("push",): {
        "--encrypt-layer": "capsa does not encrypt images",
        "--encryption-key": "capsa does not encrypt images",
        "--sign-by": "capsa does not sign images (sign with cosign afterwards)",
        "--sign-by-sigstore-private-key": "capsa does not sign images (sign with cosign afterwards)",
        "--sign-passphrase-file": "capsa does not sign images (sign with cosign afterwards)",
    },
    ("save",): {"--compress": "it applies to --format docker-dir only, which capsa does not write (use oci-dir)"},
    # (end of images)
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


# Aliases (each slice its own lines).
same(("build",), ("image", "build"))  # images
same(("pull",), ("image", "pull"))  # images
same(("push",), ("image", "push"))  # images
same(("save",), ("image", "save"))  # images
