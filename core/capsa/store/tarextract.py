"""Layer extraction that cannot escape the layer root.

``extract_layer`` applies one layer tar (plain, gzip, zstd, xz or bzip2) to a directory. tarfile
only parses headers, from the forward-only hashed stream of ``capsa.store.tarstream`` (which
also gives the diff_id); every path is resolved with directory fds (openat style) under the root
by ``capsa.store.safepath``: member names lose leading ``/`` and ``./`` (absolute names land
inside, like GNU tar), ``..`` in a member name or hardlink target is rejected; symlinks met in
*parent* components are followed with chroot semantics (absolute targets restart at the root,
``..`` stops there, at most 40 links), like openat2's RESOLVE_IN_ROOT; the final component is
never followed: what is there is unlinked (a directory removed fd-relative) and the new entry
made with O_EXCL/O_NOFOLLOW. A hardlink target must already exist inside the layer; a symlink
target is only a string.

Whiteouts (OCI): ``overlay`` makes ``.wh.NAME`` a 0:0 character device and ``.wh..wh..opq``
the xattr ``trusted.overlay.opaque=y``; ``apply`` deletes (an opaque directory loses whatever
this archive did not write). A whiteout never hides what the same archive wrote (OCI: it
applies to parent layers only); aufs metadata (``.wh..wh.*`` but the opaque marker) is skipped.
Ownership is numeric. xattrs come from pax ``SCHILY.xattr.*``/``LIBARCHIVE.xattr.*``; failing
to set one is an error except EPERM/EACCES for ``security.*``/``trusted.*`` (unprivileged) and
EPERM for ``user.*`` on symlinks and devices (never allowed by the kernel); overlayfs's private
``trusted.overlay.*``/``user.overlay.*`` in an archive are rejected.

Every failure is ArchiveError (StorageError for an unusable ``dest``, and for ENOSPC/EDQUOT:
"no space left on device while extracting ..."); fds and the reader thread are released and
the partial layer is left for the caller to discard. A pax or GNU long-name header over 1 MiB
is refused before it is read (``capsa.store.tarstream.BoundedTarInfo``). ``decompressed`` is
re-exported from ``capsa.store.compression`` for existing importers.
"""
from __future__ import annotations

import binascii
import errno
import os
import shutil
import stat
import tarfile
from base64 import b64decode
from collections.abc import Callable
from typing import BinaryIO, Literal, TypeVar
from urllib.parse import unquote

from capsa.errors import ArchiveError, StorageError
from capsa.fastpath.record import record
from capsa.store.safepath import Resolver, join_path, split_member_path
from capsa.store.tarstream import (OPAQUE, WHITEOUT, BoundedTarInfo, HashingReader, TarSource, corrupt, decompressed,
                                   no_space)

__all__ = ["OPAQUE", "WHITEOUT", "ExtractResult", "decompressed", "extract_layer"]

_AUFS_META = ".wh..wh."
_READ_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                    tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE})
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
_T = TypeVar("_T")


@record
class ExtractResult:
    """What one extraction wrote."""

    diff_id: str  # "sha256:<hex>" of the uncompressed tar bytes
    size: int  # total bytes of regular file contents written
    entries: int  # tar members processed (pax and long-name headers not counted)


class _TarInfo(BoundedTarInfo):
    """Records why header parsing stopped: tarfile takes a bad header after the first for the end."""

    archive = "the layer archive"

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.HeaderError as exc:  # the outermost (last recorded) wins
            tarfile_.capsa_end = exc  # type: ignore[attr-defined]
            raise


def _ns(value: str | None) -> int | None:
    """A pax time ("1700000000.123456789") in ns, exactly; None if absent or malformed."""
    text = (value or "").strip()
    whole, _, frac = text.lstrip("+-").partition(".")
    if not text or not text.isascii() or not (whole or "0").isdigit() or not (frac or "0").isdigit():
        return None
    return (-1 if text.startswith("-") else 1) * (int(whole or "0") * 10**9 + int((frac + "0" * 9)[:9]))


def _times(m: tarfile.TarInfo) -> tuple[int, int]:
    """(atime, mtime) in ns, with pax precision when present; atime defaults to mtime."""
    mtime = _ns(m.pax_headers.get("mtime"))
    mtime = int(m.mtime * 10**9) if mtime is None else mtime
    atime = _ns(m.pax_headers.get("atime"))
    return (mtime if atime is None else atime), mtime


def _xattrs(m: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    found = []
    for key, value in m.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name, data = key[13:], value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            name = unquote(key[17:])
            try:
                data = b64decode(value + "=" * (-len(value) % 4))
            except (binascii.Error, ValueError):
                raise ArchiveError(f"member {m.name!r} has a malformed xattr {name!r}") from None
        else:
            continue
        if "." not in name.strip("."):
            raise ArchiveError(f"member {m.name!r} has an invalid xattr name {name!r}")
        if name.startswith(_OVERLAY_XATTRS):
            raise ArchiveError(f"member {m.name!r} carries overlayfs's private xattr {name}",
                               hint="the image is malformed or hostile; it was not extracted")
        found.append((name, data))
    return found


class _Extractor:
    """Applies members one by one; remembers what this archive wrote (``kept``: those paths
    and their parents) and the directory modes and times still to set."""

    def __init__(self, dest: str | os.PathLike[str], overlay: bool, same_owner: bool, plain: bool = False,
                 owner: tuple[int, int] | None = None) -> None:
        try:
            self.root = os.open(dest, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise StorageError(f"cannot extract a layer into {os.fspath(dest)!r}: {exc.strerror}") from exc
        self.kept: set[str] = set()
        self.paths = Resolver(self.root, self._keep, "\0" if plain else WHITEOUT)
        self.overlay, self.same_owner, self.plain, self.owner = overlay, same_owner or owner is not None, plain, owner
        self.dirmeta: dict[str, tuple[int, int, int]] = {}  # canonical path -> mode, atime, mtime
        self.size = self.entries = 0

    def close(self) -> None:
        self.paths.close()
        os.close(self.root)

    def _keep(self, canon: str) -> None:
        while canon not in self.kept:
            self.kept.add(canon)
            if not canon:
                break
            canon = canon.rpartition("/")[0]

    def add(self, m: tarfile.TarInfo, source: TarSource) -> None:
        """Apply one member whose data (if any) is next in ``source``."""
        self.entries += 1
        self.paths.trim()
        if self.owner is not None:
            m.uid, m.gid = self.owner
        try:
            self._add(m, source)
        except OSError as exc:
            if (full := no_space(exc, f"extracting {m.name!r}")) is not None:
                raise full from exc
            raise ArchiveError(f"cannot extract {m.name!r}: {exc.strerror or exc}") from exc
        except (OverflowError, ValueError) as exc:  # ids, times or device numbers out of range
            raise ArchiveError(f"cannot extract {m.name!r}: {exc}") from exc

    def _add(self, m: tarfile.TarInfo, source: TarSource) -> None:
        if m.type not in _KINDS or m.sparse is not None:
            kind = "a sparse file" if m.sparse is not None else f"of unsupported type {m.type.decode('latin-1')!r}"
            raise ArchiveError(f"member {m.name!r} is {kind}", hint="capsa cannot extract this layer")
        parts = split_member_path(m.name, "member")
        if self.plain:
            return self._member(m, parts, source)
        if any(p.startswith(WHITEOUT) for p in parts[:-1]):
            if parts[0].startswith(_AUFS_META):
                return  # inside aufs metadata (.wh..wh.plnk/...)
            raise ArchiveError(f"member {m.name!r} puts a whiteout name in a directory position")
        base = parts[-1] if parts else ""
        if base == OPAQUE:
            return self._opaque(m, parts[:-1])
        if base.startswith(WHITEOUT):
            return None if base.startswith(_AUFS_META) else self._whiteout(m, parts[:-1], base[len(WHITEOUT):])
        return self._member(m, parts, source)

    def _member(self, m: tarfile.TarInfo, parts: list[str], source: TarSource) -> None:
        base = parts[-1] if parts else ""
        if not parts:
            if not m.isdir():
                raise ArchiveError(f"member {m.name!r} names the layer root but is not a directory")
            return self._directory(m, self.root, ".", "", _xattrs(m))
        xattrs = _xattrs(m)
        pfd, pcanon = self.paths.dir(parts[:-1], True, m.name)  # type: ignore[misc]
        canon = join_path(pcanon, base)
        if m.isreg():
            fd = self._make(pfd, base, canon, lambda: os.open(base, _NEW_FILE, 0o600, dir_fd=pfd))
            try:
                source.copy(fd, m.size)
                self.size += m.size
                if self.same_owner:
                    os.fchown(fd, m.uid, m.gid)
                os.fchmod(fd, m.mode & 0o7777)  # after chown, which clears setuid
                for key, value in xattrs:
                    self._setxattr(m, fd, key, value)
                os.utime(fd, ns=_times(m))
            finally:
                os.close(fd)
        elif m.isdir():
            try:
                os.mkdir(base, 0o700, dir_fd=pfd)
            except FileExistsError:  # merge with a directory; replace anything else
                if not stat.S_ISDIR(os.stat(base, dir_fd=pfd, follow_symlinks=False).st_mode):
                    self._remove(pfd, base, canon)
                    os.mkdir(base, 0o700, dir_fd=pfd)
            self._directory(m, pfd, base, canon, xattrs)
        elif m.islnk():
            self._hardlink(m, pfd, base, canon)
        else:
            if m.issym():
                if not m.linkname:
                    raise ArchiveError(f"symlink {m.name!r} has an empty target")
                self._make(pfd, base, canon, lambda: os.symlink(m.linkname, base, dir_fd=pfd))
            elif m.isfifo():
                self._make(pfd, base, canon, lambda: os.mkfifo(base, 0o600, dir_fd=pfd))
            else:
                kind, dev = stat.S_IFCHR if m.ischr() else stat.S_IFBLK, os.makedev(m.devmajor, m.devminor)
                self._make(pfd, base, canon, lambda: os.mknod(base, kind | 0o600, dev, dir_fd=pfd))
            self._special(m, pfd, base, xattrs)
        self._keep(canon)
        return None

    def _make(self, pfd: int, name: str, canon: str, make: Callable[[], _T]) -> _T:
        """``make()`` the new entry; whatever is already there is removed first (never followed)."""
        try:
            return make()
        except FileExistsError:
            self._remove(pfd, name, canon)
            return make()

    def _remove(self, pfd: int, name: str, canon: str, mode: int | None = None) -> None:
        if mode is None:
            try:
                mode = os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                return
        if stat.S_ISDIR(mode):
            self.paths.forget(canon)
            shutil.rmtree(name, dir_fd=pfd)  # fd-relative, never follows symlinks
            for key in [k for k in self.dirmeta if k == canon or k.startswith(canon + "/")]:
                del self.dirmeta[key]
        else:
            os.unlink(name, dir_fd=pfd)
            if stat.S_ISLNK(mode):
                self.paths.forget(None)

    def _directory(self, m: tarfile.TarInfo, pfd: int, name: str, canon: str,
                   xattrs: list[tuple[str, bytes]]) -> None:
        """Owner and xattrs now; mode and times in ``finish`` (later writes would undo them)."""
        fd = os.open(name, _READ_DIR, dir_fd=pfd)
        try:
            if self.same_owner:
                os.fchown(fd, m.uid, m.gid)
            for key, value in xattrs:
                self._setxattr(m, fd, key, value)
        finally:
            os.close(fd)
        self.dirmeta[canon] = (m.mode & 0o7777, *_times(m))
        self._keep(canon)

    def _special(self, m: tarfile.TarInfo, pfd: int, name: str, xattrs: list[tuple[str, bytes]]) -> None:
        """Metadata of a symlink, device or fifo, by name and never through a symlink."""
        if self.same_owner:
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        if not m.issym():
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            try:
                if stat.S_ISLNK(os.fstat(fd).st_mode):
                    raise ArchiveError(f"cannot extract {m.name!r}: it was replaced by a symlink")
                os.chmod(f"/proc/self/fd/{fd}", m.mode & 0o7777)  # the inode O_PATH holds
            finally:
                os.close(fd)
        for key, value in xattrs:
            self._setxattr(m, f"/proc/self/fd/{pfd}/{name}", key, value)
        os.utime(name, ns=_times(m), dir_fd=pfd, follow_symlinks=False)

    def _setxattr(self, m: tarfile.TarInfo, target: int | str, key: str, value: bytes) -> None:
        try:
            if isinstance(target, int):
                os.setxattr(target, key, value)
            else:
                os.setxattr(target, key, value, follow_symlinks=False)
        except OSError as exc:
            space = key.partition(".")[0]
            if exc.errno in (errno.EPERM, errno.EACCES) and space in ("security", "trusted"):
                return
            if exc.errno == errno.EPERM and space == "user" and not (m.isreg() or m.isdir()):
                return
            raise ArchiveError(f"cannot set xattr {key} on {m.name!r}: {exc.strerror}") from exc

    def _hardlink(self, m: tarfile.TarInfo, pfd: int, base: str, canon: str) -> None:
        """Link ``base`` to the existing target, never following it (a link to itself is kept)."""
        parts = split_member_path(m.linkname, f"hardlink {m.name!r} target")
        found = self.paths.dir(parts[:-1], False, m.name) if parts else None
        try:
            tmode = os.stat(parts[-1], dir_fd=found[0], follow_symlinks=False).st_mode if found else 0
        except FileNotFoundError:
            tmode = 0
        if not tmode:
            raise ArchiveError(f"hardlink {m.name!r} points at {m.linkname!r}, which is not in the layer")
        if stat.S_ISDIR(tmode):
            raise ArchiveError(f"hardlink {m.name!r} points at directory {m.linkname!r}")
        tfd, tcanon = found[0], join_path(found[1], parts[-1])  # type: ignore[index]
        if tcanon.startswith(canon + "/"):
            raise ArchiveError(f"hardlink {m.name!r} would remove its own target {m.linkname!r}")
        if tcanon != canon:
            self._make(pfd, base, canon,
                       lambda: os.link(parts[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False))

    def _whiteout(self, m: tarfile.TarInfo, dirparts: list[str], target: str) -> None:
        if target in ("", ".", ".."):
            raise ArchiveError(f"member {m.name!r} is not a valid whiteout")
        found = self.paths.dir(dirparts, self.overlay, m.name)
        if found is None:
            return  # apply: nothing there to delete
        pfd, canon = found[0], join_path(found[1], target)
        if not self.overlay:
            self._prune(pfd, target, canon)
        elif canon not in self.kept:
            self._make(pfd, target, canon, lambda: os.mknod(target, stat.S_IFCHR, 0, dir_fd=pfd))
            if self.same_owner:
                os.chown(target, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)

    def _opaque(self, m: tarfile.TarInfo, dirparts: list[str]) -> None:
        found = self.paths.dir(dirparts, self.overlay, m.name)
        if found is None:
            return
        fd = os.open(".", _READ_DIR, dir_fd=found[0])
        try:
            if self.overlay:
                os.setxattr(fd, "trusted.overlay.opaque", b"y")
                self._keep(found[1])
            else:
                self._prune_children(fd, found[1])
        finally:
            os.close(fd)

    def _prune(self, pfd: int, name: str, canon: str) -> None:
        """Delete what is at ``canon``, except (recursively) what this archive wrote."""
        try:
            mode = os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return
        if canon not in self.kept:
            self._remove(pfd, name, canon, mode)
        elif stat.S_ISDIR(mode):
            fd = os.open(name, _READ_DIR, dir_fd=pfd)
            try:
                self._prune_children(fd, canon)
            finally:
                os.close(fd)

    def _prune_children(self, fd: int, canon: str) -> None:
        for child in os.listdir(fd):
            self._prune(fd, child, join_path(canon, child))

    def finish(self) -> None:
        """Directory modes and times, deepest first (the root last)."""
        for canon in sorted(self.dirmeta, key=lambda c: c.count("/") if c else -1, reverse=True):
            self.paths.trim()
            parent, _, name = canon.rpartition("/")
            try:
                found = self.paths.dir(parent.split("/") if parent else [], False, canon)
                fd = os.open(name or ".", _READ_DIR, dir_fd=found[0])  # type: ignore[index]
                try:
                    os.fchmod(fd, self.dirmeta[canon][0])
                    os.utime(fd, ns=self.dirmeta[canon][1:])
                finally:
                    os.close(fd)
            except OSError as exc:
                if (full := no_space(exc, f"extracting {canon or '.'!r}")) is not None:
                    raise full from exc
                raise ArchiveError(f"cannot set the mode of directory {canon or '.'!r}: {exc.strerror}") from exc


def _parsing(call: Callable[[], _T]) -> _T:
    """``call()``, with whatever tarfile or a decompressor raises made an ArchiveError."""
    try:
        return call()
    except ArchiveError:
        raise
    except Exception as exc:
        raise corrupt(exc) from exc


def extract_layer(stream: BinaryIO, dest: str | os.PathLike[str], *,
                  whiteouts: Literal["overlay", "apply", "none"], same_owner: bool = True,
                  owner: tuple[int, int] | None = None) -> ExtractResult:
    """Apply the layer tar in ``stream`` (plain or compressed) to the existing directory ``dest``.

    ``whiteouts="overlay"``: ``dest`` is an overlay upper dir (whiteouts become 0:0 devices and
    opaque xattrs); ``"apply"``: ``dest`` holds a copy of the parent (whiteouts delete).
    ``same_owner`` applies member uid/gid. Reads the stream to its end; the diff_id is the
    sha256 of every uncompressed byte. Raises ArchiveError for a hostile, unsupported or
    corrupt archive, StorageError when the disk is full; ``dest`` then holds a partial layer
    to discard. ``whiteouts="none"``: not a layer (``cp -``), whiteout names are plain names;
    ``owner``: the uid:gid given to every member instead of its own.
    """
    if whiteouts not in ("overlay", "apply", "none"):
        raise ValueError(f"whiteouts must be 'overlay', 'apply' or 'none', not {whiteouts!r}")
    raw = decompressed(stream)
    extractor = _Extractor(dest, whiteouts == "overlay", same_owner, plain=whiteouts == "none", owner=owner)
    # a stream the layer store hashes already (its diff id): not hashed a second time here
    source = TarSource(raw, hashed=stream if isinstance(stream, HashingReader) else None)
    try:
        # Mode "r" over a forward-only reader: tarfile streams and reads ``source`` directly
        # (mode "r|" copies the rest of its buffer on every read).
        archive = _parsing(lambda: tarfile.TarFile(fileobj=source, mode="r", tarinfo=_TarInfo,  # type: ignore
                                                   encoding="utf-8", errors="surrogateescape"))
        while (member := _parsing(archive.next)) is not None:
            archive.members.clear()
            extractor.add(member, source)
        # A zero block ends an archive; so does a clean end of data without one (as for GNU
        # tar and Go's archive/tar). A bad or partial header does not.
        end = getattr(archive, "capsa_end", None)
        if not isinstance(end, (tarfile.EOFHeaderError, tarfile.EmptyHeaderError)):
            raise corrupt(end or "missing end of archive")
        source.drain()
        extractor.finish()
    except RecursionError:
        raise ArchiveError("layer archive nests directories too deeply") from None
    finally:
        source.close()
        extractor.close()
    return ExtractResult(diff_id=source.diff_id, size=extractor.size,
                         entries=extractor.entries)
