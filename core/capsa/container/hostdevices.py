"""``--device HOST[:CONTAINER][:PERMS]``: a host device node given to a container, as podman does.

The node is made in the container (``linux.devices``, same numbers, mode and owner as on the
host) and its cgroup rule allows ``PERMS`` (``rwm`` by default: read, write, mknod) on it
(``linux.resources.devices``), which the runtime enforces with the devices controller or an eBPF
program (see docs/containers.md).
"""
from __future__ import annotations

import os
import stat

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_HINT = "give --device HOST[:CONTAINER][:PERMS], e.g. --device /dev/fuse or --device /dev/sdb:/dev/xvdb:rw"


def parse_device(item: str) -> tuple[str, str, str]:
    """(host path, container path, permissions) of one ``--device`` value (podman's rules)."""
    parts = item.split(":")
    if len(parts) > 3 or not parts[0]:
        raise UsageError(f"invalid device specification: {item}", _HINT)
    host, dest, perms = parts[0], parts[0], "rwm"
    if len(parts) == 3:
        dest, perms = parts[1], parts[2]
    elif len(parts) == 2:
        if _is_mode(parts[1]):
            perms = parts[1]
        else:
            dest = parts[1]
    if not _is_mode(perms):
        raise UsageError(f"invalid device mode: {perms}", "the mode is made of r, w and m")
    if not dest.startswith("/"):
        raise UsageError(f"invalid device path {dest!r}: it must be absolute", _HINT)
    return host, os.path.normpath(dest), perms


def _is_mode(text: str) -> bool:
    return bool(text) and len(text) <= 3 and not set(text) - set("rwm") and len(set(text)) == len(text)


def host_device(item: str) -> tuple[str, str, os.stat_result, str]:
    """(container path, permissions, the host node's stat, its type ``c`` or ``b``) of one
    ``--device`` value; a UsageError when the value or the host's node is not right. ``create``
    calls it for every value before anything is written, and the spec again when it is built."""
    host, dest, perms = parse_device(item)
    try:
        st = os.stat(host)
    except OSError as exc:
        raise UsageError(f"stat {host}: {os.strerror(exc.errno or 0).lower()}",
                         "give the path of a device node on this host") from None
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else None
    if kind is None:
        raise UsageError(f"{host} is not a device node", "give a character or block device such as /dev/fuse")
    return dest, perms, st, kind


def add_devices(linux: dict[str, Any], items: list[str]) -> None:
    """Add each ``--device`` to ``linux`` (the spec's section): the node and its cgroup rule."""
    for item in items:
        dest, perms, st, kind = host_device(item)
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        linux["devices"] = [d for d in linux.get("devices") or [] if d.get("path") != dest]
        linux["devices"].append({"path": dest, "type": kind, "major": major, "minor": minor,
                                 "fileMode": st.st_mode & 0o777, "uid": st.st_uid, "gid": st.st_gid})
        rules = linux.setdefault("resources", {}).setdefault("devices", [])
        rules.append({"allow": True, "type": kind, "major": major, "minor": minor, "access": perms})
