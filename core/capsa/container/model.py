"""What a container is made of: the configuration ``create``/``run`` record for it.

The record is the user's intent (flags resolved against defaults, not against the image); the
OCI runtime spec is derived from it and the image config at start (:mod:`capsa.container.spec`).
"""
from __future__ import annotations

from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@record
class MountSpec:
    """One ``-v``/``--mount``/``--tmpfs``: ``type`` is bind, volume or tmpfs; ``source`` is a host
    path (bind), a volume name (volume) or empty (tmpfs); ``options`` as in the OCI spec
    (``ro``, ``rw``, ``nosuid``, ``size=64m``, ``mode=1777``...)."""

    type: str
    destination: str
    source: str = ""
    options: list[str] = field(default_factory=list)


@record
class ContainerConfig:
    id: str
    name: str
    image_id: str | None  # None with --rootfs
    image_name: str  # as the user gave it, or the rootfs path
    rootfs: str | None = None  # --rootfs DIR: an exploded root filesystem instead of an image
    entrypoint: list[str] | None = None  # --entrypoint (None: the image's)
    cmd: list[str] | None = None  # arguments after the image (None: the image's)
    env: list[str] = field(default_factory=list)  # -e / --env-file, KEY=VALUE, over the image's
    workdir: str = ""  # -w ("" : the image's, else /)
    user: str = ""  # -u user[:group] ("" : the image's, else root)
    hostname: str = ""  # --hostname ("" : the first 12 characters of the id)
    tty: bool = False
    interactive: bool = False
    mounts: list[MountSpec] = field(default_factory=list)
    read_only: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    devices: list[str] = field(default_factory=list)  # --device HOST[:CONTAINER][:PERMS]
    seccomp_profile: str = ""  # "" default, "unconfined", or a path to a Docker JSON profile
    no_new_privileges: bool = False
    memory: int | None = None  # bytes
    memory_swap: int | None = None  # bytes of memory+swap, -1 unlimited
    cpus: float | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = 1024  # podman's default; 0 or -1: unlimited
    ulimits: list[str] = field(default_factory=list)  # "nofile=1024:2048"
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = ""  # "" : the image's, else SIGTERM
    stop_timeout: int = 10
    restart_policy: str = "no"  # no | on-failure | always
    restart_max: int = 0  # on-failure:N
    init: bool = False  # --init: a reaper as PID 1
    remove: bool = False  # --rm
    network: str = "none"
    cgroup_parent: str = ""
    created: str = ""
    layer_id: str | None = None  # the writable layer (None with --rootfs)
    annotations: dict[str, str] = field(default_factory=dict)
    pod: str = ""  # the id of the pod it belongs to ("" : none); see capsa.pod.model
    namespaces: dict[str, str] = field(default_factory=dict)  # joined namespaces but the network's: "ipc"|"uts"|"pid"|"cgroup" -> "container:ID" or "host"
    extra: dict[str, Any] = field(default_factory=dict)
