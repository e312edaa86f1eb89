"""The spec's mounts, made by the container's setup process before pivot_root.

Every target is resolved inside the rootfs by descriptor (:class:`inroot.RootDir`) and the mount
goes onto what was resolved: a bind is a detached copy of its source's mount (open_tree), given
its flags while detached and attached with move_mount(2); other filesystems are mounted onto
``/proc/self/fd/N`` of the target's O_PATH descriptor. A bind's flags apply to every mount
below its source too (mount_setattr with AT_RECURSIVE): a ``ro`` bind is read-only all the way
down, where a remount would leave the mounts below it writable.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable

from capsa.linux import (MS_BIND, MS_DIRSYNC, MS_LAZYTIME, MS_MANDLOCK, MS_NOATIME, MS_NODEV, MS_NODIRATIME,
                         MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_SHARED, MS_SLAVE,
                         MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE, mount)

from .inroot import RootDir, fd_path
from .mountapi import (AT_EMPTY_PATH, AT_RECURSIVE, OPEN_TREE_CLONE, attributes, mount_setattr, move_mount_to_fd,
                       open_tree)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

AT_FDCWD = -100

# OCI mount option -> (flags to set, flags to clear)
FLAGS = {
    "defaults": (0, 0), "ro": (MS_RDONLY, 0), "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0), "suid": (0, MS_NOSUID), "nodev": (MS_NODEV, 0), "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0), "exec": (0, MS_NOEXEC), "sync": (MS_SYNCHRONOUS, 0), "async": (0, MS_SYNCHRONOUS),
    "dirsync": (MS_DIRSYNC, 0), "mand": (MS_MANDLOCK, 0), "nomand": (0, MS_MANDLOCK),
    "noatime": (MS_NOATIME, 0), "atime": (0, MS_NOATIME), "nodiratime": (MS_NODIRATIME, 0),
    "diratime": (0, MS_NODIRATIME), "relatime": (MS_RELATIME, 0), "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0), "nostrictatime": (0, MS_STRICTATIME),
    "lazytime": (MS_LAZYTIME, 0), "nolazytime": (0, MS_LAZYTIME),
}
PROPAGATION = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC, "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}
# Engine-level options podman/docker put in specs that are not for mount(2).
IGNORED = frozenset({"tmpcopyup", "notmpcopyup", "z", "Z", "U", "copy", "nocopy", "idmap", "noswap"})
REMOUNT_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | \
    MS_STRICTATIME
# The filesystem's own flags (its superblock's): a new mount takes them, a bind cannot (no
# mount_setattr attribute exists for them, and a remount would change the source filesystem,
# the host's), so a bind that asks for them is refused rather than made without them.
SUPERBLOCK_ONLY = {"sync": MS_SYNCHRONOUS, "dirsync": MS_DIRSYNC, "lazytime": MS_LAZYTIME, "mand": MS_MANDLOCK}


class SetupError(Exception):
    """A step of the container's setup failed; the message names the step."""


def why(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def parse_options(options: list[str]) -> tuple[int, int, str, bool]:
    """OCI mount options -> (mount flags, propagation flags, filesystem data, is a bind)."""
    flags = prop = 0
    bind = False
    data = []
    for opt in options:
        if opt in FLAGS:
            set_, clear = FLAGS[opt]
            flags = (flags | set_) & ~clear
        elif opt in PROPAGATION:
            prop = PROPAGATION[opt]
        elif opt in ("bind", "rbind"):
            bind = True
            flags |= MS_BIND | (MS_REC if opt == "rbind" else 0)
        elif opt not in IGNORED:
            data.append(opt)
    return flags, prop, ",".join(data), bind


def set_propagation(mount_fd: int, prop: int) -> None:
    """``prop`` (an MS_* propagation, MS_REC: the mounts below too) on the mount ``mount_fd`` is."""
    mount_setattr(mount_fd, 0, 0, prop & ~MS_REC, recursive=bool(prop & MS_REC))


def bind(source: str | int, target_fd: int, flags: int, prop: int = 0) -> None:
    """Bind ``source`` (a path, or a descriptor of what to bind: nothing is looked up again;
    with MS_REC, the mounts below it too) onto ``target_fd``: the copy gets ``flags`` (ro,
    nosuid, ...) on every mount it holds before it is attached, then ``prop``."""
    clone = OPEN_TREE_CLONE | (AT_RECURSIVE if flags & MS_REC else 0)
    if isinstance(source, int):
        tree = open_tree(source, "", clone | AT_EMPTY_PATH)
    else:
        tree = open_tree(AT_FDCWD, source, clone)
    try:
        attr_set, attr_clr = attributes(flags & REMOUNT_FLAGS)
        if attr_set or attr_clr:
            mount_setattr(tree, attr_set, attr_clr, recursive=True)
        move_mount_to_fd(tree, target_fd)
        if prop:
            set_propagation(tree, prop)
    finally:
        os.close(tree)


def _cgroup_mount(root: RootDir, dest: str, target: int, flags: int, cgroup: dict[str, Any],
                  join: Callable[[], None] | None) -> None:
    """v1 host: a tmpfs with each controller's container cgroup dir bound read-only into it (as
    runc does); v2 with a cgroup namespace: a cgroup2 mount, else the container's dir bound.
    ``join`` (if given) puts the caller in its cgroup and namespace: a cgroup2 mount shows the
    mounter's cgroup namespace, so it is called first."""
    ro = flags & MS_RDONLY
    if cgroup.get("version") == "v2":
        source = cgroup.get("v2_path")
        if cgroup.get("cgroupns") or not source:
            if join is not None:
                join()
            mount("cgroup2", fd_path(target), "cgroup2", flags)
        else:
            bind(source, target, flags | MS_BIND)
        return
    mount("tmpfs", fd_path(target), "tmpfs", (flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")
    tmpfs = root.open(dest, os.O_PATH | os.O_DIRECTORY)
    try:
        for name, source in cgroup.get("binds", {}).items():
            os.mkdir(name, 0o755, dir_fd=tmpfs)
            sub = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=tmpfs)
            try:
                bind(source, sub, MS_NOSUID | MS_NODEV | MS_NOEXEC | (MS_RDONLY if ro else 0))
            finally:
                os.close(sub)
        for name, link in cgroup.get("links", {}).items():
            os.symlink(link, name, dir_fd=tmpfs)
        if ro:
            mount_setattr(tmpfs, attributes(MS_RDONLY)[0], recursive=False)
    finally:
        os.close(tmpfs)


def mount_one(root: RootDir, bundle: str, m: dict[str, Any], cgroup: dict[str, Any],
              join: Callable[[], None] | None = None) -> None:
    """Make the spec's mount ``m`` at its destination, resolved inside ``root``."""
    dest = os.path.normpath("/" + (m.get("destination") or "").lstrip("/"))
    kind = m.get("type") or ""
    flags, prop, data, is_bind = parse_options(m.get("options") or [])
    if kind == "bind":
        is_bind, flags = True, flags | MS_BIND
    source = m.get("source") or kind or "none"
    if is_bind and flags & sum(SUPERBLOCK_ONLY.values()):
        names = ", ".join(o for o, f in SUPERBLOCK_ONLY.items() if flags & f)
        raise SetupError(f"bind mount on {dest}: {names} cannot apply to a bind (a flag of the source's "
                         "filesystem, not of one mount): drop it, or set it where the source is mounted")
    try:
        if is_bind:
            if not source.startswith("/"):
                source = os.path.join(bundle, source)
            try:
                is_dir = stat.S_ISDIR(os.stat(source).st_mode)
            except OSError as exc:
                raise SetupError(f"mount source {source} for {dest}: {why(exc)}") from None
            target = root.target(dest, is_dir)
            try:
                bind(source, target, flags, prop)
            finally:
                os.close(target)
            return
        target = root.target(dest, True)
        copyup = None
        try:
            if kind == "tmpfs" and "tmpcopyup" in (m.get("options") or []):
                # keep a handle on the directory the tmpfs will hide, to copy its content up
                copyup = os.open(fd_path(target), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            if kind == "cgroup":
                _cgroup_mount(root, dest, target, flags, cgroup, join)
            elif kind == "sysfs":
                try:
                    mount(source, fd_path(target), kind, flags, data or None)
                except PermissionError:  # no network namespace of our own: bind the host's /sys
                    bind("/sys", target, flags | MS_BIND | MS_REC)
            else:
                mount(source, fd_path(target), kind, flags, data or None)
        finally:
            os.close(target)
        if copyup is not None or prop:
            made = root.open(dest, os.O_RDONLY | os.O_DIRECTORY)  # the new mount's root
            try:
                if copyup is not None:
                    explicit_mode = any(o.startswith("mode=") for o in (m.get("options") or []))
                    _copy_tree(fd_path(copyup), fd_path(made), keep_root_mode=explicit_mode)
                if prop:
                    set_propagation(made, prop)
            finally:
                os.close(made)
                if copyup is not None:
                    os.close(copyup)
    except OSError as exc:
        raise SetupError(f"mount {kind or source} on {dest}: {why(exc)}") from None


def _copy_tree(src: str, dst: str, keep_root_mode: bool = False) -> None:
    """tmpcopyup: copy the directory ``src`` into ``dst`` (the new tmpfs), keeping modes, owners
    and symlinks (device nodes and sockets are left out). ``keep_root_mode``: the tmpfs was
    given a mode= of its own, which the copy leaves alone."""
    st = os.stat(src)
    if not keep_root_mode:
        os.chown(dst, st.st_uid, st.st_gid)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    for entry in os.scandir(src):
        s, d = entry.path, os.path.join(dst, entry.name)
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(d)
            _copy_tree(s, d)
            continue
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(s), d)
            os.lchown(d, st.st_uid, st.st_gid)
            continue
        if stat.S_ISREG(st.st_mode):
            fd = os.open(s, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with open(fd, "rb") as fin, open(d, "xb") as fout:
                while chunk := fin.read(1 << 20):
                    fout.write(chunk)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(d)
        else:
            continue
        os.chown(d, st.st_uid, st.st_gid)
        os.chmod(d, stat.S_IMODE(st.st_mode))
