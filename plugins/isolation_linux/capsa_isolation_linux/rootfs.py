"""The container's filesystem view, built inside its own mount namespace (by the container process).

``prepare`` runs before pivot_root: propagation private, the rootfs bound onto itself, the
spec's mounts in order, device nodes, /dev symlinks and /dev/console. ``pivot`` swaps the root
(pivot_root, then the old root is detached: never chroot). ``finalize`` runs after it: masked
paths, read-only paths and a read-only root. Nothing here is visible outside the namespace, so a
failure leaves the host's mount table untouched.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable

from capsa.linux import MNT_DETACH, MS_BIND, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, \
    MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT, MS_STRICTATIME, mount, umount
from capsa.security.devices import DEFAULT_DEVICES

from .inroot import RootDir, fd_path
from .mounts import SetupError, bind, mount_one
from .mounts import why as _why

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

REMOUNT_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | \
    MS_STRICTATIME
DEV_LINKS = (("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"), ("/proc/self/fd/1", "/dev/stdout"),
             ("/proc/self/fd/2", "/dev/stderr"))
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "ppc64": 203, "s390x": 217,
                   "i686": 217, "armv7l": 218, "loongarch64": 41}


def _remount_bind(target: str, flags: int) -> None:
    """Apply ``flags`` (ro, nosuid, ...) to a bind mount: a bind ignores them at first mount."""
    keep = 0
    try:
        keep = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)  # ST_* == MS_* for these
    except OSError:
        pass
    mount("", target, None, MS_REMOUNT | MS_BIND | keep | (flags & REMOUNT_FLAGS))


def _remove_entry(parent: int, name: str) -> None:
    """Unlink ``name`` in the directory ``parent`` if it is there (not a directory)."""
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass


def make_devices(root: RootDir, devices: list[dict[str, Any]], dev_tmpfs: bool) -> None:
    listed = {d.get("path") for d in devices}
    wanted = list(devices)
    if dev_tmpfs:
        wanted += [{"path": p, "type": "c", "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
                   for p, ma, mi in DEFAULT_DEVICES if p not in listed]
    for dev in wanted:
        path = dev["path"]
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}.get(dev.get("type", "c"))
        if kind is None:
            raise SetupError(f"device {path}: unknown type {dev.get('type')!r}")
        mode = dev.get("fileMode", 0o666) & 0o7777
        try:
            parent, name = root.parent(path)
        except OSError as exc:
            raise SetupError(f"device {path}: {_why(exc)}") from None
        try:
            _remove_entry(parent, name)
            os.mknod(name, kind | mode, os.makedev(dev.get("major", 0), dev.get("minor", 0)), dir_fd=parent)
            os.chown(name, dev.get("uid", 0), dev.get("gid", 0), dir_fd=parent, follow_symlinks=False)
            os.chmod(name, mode, dir_fd=parent, follow_symlinks=False)
        except PermissionError:  # no CAP_MKNOD: bind the host's node at that path, if it is that device
            try:
                _bind_host_node(root, path, kind, os.makedev(dev.get("major", 0), dev.get("minor", 0)))
            except OSError as exc:
                raise SetupError(f"device {path}: cannot create nor bind it: {_why(exc)}") from None
        except OSError as exc:
            raise SetupError(f"device {path}: {_why(exc)}") from None
        finally:
            os.close(parent)


def _bind_host_node(root: RootDir, path: str, kind: int, rdev: int) -> None:
    """Bind the host's node at ``path`` onto ``path`` in the root, if it is the device (``kind``,
    ``rdev``): the node is opened once and that descriptor is checked and cloned (open_tree),
    so what is bound is what was checked."""
    node = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        host = os.fstat(node)
        if stat.S_IFMT(host.st_mode) != kind or host.st_rdev != rdev:
            raise OSError(f"the host's {path} is another device")
        target = root.target(path, False)
        try:
            bind(node, target, 0)
        finally:
            os.close(target)
    finally:
        os.close(node)


def dev_links(root: RootDir, devpts: bool) -> None:
    links = list(DEV_LINKS)
    if devpts:
        links.append(("pts/ptmx", "/dev/ptmx"))
    for src, dst in links:
        try:
            parent, name = root.parent(dst)
            try:
                if dst == "/dev/ptmx":
                    _remove_entry(parent, name)
                os.symlink(src, name, dir_fd=parent)
            except FileExistsError:
                pass
            finally:
                os.close(parent)
        except OSError as exc:
            raise SetupError(f"symlink {dst}: {_why(exc)}") from None


def console(rootfs: str) -> None:
    """Bind the terminal on fd 0 (the pty's slave end) to /dev/console."""
    try:
        tty = os.readlink("/proc/self/fd/0")  # ttyname() cannot name a pty of another devpts instance
        with RootDir(rootfs) as root:
            parent, name = root.parent("/dev/console")
            try:
                _remove_entry(parent, name)
            finally:
                os.close(parent)
            target = root.target("/dev/console", False)
            try:
                bind(tty, target, 0)
            finally:
                os.close(target)
    except OSError as exc:
        raise SetupError(f"/dev/console: {_why(exc)}") from None


TIOCGPTN = 0x80045430  # _IOR('T', 0x30, unsigned int): Python's termios lacks these two
TIOCSPTLCK = 0x40045431  # _IOW('T', 0x31, int)


def open_pty(rootfs: str) -> tuple[int, int]:
    """A pty of the container's own devpts instance (mounted at <rootfs>/dev/pts): (master,
    slave). Inside the container the slave is /dev/pts/N, as with runc's console socket."""
    import fcntl
    import struct

    try:
        with RootDir(rootfs) as root:  # the image's /dev may be a symlink: stay inside the rootfs
            pts = root.open("/dev/pts", os.O_PATH | os.O_DIRECTORY)
        try:
            if os.stat(pts).st_dev == os.stat("..", dir_fd=pts).st_dev:
                raise OSError(19, "the container's /dev/pts is not a devpts mount")
            master = os.open("ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=pts)
            fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
            number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
            slave = os.open(str(number), os.O_RDWR | os.O_NOCTTY | os.O_NOFOLLOW, dir_fd=pts)
        finally:
            os.close(pts)
    except OSError as exc:
        raise SetupError(f"allocating the container's terminal: {_why(exc)}") from None
    return master, slave


def prepare(spec: dict[str, Any], rootfs: str, bundle: str, cgroup: dict[str, Any],
            join: Callable[[], None] | None = None) -> None:
    """Everything before pivot_root (run in the new mount namespace), but the terminal: the
    caller sets up stdio (and with a terminal, :func:`console`) once /dev/pts is mounted.
    ``join``: see :func:`mounts._cgroup_mount`."""
    try:
        mount("", "/", None, MS_REC | MS_PRIVATE)
        mount(rootfs, rootfs, None, MS_BIND | MS_REC)
        # Device nodes from an image (vfs, --rootfs) must not open host devices: /dev is a tmpfs of
        # its own, so the root can be nodev everywhere (the devices cgroup is not on every host).
        _remount_bind(rootfs, MS_NODEV)
    except OSError as exc:
        raise SetupError(f"rootfs {rootfs}: {_why(exc)}") from None
    dev_tmpfs = devpts = False
    try:
        root = RootDir(rootfs)
    except OSError as exc:
        raise SetupError(f"rootfs {rootfs}: {_why(exc)}") from None
    with root:
        for m in spec.get("mounts") or []:
            mount_one(root, bundle, m, cgroup, join)
            dest = os.path.normpath("/" + m.get("destination", "").lstrip("/"))
            if dest == "/dev" and m.get("type") == "tmpfs":
                dev_tmpfs = True
            elif dest == "/dev/pts" and m.get("type") == "devpts":
                devpts = True
        linux = spec.get("linux") or {}
        make_devices(root, linux.get("devices") or [], dev_tmpfs)
        if dev_tmpfs:
            dev_links(root, devpts)


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
    """After pivot_root: masked paths, read-only paths, read-only root.

    Each masked or read-only path is looked up once (:meth:`RootDir.lookup`: its parents inside
    the root, its last component not followed) and the mount goes onto that descriptor. A path
    that is not there is skipped; one that is a symbolic link is refused: capsa masks or makes
    read-only what is at the path, never what a link (which the image chose) points at."""
    linux = spec.get("linux") or {}
    masked, read_only = linux.get("maskedPaths") or [], linux.get("readonlyPaths") or []
    if masked or read_only:
        with RootDir("/") as root:
            null = -1
            try:
                for path in masked:
                    fd = _lookup(root, path, "masking")
                    if fd < 0:
                        continue
                    try:
                        if stat.S_ISDIR(os.fstat(fd).st_mode):
                            mount("tmpfs", fd_path(fd), "tmpfs", MS_RDONLY)
                        else:
                            if null < 0:
                                null = _null_device(root)
                            bind(null, fd, 0)
                    except OSError as exc:
                        raise SetupError(f"masking {path}: {_why(exc)}") from None
                    finally:
                        os.close(fd)
            finally:
                if null >= 0:
                    os.close(null)
            for path in read_only:
                fd = _lookup(root, path, "read-only")
                if fd < 0:
                    continue
                try:
                    bind(fd, fd, MS_BIND | MS_REC | MS_RDONLY)  # read-only with every mount below it
                except OSError as exc:
                    raise SetupError(f"read-only {path}: {_why(exc)}") from None
                finally:
                    os.close(fd)
    if (spec.get("root") or {}).get("readonly"):
        try:
            _remount_bind("/", MS_RDONLY)
        except OSError as exc:
            raise SetupError(f"read-only root: {_why(exc)}") from None


def _lookup(root: RootDir, path: str, what: str) -> int:
    """An O_PATH fd of ``path`` for :func:`finalize`; -1 if it is not there, SetupError if it
    is a symbolic link or cannot be looked up."""
    try:
        fd = root.lookup(path)
    except FileNotFoundError:
        return -1
    except OSError as exc:
        raise SetupError(f"{what} {path}: {_why(exc)}") from None
    if stat.S_ISLNK(os.fstat(fd).st_mode):
        os.close(fd)
        raise SetupError(f"{what} {path}: it is a symbolic link in the container (capsa does not follow it)")
    return fd


def _null_device(root: RootDir) -> int:
    """An O_PATH fd of the container's /dev/null, checked to be the null device (1:3)."""
    try:
        fd = root.lookup("/dev/null")
    except OSError as exc:
        raise SetupError(f"masking: /dev/null: {_why(exc)}") from None
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise SetupError("masking: the container's /dev/null is not the null device")
    return fd


def cgroup_mount_plan(cgroup: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """What the container process needs to mount /sys/fs/cgroup: on v1 the binds (dir name in the tmpfs -> the
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
