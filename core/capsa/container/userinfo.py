"""Resolve ``-u user[:group]`` against a container's own /etc/passwd and /etc/group.

The files are read from the root filesystem as the container will see them: every symlink on
the way is resolved inside the rootfs (an absolute target or ``..`` never leaves it, like a
chroot), and only a regular file is read. A file that is missing, not regular or unreadable is
treated as empty, so numeric ids still work.

Podman's rules (observed with podman 4.3 and ``--rootfs``), mirrored here:

- no user at all: uid 0, gid 0, additionalGids = the groups listing ``root`` as a member;
- a user without a group: its passwd gid, additionalGids = [that gid] + the groups listing it;
- a user with a group: that gid, additionalGids = [that gid] only;
- a numeric uid missing from passwd: gid 0 (unless given), no HOME;
- an unknown user or group name is an error.
"""
from __future__ import annotations

import errno
import os
import stat

from capsa.errors import UsageError
from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

MAX_FILE = 4 << 20  # a passwd or group file larger than this is not read past this size
MAX_LINKS = 40


@record
class ExecUser:
    """The process identity a container starts with."""

    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str | None = None  # from passwd; None when the user has no entry


def resolve_in_root(root: str, path: str) -> str:
    """The host path of ``path`` inside ``root`` (see :func:`capsa.fsutil.secure_join`)."""
    from capsa.fsutil import secure_join

    return secure_join(root, path, MAX_LINKS)


def _open_in_root(root: str, path: str) -> int:
    """``path`` opened read-only inside ``root``, by descriptor: openat2(RESOLVE_IN_ROOT |
    RESOLVE_NO_MAGICLINKS) from an O_PATH descriptor of ``root``, so that the kernel resolves
    every symlink in the root (an absolute one under ``/proc/PID/root`` included) and nothing
    swapped between a check and the open can lead out of it. A kernel without openat2 (< 5.6)
    gets :func:`resolve_in_root` (a container changing its files meanwhile could race that)."""
    from capsa.linux import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return openat2(rootfd, path.lstrip("/") or ".", flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
    finally:
        os.close(rootfd)
    return os.open(resolve_in_root(root, path), flags | os.O_NOFOLLOW)


def read_root_file(root: str, path: str) -> str:
    """The text of the regular file ``path`` inside ``root`` (a rootfs, or a running container's
    ``/proc/PID/root``), or "" when there is none."""
    try:
        fd = _open_in_root(root, path)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(MAX_FILE).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _entries(text: str, fields: int) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) >= fields:
            out.append(parts)
    return out


def _number(text: str) -> int | None:
    if text.isdigit():
        value = int(text)
        if value < 2**32 - 1:
            return value
    return None


def resolve_user(rootfs: str, spec: str, read: Callable[[str], str] | None = None) -> ExecUser:
    """Resolve ``spec`` ("", "name", "uid", "name:group", "uid:gid") against ``rootfs``;
    ``read(path)`` (the text of a file of the container's, "" if none) replaces
    :func:`read_root_file` when given."""
    user, _, group = spec.partition(":")
    if spec and not user:
        raise UsageError(f"invalid user {spec!r}", "use -u user, -u uid, -u user:group or -u uid:gid")
    if read is None:
        def read(path: str) -> str:
            return read_root_file(rootfs, path)
    passwd = _entries(read("/etc/passwd"), 7)
    groups = _entries(read("/etc/group"), 4)

    name = user or "root"
    uid = _number(name)
    entry = None
    for parts in passwd:
        if (uid is None and parts[0] == name) or (uid is not None and _number(parts[2]) == uid):
            entry = parts
            break
    if entry is None and uid is None:
        if name == "root":  # no passwd file at all: root still works
            uid = 0
        else:
            raise UsageError(f"unable to find user {name}: no matching entries in passwd file",
                             "pass a numeric uid (-u 1000) or add the user to the image's /etc/passwd")
    home = None
    gid = 0
    if entry is not None:
        uid = _number(entry[2]) or 0
        gid = _number(entry[3]) or 0
        home = entry[5] or None
        name = entry[0]
    assert uid is not None

    if group:
        found = _number(group)
        if found is None:
            for parts in groups:
                if parts[0] == group:
                    found = _number(parts[2])
                    break
        if found is None:
            raise UsageError(f"unable to find group {group}: no matching entries in group file",
                             "pass a numeric gid (-u user:1000) or add the group to the image's /etc/group")
        return ExecUser(uid, found, [found], home)

    supplementary = []
    if entry is not None:
        for parts in groups:
            number = _number(parts[2])
            if number is not None and name in parts[3].strip().split(",") and number not in supplementary:
                supplementary.append(number)
    additional = supplementary if not user else [gid] + [g for g in supplementary if g != gid]
    return ExecUser(uid, gid, additional, home)


def resolve_owner(spec: str, read: Callable[[str], str]) -> tuple[int, int]:
    """The uid:gid of a build's ``--chown=user[:group]`` (buildah's rules, observed with podman
    4.3): a user name takes its passwd gid, a numeric uid without a group is also the gid
    (``1234`` -> 1234:1234, in passwd or not), ``:group`` is uid 0; names are looked up in
    ``read("/etc/passwd")`` and ``read("/etc/group")``; an unknown one is a UsageError."""
    user, has_group, group = spec.partition(":")
    uid = _number(user) if user else 0
    gid = uid
    if uid is None:
        for parts in _entries(read("/etc/passwd"), 7):
            if parts[0] == user:
                uid, gid = _number(parts[2]) or 0, _number(parts[3]) or 0
                break
        else:
            raise UsageError(f'looking up UID/GID for "{spec}": determining run uid: user: unknown user error '
                             f'looking up user "{user}"', "use a numeric uid or a user of the image's /etc/passwd")
    if has_group:
        gid = _number(group)
        if gid is None:
            for parts in _entries(read("/etc/group"), 4):
                if parts[0] == group:
                    gid = _number(parts[2])
                    break
        if gid is None:
            raise UsageError(f'looking up UID/GID for "{spec}": determining run gid: group: unknown group error '
                             f'looking up group "{group}"', "use a numeric gid or a group of the image's /etc/group")
    assert uid is not None and gid is not None
    return uid, gid
