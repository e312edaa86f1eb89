"""COPY and ADD into a build's root filesystem, contained on both sides.

Sources are (root, relative path) pairs: the build context, or another stage's (image's) root.
Each is resolved inside its own root (``capsa.container.cproot.ContainedRoot``: symlinks
followed as in a chroot, so a context symlink to ``/etc/shadow`` names the context's own
``etc/shadow``, never the host's); below a copied directory symlinks are copied as symlinks and
nothing is ever followed (``capsa.container.cptree.Copier``). The destination is resolved
inside ``rootfs`` the same way.

Destination rules (docker's, as podman 4.3 applies them): a relative ``dest`` is relative to
WORKDIR; ``dest`` ending in ``/`` (or ``.``), or several sources, is a directory; a directory
source copies its contents; a file onto an existing directory goes into it; an existing file
is replaced; a directory onto an existing non-directory is an error. Below that top, what is
copied replaces whatever is in its way (a file, a directory, a symlink: removed, never
followed), as podman 4.3 does (buildah's copier overwrites dirs and non-dirs). Missing parent
directories are made 0755, owned by the ``--chown`` owner or root. From the context, what is
copied belongs to 0:0 (or ``--chown``) and loses setuid/setgid bits (buildah does); from
another stage (``preserve_owner``) owners and modes are kept. ``--chmod`` (octal) sets the mode
of every file and directory copied (not of the destination directories made for them).
Files keep their content and modification time (docker keeps mtimes for COPY).

ADD: a local tar archive (plain, gzip, bzip2, xz, zstd; recognised by its first header, as
docker's IsArchive) is extracted into the destination directory by the hardened extractor,
keeping the archive's owners (podman 4.3 does so even with ``--chown``); :func:`download`
fetches an http(s) URL for ADD (mode 0600, mtime from Last-Modified, never extracted), and
:func:`write_heredoc` writes a heredoc source.
"""
from __future__ import annotations

import os
import stat
from contextlib import ExitStack

from capsa.errors import ArchiveError, BuildError, CapsaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from capsa.build.ignore import IgnoreMatcher
    from capsa.container.cproot import ContainedRoot, Found
    from capsa.container.cptree import Copier


def parse_chmod(chmod: str | None) -> int | None:
    """The mode of ``--chmod`` (octal digits, as buildah parses it), or None."""
    if chmod is None:
        return None
    if not chmod or any(c not in "01234567" for c in chmod) or int(chmod, 8) > 0o7777:
        raise BuildError(f"Error parsing chmod {chmod}", hint="give --chmod an octal mode, such as 0755")
    return int(chmod, 8)


def copy_into(rootfs: str, sources: list[tuple[str, str]], dest: str, workdir: str, *,
              chown: str | None, chmod: str | None, extract_archives: bool,
              preserve_owner: bool = False, ignore: IgnoreMatcher | None = None) -> None:
    """Copy ``sources`` to ``dest`` in ``rootfs`` (see the module docstring). ``preserve_owner``:
    the sources are another stage's (COPY --from): owners and setuid bits kept unless
    ``--chown``; ``ignore``: entries below a copied directory it excludes are left out (the
    context's ignore file). BuildError for whatever cannot be done."""
    from capsa.container.cproot import ContainedRoot
    from capsa.container.cptree import Copier, Side

    mode = parse_chmod(chmod)
    path = dest if dest.startswith("/") else os.path.join(workdir or "/", dest)
    as_dir = dest.endswith(("/", "/.")) or dest in (".", "..") or len(sources) > 1
    with ExitStack() as stack:
        droot = stack.enter_context(ContainedRoot(rootfs, []))
        owner = _owner(droot, chown) if chown else None
        dir_owner = owner or (0, 0)
        roots: dict[str, ContainedRoot] = {}
        for root, rel in sources:
            if root not in roots:
                roots[root] = stack.enter_context(ContainedRoot(root, []))
            copier = Copier(Side(roots[root], exclude=_excluder(root, ignore)), Side(droot),
                            owner if owner is not None or preserve_owner else (0, 0), True,
                            chmod=mode, strip_setid=not preserve_owner)
            stack.callback(copier.close)
            try:
                _copy_one(copier, roots[root], rel, droot, path, as_dir, dir_owner, extract_archives)
            except CapsaError as exc:
                if isinstance(exc, BuildError):
                    raise
                raise BuildError(exc.message, hint=exc.hint) from exc
            except OSError as exc:
                raise BuildError(f"copying {rel!r} to {dest!r}: {exc.strerror or exc}",
                                 hint="a source or the destination could not be read or written") from exc


def _excluder(root: str, ignore: IgnoreMatcher | None) -> Callable[[str, bool], bool] | None:
    """What the copier leaves out below a directory of ``root``: what ``ignore`` excludes, but
    a directory holding something re-included (docker sends just that)."""
    if not ignore:
        return None
    from capsa.build.context import holds_included

    def exclude(canon: str, is_dir: bool) -> bool:
        return ignore.matches(canon) and not (is_dir and holds_included(root, canon, ignore))
    return exclude


def _owner(droot: ContainedRoot, chown: str) -> tuple[int, int]:
    from capsa.container.userinfo import resolve_owner

    try:
        return resolve_owner(chown, droot.read_text)
    except CapsaError as exc:
        raise BuildError(exc.message, hint=exc.hint) from exc


def _copy_one(copier: Copier, sroot: ContainedRoot, rel: str, droot: ContainedRoot, path: str, as_dir: bool,
              dir_owner: tuple[int, int], extract_archives: bool) -> None:
    from capsa.build.ignore import clean

    rel = clean("/" + rel).lstrip("/")
    found = sroot.find(rel)
    if found.st is None:
        raise BuildError(f'copier: stat: "/{rel}": no such file or directory',
                         hint="the source is not in the build context (or the stage)")
    name = rel.rpartition("/")[2]
    if found.is_dir:
        target = _mkdir_p(droot, path, dir_owner)
        copier.copy(found.parent, found.name, found.canon, target[0], "", target[1], contents=True, st=found.st)
        return
    if extract_archives and stat.S_ISREG(found.st.st_mode) and _is_archive(found):
        target = _mkdir_p(droot, path, dir_owner)
        _extract(found, target[0], rel)
        return
    if as_dir:
        target = _mkdir_p(droot, path, dir_owner)
        copier.copy(found.parent, found.name, found.canon, target[0], name, _child(target[1], name), st=found.st)
        return
    _mkdir_p(droot, os.path.dirname(path.rstrip("/")) or "/", dir_owner)
    there = droot.find(path)
    if there.is_dir:
        fd = droot.dir_fd(there.canon, there.parent, there.name) if there.canon else droot.root
        copier.copy(found.parent, found.name, found.canon, fd, name, _child(there.canon, name), st=found.st)
        return
    copier.copy(found.parent, found.name, found.canon, there.parent, there.name, there.canon, st=found.st)


def _child(canon: str, name: str) -> str:
    return f"{canon}/{name}" if canon else name


def _mkdir_p(droot: ContainedRoot, path: str, owner: tuple[int, int]) -> tuple[int, str]:
    """(O_PATH fd owned by ``droot``, canonical path) of the directory ``path`` in the rootfs,
    made with its missing parents (0755, ``owner``), through symlinks resolved inside the
    rootfs (a dangling one's target is made); an existing non-directory is an error."""
    for _ in range(4096):
        try:
            found = droot.find(path)
        except FileNotFoundError as exc:  # (a missing directory on the way: its canonical path)
            missing = droot.find(exc.filename or "/")
            if missing.st is not None:
                raise
            _mkdir(missing, owner)
            continue
        except NotADirectoryError:
            raise BuildError(f"destination {path} already exists but is not a directory",
                             hint="copy to another path, or remove it in an earlier step") from None
        if found.st is None:
            _mkdir(found, owner)
            continue
        if not found.is_dir:
            raise BuildError(f"destination {path} already exists but is not a directory",
                             hint="copy to another path, or remove it in an earlier step")
        if not found.canon:
            return droot.root, ""
        return droot.dir_fd(found.canon, found.parent, found.name), found.canon
    raise BuildError(f"cannot make the directory {path}", hint="its path keeps changing")


def _mkdir(found: Found, owner: tuple[int, int]) -> None:
    os.mkdir(found.name, 0o755, dir_fd=found.parent)
    fd = os.open(found.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=found.parent)
    try:
        os.fchown(fd, *owner)
        os.fchmod(fd, 0o755)
    finally:
        os.close(fd)


def _is_archive(found: Found) -> bool:
    """Whether the regular file ``found`` is a tar archive (plain or compressed)."""
    from capsa.build.context import read_up_to, is_tar_header
    from capsa.store.compression import decompressed

    fd = os.open(found.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=found.parent)
    with os.fdopen(fd, "rb") as fh:
        try:
            return is_tar_header(read_up_to(decompressed(fh), 512))
        except (ArchiveError, OSError, EOFError):
            return False


def _extract(found: Found, dest_fd: int, rel: str) -> None:
    from capsa.store.tarextract import extract_layer

    fd = os.open(found.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=found.parent)
    with os.fdopen(fd, "rb") as fh:
        try:
            extract_layer(fh, f"/proc/self/fd/{dest_fd}", whiteouts="none")
        except ArchiveError as exc:
            raise BuildError(f"extracting {rel!r}: {exc.message}",
                             hint="the archive is corrupt or hostile; the step was not completed") from exc


def download(url: str, into: str, timeout: float = 60.0) -> str:
    """Fetch ``url`` (http or https) for ADD into the directory ``into``; the file's name there
    (the URL path's last component, as docker names it) is returned. Mode 0600 and the mtime
    of Last-Modified (when given), as docker; never extracted."""
    import email.utils
    from urllib.parse import unquote, urlsplit

    import requests

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BuildError(f"unsupported URL {url!r}", hint="ADD downloads http:// and https:// URLs only")
    name = unquote(parts.path).rstrip("/").rpartition("/")[2]  # (Go's path.Base of the decoded path)
    if not name or name in (".", "..") or "\0" in name:
        raise BuildError(f"cannot determine a file name from URL {url!r}",
                         hint="give ADD a URL that ends in a file name")
    import tempfile

    path, partial = os.path.join(into, name), None
    try:
        with requests.get(url, stream=True, timeout=timeout) as resp:
            if resp.status_code >= 400:
                raise BuildError(f"reading {url!r}: invalid response status {resp.status_code}",
                                 hint="check the URL and that the server can be reached")
            fd, partial = tempfile.mkstemp(prefix=".download-", dir=into)  # (renamed to ``name`` once whole)
            with os.fdopen(fd, "wb") as out:
                for chunk in resp.iter_content(1 << 20):
                    out.write(chunk)
                os.fchmod(out.fileno(), 0o600)
                modified = resp.headers.get("Last-Modified")
                if modified:
                    try:
                        when = email.utils.parsedate_to_datetime(modified).timestamp()
                        out.flush()
                        os.utime(out.fileno(), (when, when))
                    except (TypeError, ValueError, OverflowError):
                        pass
            os.replace(partial, path)
            partial = None
    except requests.RequestException as exc:
        raise BuildError(f"reading {url!r}: {exc}", hint="check the URL and that the server can be reached") from exc
    except OSError as exc:
        raise BuildError(f"writing what {url!r} sent: {exc.strerror or exc}",
                         hint="the build's temporary directory could not be written") from exc
    finally:
        if partial is not None:  # (cut short, refused, interrupted: nothing half-written is left)
            os.unlink(partial)
    return name


def write_heredoc(into: str, name: str, content: str, mode: int = 0o664) -> tuple[str, str]:
    """Write a COPY/ADD heredoc source ``name`` with ``content`` into the directory ``into``
    (mode 0664, as BuildKit's llb.Mkfile); returns the (root, relative path) source for
    :func:`copy_into`."""
    rel = name.strip("/").replace("/", "_")
    if rel in ("", ".", ".."):  # (no file name: "." or ".." would name ``into`` or its parent)
        rel = "heredoc"
    path = os.path.join(into, rel)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(content)
    os.chmod(path, mode)
    return into, rel
