"""Entries podman adds to a container's /etc/passwd and /etc/group (``--passwd``,
``--passwd-entry``, ``--hostuser``), as podman 4.3 does, observed:

- ``-u UID[:GID]`` with a UID the container's /etc/passwd does not have (and ``--passwd``, the
  default): ``UID:*:UID:GID:container user:/:/bin/sh`` (GID 0 when not given), and, when the
  container's /etc/group has no such group, ``G:x:G:UID`` with G the given GID, else the UID;
- ``--passwd-entry ENTRY`` replaces that line: ``$USERNAME``, ``$UID``, ``$GID``, ``$NAME`` and
  ``$HOME`` in it are replaced by the user's values;
- ``--hostuser NAME``: ``NAME:*:UID:GID:GECOS:/:/bin/sh`` from the host's entry of that user,
  unless the container has a user of that name.

The container's own files are read inside its root (never following a link out of it:
:func:`capsa.container.userinfo.read_root_file`); the result is written beside the container's
other generated files and bind-mounted over them, so nothing of the image is written through.
"""
from __future__ import annotations

import os

from capsa.container.model import ContainerConfig
from capsa.container.userinfo import read_root_file
from capsa.errors import UsageError


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def extra_entries(config: ContainerConfig, rootfs: str, uid: int, gid: int) -> tuple[list[str], list[str], str, str]:
    """(passwd lines to add, group lines to add, the container's passwd text, its group text)."""
    extra = config.extra
    passwd_text, group_text = read_root_file(rootfs, "/etc/passwd"), read_root_file(rootfs, "/etc/group")
    passwd, groups = _lines(passwd_text), _lines(group_text)
    names = {line.split(":", 1)[0] for line in passwd}
    uids = {line.split(":")[2] for line in passwd if line.count(":") >= 2}
    gids = {line.split(":")[2] for line in groups if line.count(":") >= 2}
    add_passwd: list[str] = []
    add_group: list[str] = []
    user, _, group = (config.user or "").partition(":")
    if extra.get("passwd", True) and user.isdigit() and user not in uids:
        template = extra.get("passwd_entry") or "$UID:*:$UID:$GID:container user:$HOME:/bin/sh"
        values = {"USERNAME": user, "NAME": "container user", "UID": str(uid), "GID": str(gid), "HOME": "/"}
        entry = template
        for key in sorted(values, key=len, reverse=True):
            entry = entry.replace(f"${key}", values[key])
        add_passwd.append(entry)
        group_id = group if group.isdigit() else user
        if group_id not in gids:
            add_group.append(f"{group_id}:x:{group_id}:{user}")
    for name in extra.get("hostuser") or []:
        if name in names:
            continue
        host = [line.split(":") for line in _lines(_host_file("/etc/passwd")) if line.split(":", 1)[0] == name]
        if not host or len(host[0]) < 5:
            raise UsageError(f"creating temporary passwd file for container {config.id}: user: unknown user {name}",
                             hint="--hostuser takes a user of this host")
        add_passwd.append(f"{name}:*:{host[0][2]}:{host[0][3]}:{host[0][4]}:/:/bin/sh")  # (podman's form)
    return add_passwd, add_group, passwd_text, group_text


def _host_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def write_entries(config: ContainerConfig, rootfs: str, directory: str, uid: int, gid: int) -> list[dict]:
    """The bind mounts of /etc/passwd and /etc/group with the entries added (none when there
    are none to add), their files written into ``directory``."""
    from capsa.fsutil import atomic_write

    add_passwd, add_group, passwd_text, group_text = extra_entries(config, rootfs, uid, gid)
    mounts = []
    for dest, text, added in (("/etc/passwd", passwd_text, add_passwd), ("/etc/group", group_text, add_group)):
        if not added:
            continue
        path = os.path.join(directory, os.path.basename(dest))
        body = text if not text or text.endswith("\n") else text + "\n"
        atomic_write(path, (body + "".join(f"{line}\n" for line in added)).encode(), durable=False)
        mounts.append({"destination": dest, "type": "bind", "source": path, "options": ["rbind", "rprivate"]})
    return mounts
