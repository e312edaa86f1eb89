"""The container's filesystem view, built inside its own mount namespace (by process B).

``prepare`` runs before pivot_root: propagation private, the rootfs bound onto itself, the
spec's mounts in order, device nodes, /dev symlinks and /dev/console. ``pivot`` swaps the root
(pivot_root, then the old root is detached: never chroot). ``finalize`` runs after it: masked
paths, read-only paths and a read-only root. Nothing here is visible outside the namespace, so a
failure leaves the host's mount table untouched.
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from capsa.fsutil import secure_join as _secure_join
from capsa.linux import (MNT_DETACH, MS_BIND, MS_DIRSYNC, MS_LAZYTIME, MS_MANDLOCK, MS_NOATIME, MS_NODEV,
                         MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT,
                         MS_SHARED, MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE, mount, umount)
from capsa.security.devices import DEFAULT_DEVICES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
DEV_LINKS = (("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"), ("/proc/self/fd/1", "/dev/stdout"),
             ("/proc/self/fd/2", "/dev/stderr"))
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "ppc64": 203, "s390x": 217,
                   "i686": 217, "armv7l": 218, "loongarch64": 41}


class SetupError(Exception):
    """A step of the container's setup failed; the message names the step."""


def _why(exc: OSError) -> str:
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


def secure_join(root: str, unsafe: str) -> str:
    """``unsafe`` resolved under ``root`` as if ``root`` were ``/`` (capsa.fsutil.secure_join)."""
    try:
        return _secure_join(root, unsafe, 255)
    except OSError:
        raise SetupError(f"too many symlinks resolving {unsafe} in the rootfs") from None


def _make_target(path: str, is_dir: bool) -> None:
    if os.path.lexists(path):
        return
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if is_dir:
        os.mkdir(path, 0o755)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _remount_bind(target: str, flags: int) -> None:
    """Apply ``flags`` (ro, nosuid, ...) to a bind mount: a bind ignores them at first mount."""
    keep = 0
    try:
        keep = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)  # ST_* == MS_* for these
    except OSError:
        pass
    mount("", target, None, MS_REMOUNT | MS_BIND | keep | (flags & REMOUNT_FLAGS))


def _bind(source: str, target: str, flags: int, prop: int = 0) -> None:
    mount(source, target, None, MS_BIND | (flags & MS_REC))
    if flags & REMOUNT_FLAGS:
        _remount_bind(target, flags)
    if prop:
        mount("", target, None, prop)


def _bind_flags(rootfs: str, target: str, flags: int, prop: int) -> None:
    """The flags (ro, nosuid...) and propagation of a bind mount just made at ``target``; the
    path is checked again first, so a swapped component cannot redirect the remount."""
    if flags & REMOUNT_FLAGS or prop:
        where = os.path.realpath(target)
        if not where.startswith(rootfs.rstrip("/") + "/"):
            raise SetupError(f"mount target {target} moved outside the container")
    if flags & REMOUNT_FLAGS:
        _remount_bind(target, flags)
    if prop:
        mount("", target, None, prop)


def _cgroup_mount(target: str, flags: int, cgroup: dict[str, Any], join: Callable[[], None] | None) -> None:
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
            mount("cgroup2", target, "cgroup2", flags)
        else:
            _bind(source, target, flags | MS_BIND)
        return
    mount("tmpfs", target, "tmpfs", (flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")
    for name, source in cgroup.get("binds", {}).items():
        sub = os.path.join(target, name)
        os.mkdir(sub, 0o755)
        _bind(source, sub, MS_NOSUID | MS_NODEV | MS_NOEXEC | (MS_RDONLY if ro else 0))
    for name, dest in cgroup.get("links", {}).items():
        os.symlink(dest, os.path.join(target, name))
    if ro:
        mount("tmpfs", target, "tmpfs", MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")


def _pin(rootfs: str, target: str) -> int:
    """An O_PATH descriptor of ``target``, checked to lie inside ``rootfs``.

    Mounting onto ``/proc/self/fd/N`` then reaches exactly the directory that was checked, even
    if someone swaps a path component for a symlink in between (runc's CVE-2021-30465): a
    volume shared with another container is writable by it while this one starts."""
    fd = os.open(target, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    where = os.readlink(f"/proc/self/fd/{fd}")
    if where != rootfs and not where.startswith(rootfs.rstrip("/") + "/"):
        os.close(fd)
        raise SetupError(f"mount target {target} resolves outside the container ({where})")
    return fd


def mount_one(rootfs: str, bundle: str, m: dict[str, Any], cgroup: dict[str, Any],
              join: Callable[[], None] | None = None) -> str:
    dest = m.get("destination", "")
    if not dest.startswith("/"):
        dest = "/" + dest
    target = secure_join(rootfs, dest)
    kind = m.get("type") or ""
    flags, prop, data, bind = parse_options(m.get("options") or [])
    if kind == "bind":
        bind, flags = True, flags | MS_BIND
    source = m.get("source") or kind or "none"
    try:
        if bind:
            if not source.startswith("/"):
                source = os.path.join(bundle, source)
            try:
                is_dir = stat.S_ISDIR(os.stat(source).st_mode)
            except OSError as exc:
                raise SetupError(f"mount source {source} for {dest}: {_why(exc)}") from None
            _make_target(target, is_dir)
            pinned = _pin(rootfs, target)
            try:
                mount(source, f"/proc/self/fd/{pinned}", None, MS_BIND | (flags & MS_REC))
            finally:
                os.close(pinned)
            _bind_flags(rootfs, target, flags, prop)
            return target
        _make_target(target, True)
        copyup = None
        if kind == "tmpfs" and "tmpcopyup" in (m.get("options") or []):
            # keep a handle on the directory the tmpfs will hide, to copy its content up
            copyup = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if kind == "cgroup":
            _cgroup_mount(target, flags, cgroup, join)
        elif kind == "sysfs":
            try:
                mount(source, target, kind, flags, data or None)
            except PermissionError:  # no network namespace of our own: bind the host's /sys
                _bind("/sys", target, flags | MS_BIND | MS_REC)
        else:
            pinned = _pin(rootfs, target)
            try:
                mount(source, f"/proc/self/fd/{pinned}", kind, flags, data or None)
            finally:
                os.close(pinned)
        if copyup is not None:
            explicit_mode = any(o.startswith("mode=") for o in (m.get("options") or []))
            try:
                _copy_tree(f"/proc/self/fd/{copyup}", target, keep_root_mode=explicit_mode)
            finally:
                os.close(copyup)
        if prop:
            mount("", target, None, prop)
    except OSError as exc:
        raise SetupError(f"mount {kind or source} on {dest}: {_why(exc)}") from None
    return target


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
            with open(s, "rb") as fin, open(d, "xb") as fout:
                while chunk := fin.read(1 << 20):
                    fout.write(chunk)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(d)
        else:
            continue
        os.chown(d, st.st_uid, st.st_gid)
        os.chmod(d, stat.S_IMODE(st.st_mode))


def make_devices(rootfs: str, devices: list[dict[str, Any]], dev_tmpfs: bool) -> None:
    listed = {d.get("path") for d in devices}
    wanted = list(devices)
    if dev_tmpfs:
        wanted += [{"path": p, "type": "c", "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
                   for p, ma, mi in DEFAULT_DEVICES if p not in listed]
    for dev in wanted:
        path = dev["path"]
        target = secure_join(rootfs, path)
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}.get(dev.get("type", "c"))
        if kind is None:
            raise SetupError(f"device {path}: unknown type {dev.get('type')!r}")
        mode = dev.get("fileMode", 0o666) & 0o7777
        if os.path.lexists(target):
            os.unlink(target)
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        try:
            os.mknod(target, kind | mode, os.makedev(dev.get("major", 0), dev.get("minor", 0)))
            os.chown(target, dev.get("uid", 0), dev.get("gid", 0))
            os.chmod(target, mode)
        except PermissionError:  # no CAP_MKNOD (or a devices cgroup that denies it): bind the host's
            try:
                _make_target(target, False)
                _bind(path, target, 0)
            except OSError as exc:
                raise SetupError(f"device {path}: cannot create nor bind it: {_why(exc)}") from None
        except OSError as exc:
            raise SetupError(f"device {path}: {_why(exc)}") from None


def dev_links(rootfs: str, devpts: bool) -> None:
    links = list(DEV_LINKS)
    if devpts:
        ptmx = secure_join(rootfs, "/dev/ptmx")
        if os.path.lexists(ptmx):
            os.unlink(ptmx)
        links.append(("pts/ptmx", "/dev/ptmx"))
    for src, dst in links:
        try:
            os.symlink(src, secure_join(rootfs, dst))
        except FileExistsError:
            pass
        except OSError as exc:
            raise SetupError(f"symlink {dst}: {_why(exc)}") from None


def console(rootfs: str) -> None:
    """Bind the terminal on fd 0 (the pty's slave end) to /dev/console."""
    target = secure_join(rootfs, "/dev/console")
    try:
        tty = os.readlink("/proc/self/fd/0")  # ttyname() cannot name a pty of another devpts instance
        if os.path.lexists(target):
            os.unlink(target)
        _make_target(target, False)
        mount(tty, target, None, MS_BIND)
    except OSError as exc:
        raise SetupError(f"/dev/console: {_why(exc)}") from None


TIOCGPTN = 0x80045430  # _IOR('T', 0x30, unsigned int): Python's termios lacks these two
TIOCSPTLCK = 0x40045431  # _IOW('T', 0x31, int)


def open_pty(rootfs: str) -> tuple[int, int]:
    """A pty of the container's own devpts instance (mounted at <rootfs>/dev/pts): (master,
    slave). Inside the container the slave is /dev/pts/N, as with runc's console socket."""
    import fcntl
    import struct

    pts = secure_join(rootfs, "/dev/pts")  # the image's /dev may be a symlink: stay inside it
    try:
        if os.stat(pts).st_dev == os.stat(os.path.dirname(pts)).st_dev:
            raise OSError(19, "the container's /dev/pts is not a devpts mount")
        master = os.open(os.path.join(pts, "ptmx"), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC | os.O_NOFOLLOW)
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
        slave = os.open(os.path.join(pts, str(number)), os.O_RDWR | os.O_NOCTTY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SetupError(f"allocating the container's terminal: {_why(exc)}") from None
    return master, slave


def prepare(spec: dict[str, Any], rootfs: str, bundle: str, cgroup: dict[str, Any],
            join: Callable[[], None] | None = None) -> None:
    """Everything before pivot_root (run in the new mount namespace), but the terminal: the
    caller sets up stdio (and with a terminal, :func:`console`) once /dev/pts is mounted.
    ``join``: see :func:`_cgroup_mount`."""
    try:
        mount("", "/", None, MS_REC | MS_PRIVATE)
        mount(rootfs, rootfs, None, MS_BIND | MS_REC)
        # Device nodes from an image (vfs, --rootfs) must not open host devices: /dev is a tmpfs of
        # its own, so the root can be nodev everywhere (the devices cgroup is not on every host).
        _remount_bind(rootfs, MS_NODEV)
    except OSError as exc:
        raise SetupError(f"rootfs {rootfs}: {_why(exc)}") from None
    dev_tmpfs = devpts = False
    for m in spec.get("mounts") or []:
        mount_one(rootfs, bundle, m, cgroup, join)
        dest = os.path.normpath("/" + m.get("destination", "").lstrip("/"))
        if dest == "/dev" and m.get("type") == "tmpfs":
            dev_tmpfs = True
        elif dest == "/dev/pts" and m.get("type") == "devpts":
            devpts = True
    linux = spec.get("linux") or {}
    make_devices(rootfs, linux.get("devices") or [], dev_tmpfs)
    if dev_tmpfs:
        dev_links(rootfs, devpts)


def write_sysctls(root: str, sysctl: dict[str, str]) -> None:
    """Write namespaced sysctls under ``root``'s /proc/sys (call it after pivot_root, root "/")."""
    for key, value in sysctl.items():
        path = os.path.join(root, "proc/sys", key.replace(".", "/"))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
            try:
                os.write(fd, str(value).encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise SetupError(f"sysctl {key}={value}: {_why(exc)}") from None


def pivot(rootfs: str) -> None:
    """pivot_root into ``rootfs``, then detach and remove the old root (it is unreachable after)."""
    import ctypes

    from .namespaces import libc

    nr = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if nr is None:
        raise SetupError(f"pivot_root: unknown syscall number on {os.uname().machine}")

    def pivot_root(new: str, old: str) -> None:
        if libc().syscall(ctypes.c_long(nr), new.encode(), old.encode()) != 0:
            err = ctypes.get_errno()
            raise SetupError(f"pivot_root {rootfs}: {os.strerror(err)}")

    name = f".capsa-oldroot-{os.getpid()}"
    try:
        os.mkdir(os.path.join(rootfs, name), 0o700)
    except OSError:  # a read-only rootfs: stack the old root on the new one instead
        os.chdir(rootfs)
        pivot_root(".", ".")
        umount(".", MNT_DETACH)
        os.chdir("/")
        return
    try:
        pivot_root(rootfs, os.path.join(rootfs, name))
    except SetupError:
        os.rmdir(os.path.join(rootfs, name))
        raise
    os.chdir("/")
    umount("/" + name, MNT_DETACH)
    os.rmdir("/" + name)


def finalize(spec: dict[str, Any]) -> None:
    """After pivot_root: masked paths, read-only paths, read-only root."""
    linux = spec.get("linux") or {}
    for path in linux.get("maskedPaths") or []:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                mount("tmpfs", path, "tmpfs", MS_RDONLY)
            else:
                mount("/dev/null", path, None, MS_BIND)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                continue
            raise SetupError(f"masking {path}: {_why(exc)}") from None
    for path in linux.get("readonlyPaths") or []:
        try:
            mount(path, path, None, MS_BIND | MS_REC)
            _remount_bind(path, MS_RDONLY)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                continue
            raise SetupError(f"read-only {path}: {_why(exc)}") from None
    if (spec.get("root") or {}).get("readonly"):
        try:
            _remount_bind("/", MS_RDONLY)
        except OSError as exc:
            raise SetupError(f"read-only root: {_why(exc)}") from None


def cgroup_mount_plan(cgroup: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """What B needs to mount /sys/fs/cgroup: on v1 the binds (dir name in the tmpfs -> the
    container's cgroup dir) and symlinks for co-mounted controllers; on v2 the cgroup dir."""
    if not any(m.get("type") == "cgroup" for m in spec.get("mounts") or []):
        return {}
    layout = cgroup.layout
    paths = cgroup.paths()
    cgroupns = any(n.get("type") == "cgroup" and not n.get("path")
                   for n in (spec.get("linux") or {}).get("namespaces") or [])
    if layout.mode == "unified":
        return {"version": "v2", "v2_path": paths.get(layout.v2_mount), "cgroupns": cgroupns}
    binds: dict[str, str] = {}
    links: dict[str, str] = {}
    for point, directory in paths.items():
        binds[os.path.basename(point.rstrip("/"))] = directory
    for controller, point in layout.v1_controllers.items():
        name = os.path.basename(point.rstrip("/"))
        if point in paths and controller != name and "=" not in controller:
            links[controller] = name
    return {"version": "v1", "binds": binds, "links": links}
