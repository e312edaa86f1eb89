"""``cp`` (also ``container cp``): files and directories between a container and the host, or
between two containers, for running and stopped containers alike, with docker's destination
rules; ``-`` streams a tar archive from stdin or to stdout.

Each container is pinned as ``export`` pins it (its lock taken shared, so no ``rm`` comes
meanwhile, and its layer mounted, a reference released afterwards: a stopped container's layer
is mounted for the copy only). Its paths are resolved by :class:`capsa.container.cproot.ContainedRoot`
(inside its root and its mounts, never on the host) and copied by :mod:`capsa.container.cptree`.
"""
from __future__ import annotations

import os
import stat

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextlib import ExitStack
    from typing import BinaryIO

    from capsa.container.cproot import ContainedRoot, Found, MountSource
    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session


class CopyError(CapsaError):
    """A ``cp`` path that is missing or of the wrong kind."""


def parse_location(arg: str) -> tuple[str | None, str]:
    """podman's reading of a ``cp`` argument: ``CONTAINER:PATH``, else a host path (one that
    starts with ``/`` or ``.``, or has no ``:``)."""
    if ":" not in arg or arg.startswith(("/", ".")):
        return None, arg
    name, _, path = arg.partition(":")
    return name, path


_PSEUDO = ("proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue")


def _mounts(sess: Session, config: ContainerConfig, live: bool, pseudo: set[str] | None = None) -> list[MountSource]:
    """The container's bind mounts and volumes: while it runs, those of its bundle (only to know
    which are read-only: the kernel crosses the real ones), else from its record, each source
    as the next start would bind it (a volume that is gone is an error: nothing is created)."""
    from capsa.container.cproot import MountSource

    records = container_records(sess)
    found: list[MountSource] = []
    pseudo = set() if pseudo is None else pseudo
    if live:
        from capsa.fastpath.jsonio import loads

        try:
            with open(records.run_dir(config.id, "bundle", "config.json"), "rb") as fh:
                spec = loads(fh.read())
        except (OSError, ValueError):
            spec = {}
        for m in spec.get("mounts") or []:
            if m.get("type") in _PSEUDO:
                pseudo.add(os.path.normpath(str(m.get("destination", "/"))).strip("/"))
            if str(m.get("destination", "")).startswith("/"):
                found.append(MountSource(os.path.normpath(m["destination"]).strip("/"), str(m.get("source", "")),
                                         "ro" in (m.get("options") or [])))
        return found
    from capsa.container.volumes import VolumeStore

    root = sess.config.root
    for m in config.mounts:
        if m.type not in ("bind", "volume") or not m.destination.startswith("/"):
            continue
        if m.type == "volume":
            try:
                source = str(VolumeStore(root).record(m.source)["Mountpoint"])
            except CapsaError:
                raise CopyError(f"volume {m.source} of container {config.name} does not exist",
                                hint="create it again (capsa volume create) or remove the container") from None
        else:
            source = m.source
        if os.path.exists(source):
            found.append(MountSource(os.path.normpath(m.destination).strip("/"), source, "ro" in m.options))
    return found


def _live_root(sess: Session, config: ContainerConfig) -> int | None:
    """An fd of a running container's own root (its process's ``/proc/PID/root``, checked with a
    pidfd), or None when it is not running."""
    from capsa.container.cproot import open_live_root
    from capsa.engine.containers import is_running

    if not is_running(sess, config):
        return None
    records = container_records(sess)
    state = records.state(config.id)
    if not state.pid or state.pid <= 0:  # (its monitor is between two runs: restarting, stopping)
        raise UsageError(f"container {config.name} is {state.status}: its processes come and go",
                         hint="try again once it is running or stopped")
    pid = state.pid
    from capsa.container.isodriver import isolation_driver

    driver = isolation_driver(sess, config)
    try:
        fd = open_live_root(pid, lambda p: p in driver.processes(config.id))
    except (OSError, CapsaError):  # (it exited meanwhile, or the pid is not its own any more)
        raise UsageError(f"container {config.name} stopped while cp looked at it",
                         hint="try again: a stopped container is copied to and from its layer") from None
    if records.state(config.id).pid != pid or not is_running(sess, config):  # (the pid is still its own)
        os.close(fd)
        raise UsageError(f"container {config.name} stopped while cp looked at it",
                         hint="try again: a stopped container is copied to and from its layer")
    return fd


def _lookup(sess: Session, ref: str) -> ContainerConfig:
    from capsa.container.records import ContainerNotFound

    try:
        return container_records(sess).find(ref)
    except ContainerNotFound:
        raise ContainerNotFound(f'container "{ref}" does not exist', hint="see 'capsa ps -a'") from None


def _open_container(sess: Session, config: ContainerConfig, stack: ExitStack) -> ContainedRoot:
    """The container pinned (see :func:`capsa.engine.containerfs.pin`) and its contained root."""
    from capsa.container.cproot import ContainedRoot
    from capsa.engine.containerfs import pin

    layer_root = pin(sess, config, stack)
    live = _live_root(sess, config)
    if live is not None:
        pseudo: set[str] = set()
        try:
            mounts = _mounts(sess, config, True, pseudo)
        except BaseException:
            os.close(live)
            raise
        contained = ContainedRoot(live, mounts, readonly=config.read_only, name=config.name, live=True)
        contained.pseudo = frozenset(pseudo)
    else:
        contained = ContainedRoot(layer_root, _mounts(sess, config, False), readonly=config.read_only, name=config.name)
    stack.callback(contained.close)
    return contained


def _owner(sess: Session, config: ContainerConfig, root: ContainedRoot) -> tuple[int, int]:
    """The container's primary uid:gid (its ``--user``, else its image's), read from its own
    /etc/passwd through ``root`` (podman's ``cp --archive``)."""
    from capsa.container.userinfo import resolve_user

    spec = config.user
    if not spec and config.image_id:
        store = open_store(sess)
        with store.reading():
            image = store.config_of(store.image_by_id(config.image_id))
        inner = image.get("config") if isinstance(image.get("config"), dict) else image
        spec = str((inner or {}).get("User") or "")
    try:
        user = resolve_user("/", spec, read=root.read_text)
    except UsageError:
        return 0, 0
    return user.uid, user.gid


def _find(root: ContainedRoot, path: str, what: str) -> Found:
    try:
        return root.find(path)
    except OSError as exc:
        raise CopyError(f'"{path}" could not be found on container {root.name}: {exc.strerror}',
                        hint=f"check the path: capsa exec {root.name} ls, or capsa export") from None


def _host_found(path: str) -> tuple[int, str, os.stat_result | None]:
    """(parent dir fd, name, stat or None) of a host path, its last symlink followed."""
    real = os.path.realpath(path)
    parent, name = os.path.split(real)
    try:
        fd = os.open(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise CopyError(f'"{path}" could not be found on the host: {(exc.strerror or str(exc)).lower()}',
                        hint="its parent directory must exist") from None
    try:
        st = os.stat(name or ".", dir_fd=fd, follow_symlinks=False) if name else os.stat(fd)
    except FileNotFoundError:
        st = None
    return fd, name, st


def copy(sess: Session, source: str, dest: str, archive: bool = True, overwrite: bool = False,
         stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """``cp SOURCE DEST``: see the module docstring. ``stdin``/``stdout`` are the streams ``-``
    means. Bad input raises before anything is written."""
    try:
        _copy(sess, source, dest, archive, overwrite, stdin, stdout)
    except OSError as exc:
        if exc.errno in (28, 122):  # ENOSPC, EDQUOT
            raise CopyError("no space left on device while copying", hint="free space and copy again") from exc
        what = f" {exc.filename!r}" if exc.filename else ""
        raise CopyError(f"copying {source} to {dest}: {exc.strerror or exc}{what}",
                        hint="an entry changed or could not be written meanwhile") from exc


def _copy(sess: Session, source: str, dest: str, archive: bool, overwrite: bool,
          stdin: BinaryIO | None, stdout: BinaryIO | None) -> None:
    from contextlib import ExitStack

    from capsa.container.cptree import Copier, Side

    scont, spath = parse_location(source)
    dcont, dpath = parse_location(dest)
    if scont is None and dcont is None:
        raise UsageError(f'invalid arguments "{source}", "{dest}": no container given',
                         hint="capsa cp [CONTAINER:]SRC_PATH [CONTAINER:]DEST_PATH")
    if not spath or not dpath:
        raise UsageError(f'invalid arguments "{source}", "{dest}": you must specify paths',
                         hint="capsa cp [CONTAINER:]SRC_PATH [CONTAINER:]DEST_PATH")
    if scont is not None and not scont or dcont is not None and not dcont:
        raise UsageError("no container name given before ':'", hint="capsa cp CONTAINER:PATH DEST")
    if source == "-" and dest == "-":
        raise UsageError("invalid arguments - and - both stdin and stdout", hint="one side must be a path")
    with ExitStack() as stack:
        src_root = dst_root = None
        sconfig = _lookup(sess, scont) if scont is not None else None
        dconfig = _lookup(sess, dcont) if dcont is not None else None
        opened: dict[str, ContainedRoot] = {}
        for config in sorted((c for c in (sconfig, dconfig) if c is not None), key=lambda c: c.id):
            opened[config.id] = opened.get(config.id) or _open_container(sess, config, stack)  # (locks by id)
        if sconfig is not None:
            src_root = opened[sconfig.id]
        if dconfig is not None:
            dst_root = opened[dconfig.id]
        if source == "-":
            assert dst_root is not None and dconfig is not None and stdin is not None
            return _from_stream(sess, dconfig, dst_root, dpath, stdin, archive)
        if dest == "-":
            assert src_root is not None and stdout is not None
            return _to_stream(src_root, spath, stdout)
        # the source
        if src_root is not None:
            found = _find(src_root, spath, "source")
            sparent, sname, sst, scanon = found.parent, found.name, found.st, found.canon
            if sst is None:
                raise CopyError(f'"{spath}" could not be found on container {src_root.name}: no such file or directory',
                                hint="check the path (capsa diff or capsa export show what is there)")
        else:
            sparent, sname, sst = _host_found(spath)
            stack.callback(os.close, sparent)
            scanon = None
            if sst is None:
                raise CopyError(f'"{spath}" could not be found on the host: no such file or directory',
                                hint="check the path")
        src_dir = stat.S_ISDIR(sst.st_mode)
        if spath.endswith("/") and not src_dir:
            raise CopyError(f"{spath!r} is not a directory", hint="leave out the trailing '/' to copy a file")
        contents = spath.endswith("/.") or spath in (".", "/") or (src_root is not None and not scanon)
        # the destination
        if dst_root is not None:
            dfound = _find(dst_root, dpath, "destination")
            dparent, dname, dst, dcanon = dfound.parent, dfound.name, dfound.st, dfound.canon
            if dfound.readonly:
                raise UsageError(f"cannot copy into {dpath!r} on container {dst_root.name}: it is read-only",
                                 hint="the container's root or that mount is read-only")
        else:
            dparent, dname, dst = _host_found(dpath)
            stack.callback(os.close, dparent)
            dcanon = None
        dst_is_dir = dst is not None and stat.S_ISDIR(dst.st_mode)
        where = f"on container {dst_root.name}" if dst_root is not None else "on the host"
        if dst is None and dpath.endswith("/"):  # (podman: always, a directory source too)
            raise CopyError(f'"{dpath}" could not be found {where}: no such file or directory',
                            hint="the destination directory must exist")
        if dst is not None and not dst_is_dir and dpath.endswith("/"):
            raise CopyError(f"{dpath!r} is not a directory {where}", hint="give a directory, or leave out the '/'")
        if dst is not None and not dst_is_dir and src_dir:
            raise CopyError("destination must be a directory when copying a directory",
                            hint=f"{dpath} {where} is not a directory")
        # named after what the source resolved to (podman: a symlink's target's base name)
        base = (scanon.rpartition("/")[2] if scanon is not None else sname) or os.path.basename(os.path.normpath(spath))
        if base in ("", ".", ".."):
            base = sname
        target = dcanon
        if dst_is_dir and not (src_dir and contents) and dcanon is not None:
            target = _child(dcanon, base)
        if src_root is not None and dst_root is not None and sconfig.id == dconfig.id and src_dir and \
                (target == scanon or target.startswith(f"{scanon}/") or dcanon.startswith(f"{scanon}/")  # type: ignore[union-attr]
                 or dcanon == scanon or not scanon):
            raise CopyError(f"cannot copy {spath} into itself ({dpath})", hint="give a destination outside the source")
        owner: tuple[int, int] | None = None
        if dst_root is not None:
            if archive:
                owner = _owner(sess, dconfig, dst_root)
        else:
            owner = (os.getuid(), os.getgid())  # (podman: what is copied out belongs to the caller)
        copier = Copier(Side(src_root, src_root.pseudo if src_root is not None else frozenset()), Side(dst_root),
                        owner, overwrite)
        stack.callback(copier.close)
        if dst_is_dir:
            inside = _dir_of(dst_root, dparent, dname, dcanon, stack)
            if src_dir and contents:
                copier.copy(sparent, sname, scanon, inside, "", dcanon, contents=True, st=sst)
            else:
                copier.copy(sparent, sname, scanon, inside, base, _child(dcanon, base), st=sst)
        elif dst is not None and not src_dir and dst_root is not None and dcanon in dst_root.mounts:
            copier.into_file(sparent, sname, dst_root.mounts[dcanon].source)  # (a file bind mount)
        else:
            copier.copy(sparent, sname, scanon, dparent, dname, dcanon, st=sst)
    return None


def _child(canon: str | None, name: str) -> str | None:
    if canon is None:
        return None
    return f"{canon}/{name}" if canon else name


def _dir_of(root: ContainedRoot | None, parent: int, name: str, canon: str | None, stack: ExitStack) -> int:
    """An O_PATH fd of the existing directory ``name`` in ``parent`` (a mount's source in a
    container), closed by ``stack`` (or owned by ``root``)."""
    if root is not None and canon is not None:
        return root.dir_fd(canon, parent, name) if canon else root.root
    fd = os.open(name or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=parent)
    stack.callback(os.close, fd)
    return fd


def _to_stream(root: ContainedRoot, path: str, out: BinaryIO) -> None:
    """``cp CONTAINER:PATH -``: a tar of what ``path`` is, named by its base name (its contents
    for ``/`` or a path ending in ``/.``)."""
    from contextlib import ExitStack

    from capsa.store.tarstream import out_of_space
    from capsa.store.treetar import write_entry_tar

    found = _find(root, path, "source")
    if found.st is None:
        raise CopyError(f'"{path}" could not be found on container {root.name}: no such file or directory',
                        hint="check the path")
    name, parent = found.name, found.parent
    if path.endswith("/.") or not found.canon:
        parent, name = root.dir_fd(found.canon, found.parent, found.name) if found.canon else root.root, ""
    base = os.path.basename(os.path.normpath(path)) or name
    prefix = f"{base}/" if name else ""
    below = f"{found.canon}/" if found.canon else ""
    mounts = {prefix + dest[len(below):]: m.source for dest, m in root.mounts.items()
              if dest.startswith(below) and dest != found.canon and os.path.isdir(m.source)}
    mount = root.mounts.get(found.canon)
    with ExitStack() as stack:
        if root.pseudo:  # (a running container's /proc, /sys...: their mountpoints, empty)
            import tempfile

            empty = tempfile.mkdtemp(prefix="capsa-cp-")
            stack.callback(os.rmdir, empty)
            for dest in root.pseudo:
                if dest.startswith(below) and dest != found.canon:
                    mounts[prefix + dest[len(below):]] = empty
        if name and mount is not None and found.is_dir:  # (the mount's own directory: its contents)
            mounts[base] = mount.source
            try:
                os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:  # (no mountpoint in the layer: the source's own entry)
                parent = os.open(os.path.dirname(mount.source) or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                stack.callback(os.close, parent)
                name = os.path.basename(mount.source)
        with out_of_space("writing the copied files", hint="free space where the archive is written"):
            write_entry_tar(out, parent, name, base, mounts)
    out.flush()


def _from_stream(sess: Session, config: ContainerConfig, root: ContainedRoot, path: str, stream: BinaryIO,
                 archive: bool) -> None:
    """``cp - CONTAINER:DIR``: extract a tar from ``stream`` into the existing directory
    ``path``, with the layer extractor's rules (nothing leaves that directory)."""
    from capsa.store.tarextract import extract_layer

    found = _find(root, path, "destination")
    if not found.is_dir:
        raise CopyError("destination must be a directory when copying from stdin" if found.st is not None
                        else f'"{path}" could not be found on container {root.name}: no such file or directory',
                        hint="when copying from stdin, the destination must be an existing directory")
    if found.readonly:
        raise UsageError(f"cannot copy into {path!r} on container {root.name}: it is read-only",
                         hint="the container's root or that mount is read-only")
    fd = root.dir_fd(found.canon, found.parent, found.name) if found.canon else root.root
    stream = _tar_or_refuse(stream)
    owner = _owner(sess, config, root) if archive else None
    extract_layer(stream, f"/proc/self/fd/{fd}", whiteouts="none", same_owner=True, owner=owner)


def _tar_or_refuse(stream: BinaryIO) -> BinaryIO:
    """``stream`` with nothing lost when it starts like a tar archive, plain or compressed;
    else podman's one-line refusal, before anything is written."""
    import tarfile

    from capsa.store.compression import Prefixed, sniffed

    kind, stream = sniffed(stream)
    if kind != "none":
        return stream
    head = b""
    while len(head) < tarfile.BLOCKSIZE and (more := stream.read(tarfile.BLOCKSIZE - len(head))):
        head += more
    try:
        tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        raise UsageError("source must be a (compressed) tar archive when copying from stdin",
                         hint="give a tar archive on stdin (tar -c ... | capsa cp - CONTAINER:DIR)") from None
    return Prefixed(head, stream)  # type: ignore[return-value]
