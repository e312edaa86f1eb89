"""What :mod:`capsa.container.resflags` recorded, put into a container's OCI runtime spec.

Everything goes where the OCI runtime spec carries it (``linux.resources``, ``process.oomScoreAdj``,
``linux.sysctl``, the /dev/shm mount, ``process.user.additionalGids``, ``linux.maskedPaths``),
so capsa's ``linux`` driver and crun/runc (the ``oci`` driver) honour the same bundle.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.model import ContainerConfig


def apply_to_spec(spec: dict[str, Any], config: ContainerConfig, rootfs: str) -> None:
    """Merge the recorded resource, namespace and security options of ``config`` into ``spec``."""
    extra = config.extra
    linux = spec["linux"]
    res = extra.get("resources")
    if res:
        resources = linux.setdefault("resources", {})
        for key, value in res.items():
            if key == "devices":
                resources.setdefault("devices", []).extend(value)
            elif isinstance(value, dict):  # (blockIO's device entries keep the path for inspect: not OCI's)
                resources.setdefault(key, {}).update(
                    {k: [{f: x for f, x in e.items() if f != "path"} for e in v] if isinstance(v, list) else v
                     for k, v in value.items()})
            else:
                resources[key] = value
    if extra.get("cgroup_conf"):
        linux.setdefault("resources", {})["unified"] = dict(extra["cgroup_conf"])
    if extra.get("oom_score_adj") is not None:
        spec["process"]["oomScoreAdj"] = extra["oom_score_adj"]
    if extra.get("sysctl"):
        linux.setdefault("sysctl", {}).update(extra["sysctl"])
    _shm(spec, config)
    if extra.get("group_add"):
        _group_add(spec, rootfs, extra["group_add"])
    if "maskedPaths" in linux:
        masked = [p for p in extra.get("mask") or [] if p not in linux["maskedPaths"]]
        linux["maskedPaths"] += masked
        unmask = extra.get("unmask") or []
        if "ALL" in unmask:
            linux["maskedPaths"], linux["readonlyPaths"] = masked, []
        elif unmask:
            linux["maskedPaths"] = [p for p in linux["maskedPaths"] if p not in unmask]
            linux["readonlyPaths"] = [p for p in linux.get("readonlyPaths") or [] if p not in unmask]
    if extra.get("proc_opts"):
        for mount in spec["mounts"]:
            if mount["destination"] == "/proc":
                mount["options"] = mount["options"] + [o for o in extra["proc_opts"] if o not in mount["options"]]


def _shm(spec: dict[str, Any], config: ContainerConfig) -> None:
    """``--shm-size``; ``--ipc none`` (no /dev/shm), ``--ipc host`` (the host's /dev/shm)."""
    mode = config.extra.get("ipc_mode") or config.namespaces.get("ipc") or ""
    mounts = spec["mounts"]
    for i, mount in enumerate(mounts):
        if mount["destination"] != "/dev/shm" or mount["type"] != "tmpfs":
            continue
        if mode == "none":
            del mounts[i]
        elif mode == "host":
            mounts[i] = {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                         "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"]}
        elif config.extra.get("shm_size"):
            mount["options"] = [o for o in mount["options"] if not o.startswith("size=")] + \
                [f"size={config.extra['shm_size'] // 1024}k"]
        return


def _group_add(spec: dict[str, Any], rootfs: str, groups: list[str]) -> None:
    """``--group-add NAME|GID``: names looked up in the container's /etc/group (podman's error
    when one is not there)."""
    from capsa.container.userinfo import read_root_file
    from capsa.errors import UsageError

    by_name: dict[str, int] = {}
    try:
        for line in read_root_file(rootfs, "/etc/group").splitlines():
            parts = line.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                by_name.setdefault(parts[0], int(parts[2]))
    except OSError:
        pass
    user = spec["process"]["user"]
    gids = list(user.get("additionalGids") or [])
    for group in groups:
        gid = int(group) if group.isdigit() else by_name.get(group)
        if gid is None:
            raise UsageError(f"looking up supplemental groups for container: Unable to find group {group}: "
                             "no matching entries in group file", hint="give a group of the image's /etc/group or a gid")
        if gid not in gids:
            gids.append(gid)
    user["additionalGids"] = gids
