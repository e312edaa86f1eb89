"""The build context: where COPY and ADD take their sources from, and the Containerfile.

:func:`open_context` opens a directory, or ``-``: a tar archive (plain, gzip, bzip2, xz, zstd) on
stdin, extracted by the hardened extractor (``capsa.store.tarextract``) into a temporary
directory that :meth:`BuildContext.close` removes (stdin holding a Containerfile instead of a tar
gives an empty context and :attr:`BuildContext.containerfile`, as ``podman build -`` does).

The ignore file (podman 4.3, buildah's ``ContainerIgnoreFile``): ``<containerfile>.containerignore``
or ``<containerfile>.dockerignore`` next to each Containerfile first (both present: the
``.dockerignore`` one, as podman 4.3), else ``.containerignore`` in the context root, else its
``.dockerignore``. The Containerfile and the ignore file are always read, whatever the patterns
say; COPY and ADD leave them out when the patterns exclude them (docker and podman alike).

Sources (:meth:`BuildContext.sources`) are relative to the context root and never leave it: a
leading ``/`` and ``..`` stop at the root (as buildah), symlinks resolve inside it.
:func:`tree_checksum` is the cache key of what a COPY would copy: see its docstring.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO

from capsa.build.ignore import IgnoreMatcher, read_patterns
from capsa.errors import ArchiveError, BuildError

_META = "*?[\\"
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass
class BuildContext:
    """An opened build context; ``ignore`` excludes paths from COPY/ADD."""

    root: str  # absolute directory holding the context
    ignore: IgnoreMatcher
    ignore_file: str | None = None  # the file ``ignore`` was read from
    temporary: bool = False  # ``root`` is ours (a stdin tar): ``close`` removes it
    containerfile: str | None = None  # stdin held a Containerfile (written here), not a tar
    _hashes: dict[tuple[int, ...], str] = field(default_factory=dict, repr=False)

    def read_ignore(self, containerfiles: list[str], ignorefile: str | None = None) -> None:
        """Load the ignore file for these Containerfile paths (podman's choice, see the module
        docstring); ``ignorefile``: podman's ``--ignorefile``, used as it is."""
        inside = self.root if self.temporary else None
        path = ignorefile if ignorefile else _ignore_file(self.root, containerfiles, inside)
        if path is None:
            self.ignore, self.ignore_file = IgnoreMatcher([]), None
            return
        text = _read(path, inside, "the ignore file ").decode("utf-8", "surrogateescape")
        self.ignore, self.ignore_file = IgnoreMatcher(read_patterns(text)), path

    def containerfiles(self, given: list[str], stdin: BinaryIO | None = None) -> list[tuple[str, str]]:
        """:func:`find_containerfile` for this context (the Containerfile stdin held when no
        ``-f``), and the ignore file for them loaded."""
        if not given and self.containerfile is not None:
            given = [self.containerfile]
        found = find_containerfile(self.root, given, stdin, contained=self.temporary)
        self.read_ignore([path for path, _ in found if path != "-"])
        return found

    def sources(self, patterns: list[str]) -> list[str]:
        """The relative paths COPY/ADD ``patterns`` name in the context (see :func:`find_sources`)."""
        return find_sources(self.root, patterns, self.ignore, self.ignore_file)

    def included(self, rel: str) -> bool:
        """Whether COPY may take ``rel`` (see :func:`included`)."""
        return included(self.root, rel, self.ignore)

    def checksum(self, rels: list[str]) -> str:
        """The content hash of what COPY would take from ``rels`` (see :func:`tree_checksum`)."""
        return tree_checksum(self.root, rels, self.ignore, self._hashes)

    def close(self) -> None:
        """Remove a temporary (stdin) context; nothing for a directory."""
        if self.temporary:
            import shutil

            shutil.rmtree(os.path.dirname(self.root), ignore_errors=True)
            self.temporary = False


_HINT = "source paths are relative to the build context; check the path and the ignore file"


def find_sources(root: str, patterns: list[str], ignore: IgnoreMatcher | None = None,
                 ignore_file: str | None = None) -> list[str]:
    """The relative paths COPY/ADD ``patterns`` name under ``root`` (the context, or another
    stage's root for ``--from``): globs expanded per path component (``filepath.Match``
    syntax, sorted), paths ``ignore`` excludes left out. A pattern naming nothing, or only
    excluded paths, is a BuildError in buildah's words."""
    out: list[str] = []
    for pattern in patterns:
        rel = _inside(pattern)
        if not any(c in rel for c in _META):
            candidates = [rel] if _lexists(root, rel) else []
            if not candidates:
                raise BuildError(f'checking on sources under "{root}": copier: stat: "/{rel}": '
                                 f"no such file or directory", hint=_HINT)
        else:
            candidates = _glob(root, rel)
            if not candidates:
                raise BuildError(f'checking on sources under "{root}": copier: stat: ["/{rel}"]: '
                                 f"no such file or directory", hint=_HINT)
        kept = [c for c in candidates if included(root, c, ignore)]
        if not kept:
            using = f" using {ignore_file}" if ignore_file else ""
            raise BuildError(f'no items matching glob "{os.path.join(root, rel)}" copied '
                             f"({len(candidates)} filtered out{using}): no such file or directory",
                             hint="the ignore file excludes every path the source names")
        out.extend(kept)
    return out


def included(root: str, rel: str, ignore: IgnoreMatcher | None) -> bool:
    """Whether COPY may take ``rel`` under ``root``: neither it nor what it resolves to (inside
    the root) is excluded, or it is a directory holding something a ``!`` pattern re-includes."""
    if not ignore or rel in ("", "."):
        return True
    try:
        canon = _canonical(root, rel)
    except OSError:
        return not ignore.matches(rel)
    for path in {rel, canon}:
        if path and ignore.matches(path):
            if not (os.path.isdir(os.path.join(root, canon)) and holds_included(root, canon, ignore)):
                return False
    return True


def _inside(pattern: str) -> str:
    """``pattern`` as a path relative to the root, ``..`` stopping at the root ("" = the root)."""
    from capsa.build.ignore import clean

    rel = clean("/" + pattern).lstrip("/")
    return rel


def _lexists(root: str, rel: str) -> bool:
    try:
        canon = _canonical(root, rel)
        return canon == "" or os.path.lexists(os.path.join(root, canon))
    except OSError:
        return False


def _canonical(root: str, rel: str) -> str:
    """``rel`` resolved inside ``root`` (symlinks followed there), relative; OSError if a parent
    is missing or not a directory."""
    from capsa.fsutil import secure_join

    path = secure_join(root, rel)
    return "" if path == os.path.abspath(root) else os.path.relpath(path, root)


def _glob(root: str, rel: str) -> list[str]:
    """Go's ``filepath.Glob`` of ``rel`` under ``root``, component by component (symlinked
    directories followed inside the root); sorted matches."""
    from capsa.build.ignore import glob_matcher

    found = [""]
    parts = rel.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt: list[str] = []
        if not any(c in part for c in _META):
            for base in found:
                cand = f"{base}/{part}" if base else part
                if _lexists(root, cand) and (last or _isdir(root, cand)):
                    nxt.append(cand)
        else:
            match = glob_matcher(part)
            for base in found:
                try:
                    names = sorted(os.listdir(os.path.join(root, _canonical(root, base)) if base else root))
                except OSError:
                    continue
                for name in names:
                    cand = f"{base}/{name}" if base else name
                    if match(name) and "/" not in name and (last or _isdir(root, cand)):
                        nxt.append(cand)
        found = nxt
    return found


def _isdir(root: str, rel: str) -> bool:
    try:
        return os.path.isdir(os.path.join(root, _canonical(root, rel)))
    except OSError:
        return False


def holds_included(root: str, canon: str, ignore: IgnoreMatcher) -> bool:
    """Whether the excluded directory ``canon`` (relative to ``root``) holds anything a ``!``
    pattern re-includes (walked only when one could)."""
    if not ignore.may_include_below(canon):
        return False
    for dirpath, dirs, files in os.walk(os.path.join(root, canon)):
        base = os.path.relpath(dirpath, root)
        for name in dirs + files:
            if not ignore.matches(f"{base}/{name}"):
                return True
    return False


def tree_checksum(root: str, rels: list[str], ignore: IgnoreMatcher | None = None,
                  cache: dict[tuple[int, ...], str] | None = None, *, owners: bool = False) -> str:
    """A sha256 over what COPY takes from ``rels`` under ``root``: for each source (in order)
    and, below a directory, each entry not excluded (by name order): its path relative to the
    source, its type, permission bits, symlink target and the sha256 of its content; with
    ``owners``, uid and gid too (``COPY --from`` keeps them; from the context they never reach
    the image: 0:0 or ``--chown``, which is part of the instruction). Modification times are
    left out, as docker's cache does: a touched but unchanged file still hits the cache.
    ``cache`` maps (dev, inode, size, mtime, ctime) to a content hash, so a file is read once."""
    digest = hashlib.sha256()
    cache = {} if cache is None else cache
    for rel in rels:
        rel = _inside(rel)
        try:
            canon = _canonical(root, rel)
            st = os.lstat(os.path.join(root, canon) if canon else root)
        except OSError as exc:
            raise BuildError(f"cannot read {rel!r} in the build context: {exc.strerror}", hint=_HINT) from exc
        digest.update(b"source\0" + rel.encode("utf-8", "surrogateescape") + b"\0")
        _entry(digest, root, canon, ".", st, cache, owners)
        if stat.S_ISDIR(st.st_mode):
            _walk(digest, root, canon, ignore, cache, owners)
    return "sha256:" + digest.hexdigest()


def _entry(digest: hashlib._Hash, root: str, canon: str, shown: str, st: os.stat_result,
           cache: dict[tuple[int, ...], str], owners: bool) -> None:
    mode = st.st_mode
    kind = "d" if stat.S_ISDIR(mode) else "f" if stat.S_ISREG(mode) else "l" if stat.S_ISLNK(mode) else "o"
    line = f"{shown}\0{kind}\0{stat.S_IMODE(mode):o}\0"
    if owners:
        line += f"{st.st_uid}:{st.st_gid}\0"
    path = os.path.join(root, canon) if canon else root
    if kind == "l":
        line += os.readlink(path)
    elif kind == "f":
        line += _content_hash(path, st, cache)
    elif kind == "o":
        line += f"{stat.S_IFMT(mode)}:{st.st_rdev}"
    digest.update(line.encode("utf-8", "surrogateescape") + b"\n")


def _content_hash(path: str, st: os.stat_result, cache: dict[tuple[int, ...], str]) -> str:
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    found = cache.get(key)
    if found is None:
        fd = os.open(path, _READ)
        try:
            with os.fdopen(fd, "rb", closefd=False) as fh:
                found = hashlib.file_digest(fh, "sha256").hexdigest()
        finally:
            os.close(fd)
        cache[key] = found
    return found


def _walk(digest: hashlib._Hash, root: str, top: str, ignore: IgnoreMatcher | None,
          cache: dict[tuple[int, ...], str], owners: bool) -> None:
    stack = [(top, "")]
    while stack:
        canon, shown = stack.pop()
        try:
            with os.scandir(os.path.join(root, canon) if canon else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                continue
            raise
        later = []
        for entry in entries:
            child = f"{canon}/{entry.name}" if canon else entry.name
            cshown = f"{shown}/{entry.name}" if shown else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if ignore and ignore.matches(child) and not (is_dir and holds_included(root, child, ignore)):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            _entry(digest, root, child, cshown, st, cache, owners)
            if is_dir:
                later.append((child, cshown))
        stack.extend(reversed(later))


def open_context(location: str, stdin: BinaryIO | None = None) -> BuildContext:
    """Open the build context: a directory, or ``-`` (a tar archive on ``stdin``, or a lone
    Containerfile). The default ignore file of the context root is loaded; call
    :meth:`BuildContext.read_ignore` (or :meth:`BuildContext.containerfiles`) once the
    Containerfiles are known. BuildError (exit 125) for a missing or non-directory context."""
    if location == "-":
        return _from_stdin(stdin if stdin is not None else sys.stdin.buffer)
    path = os.path.abspath(location)
    if not os.path.isdir(path):
        raise BuildError(f'context must be a directory: "{path}"',
                         hint="give the build context directory (or - for a tar archive on stdin)")
    ctx = BuildContext(path, IgnoreMatcher([]))
    ctx.read_ignore([])
    return ctx


def _from_stdin(stdin: BinaryIO) -> BuildContext:
    import shutil
    import tempfile

    from capsa.store.compression import Prefixed, decompressed
    from capsa.store.tarextract import extract_layer

    tmp = tempfile.mkdtemp(prefix="capsa-build-")
    root = os.path.join(tmp, "context")
    os.mkdir(root, 0o755)
    try:
        raw = decompressed(stdin)
        head = read_up_to(raw, tarfile.BLOCKSIZE)
        ctx = BuildContext(root, IgnoreMatcher([]), temporary=True)
        if not head.strip(b"\0") or is_tar_header(head):
            extract_layer(Prefixed(head, raw), root, whiteouts="none")  # type: ignore[arg-type]
        else:  # a Containerfile on stdin: an empty context
            ctx.containerfile = os.path.join(tmp, "Containerfile")
            with open(ctx.containerfile, "wb") as fh:
                fh.write(head)
                shutil.copyfileobj(raw, fh)
        ctx.read_ignore([])
        return ctx
    except ArchiveError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildError(f"the build context on stdin is not a usable tar archive: {exc.message}",
                         hint="send a tar archive (plain, gzip, bzip2 or xz) of the context directory") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_up_to(stream: BinaryIO, size: int) -> bytes:
    """The first ``size`` bytes of ``stream`` (fewer only at its end)."""
    data = b""
    while len(data) < size and (more := stream.read(size - len(data))):
        data += more
    return data


def is_tar_header(block: bytes) -> bool:
    """Whether ``block`` (the first 512 bytes) is a valid tar header (docker's IsArchive: the
    first header reads)."""
    if len(block) < tarfile.BLOCKSIZE:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _ignore_file(root: str, containerfiles: list[str], inside: str | None = None) -> str | None:
    for containerfile in containerfiles:
        path = containerfile if os.path.isabs(containerfile) else os.path.join(root, containerfile)
        chosen = None
        for suffix in (".containerignore", ".dockerignore"):  # (the later wins, as podman 4.3)
            if os.path.exists(_where(path + suffix, inside)):
                chosen = path + suffix
        if chosen is not None:
            return chosen
    for name in (".containerignore", ".dockerignore"):
        if os.path.exists(_where(os.path.join(root, name), inside)):
            return os.path.join(root, name)
    return None


def _where(path: str, inside: str | None) -> str:
    """The host path read for ``path``: under ``inside`` (a stdin tar's context), its symlinks
    resolved there as if it were "/" (a link to /etc/shadow names the context's own file);
    elsewhere ``path`` itself (the user's own files: followed, as podman and docker do)."""
    if not _under(path, inside):
        return path
    assert inside is not None
    rel = os.path.relpath(os.path.abspath(path), inside)
    from capsa.fsutil import secure_join

    try:
        return secure_join(inside, rel)
    except OSError:
        return os.path.join(inside, ".capsa-unresolvable")  # (a link loop: not there)


def _under(path: str, inside: str | None) -> bool:
    if inside is None:
        return False
    rel = os.path.relpath(os.path.abspath(path), inside)
    return rel != ".." and not rel.startswith("../")


def find_containerfile(context_dir: str, given: list[str], stdin: BinaryIO | None = None, *,
                       contained: bool = False) -> list[tuple[str, str]]:
    """The Containerfiles to build, as (path, text), in order (podman concatenates several
    ``-f``). None given: ``Containerfile``, else ``Dockerfile`` in ``context_dir`` (exact
    names, as podman 4.3). A relative ``-f`` path is tried in the current directory first,
    then in the context; ``-`` reads ``stdin``. ``contained``: the context came from a tar
    (stdin): paths in it are resolved inside it, never to a host file. A Containerfile that is
    not a regular file (a fifo, a device) is a BuildError, never a read that hangs."""
    inside = context_dir if contained else None
    if not given:
        for name in ("Containerfile", "Dockerfile"):
            path = os.path.join(context_dir, name)
            if os.path.isfile(_where(path, inside)):
                return [(path, _read(path, inside).decode("utf-8", "replace"))]
        raise BuildError(f"stat {os.path.join(context_dir, 'Dockerfile')}: no such file or directory",
                         hint="put a Containerfile (or Dockerfile) in the context directory, or give one with -f")
    out = []
    for name in given:
        if name == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            out.append(("-", stream.read().decode("utf-8", "replace")))
            continue
        path = name
        if not os.path.isabs(name) and not os.path.exists(name) and \
                os.path.exists(_where(os.path.join(context_dir, name), inside)):
            path = os.path.join(context_dir, name)
        path = os.path.abspath(path)
        if os.path.isdir(_where(path, inside)):
            raise BuildError(f'containerfile: "{name}" cannot be path to a directory',
                             hint="give the path of the Containerfile itself")
        if not os.path.exists(_where(path, inside)):
            raise BuildError(f"stat {path}: no such file or directory", hint="check the -f path")
        out.append((path, _read(path, inside).decode("utf-8", "replace")))
    return out


def _read(path: str, inside: str | None = None, what: str = "") -> bytes:
    """The bytes of the regular file ``path`` (see :func:`_where` for ``inside``); anything
    else (a fifo, a device) is a BuildError, never opened in a way that blocks."""
    real = _where(path, inside)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_NOFOLLOW if _under(path, inside) else 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise BuildError(f"cannot read {what}{path}: {exc.strerror}", hint="check the file and its permissions") from exc
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BuildError(f"cannot read {what}{path}: not a regular file",
                             hint="the Containerfile and the ignore file must be regular files")
        try:
            return fh.read()
        except OSError as exc:
            raise BuildError(f"cannot read {what}{path}: {exc.strerror}",
                             hint="check the file and its permissions") from exc
