"""COPY and ADD into a busybox root filesystem: docker's destination rules, containment of both
sides (host canaries), --chown from the rootfs's own passwd, --chmod, ADD archives and URLs."""
from __future__ import annotations

import bz2
import gzip
import http.server
import io
import lzma
import os
import re
import stat
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from containers import busybox_rootfs

from capsa.build.context import open_context
from capsa.build.copying import copy_into, download, write_heredoc
from capsa.errors import BuildError


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = busybox_rootfs(tmp_path / "rootfs")
    with open(root / "etc" / "passwd", "a") as fh:  # (a user the host does not have, uid != gid)
        fh.write("builder:x:1001:2002:b:/home/builder:/bin/sh\n")
    with open(root / "etc" / "group", "a") as fh:
        fh.write("builders:x:2002:\nstaff:x:3003:\n")
    return root


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    for rel, text in {"a": "A", "b": "B", "dir/x": "X", "dir/sub/y": "Y"}.items():
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(text)
    (ctx / "dir" / "link").symlink_to("sub/y")
    os.chmod(ctx / "a", 0o640)
    os.utime(ctx / "a", (1_000_000_000, 1_000_000_000))
    return ctx


def _copy(rootfs: Path, ctx: Path, rels: list[str], dest: str, workdir: str = "/", **kw) -> None:
    kw.setdefault("chown", None)
    kw.setdefault("chmod", None)
    kw.setdefault("extract_archives", False)
    copy_into(str(rootfs), [(str(ctx), rel) for rel in rels], dest, workdir, **kw)


# -- destination rules -------------------------------------------------------------------------

@pytest.mark.parametrize(("rels", "dest", "workdir", "expect"), [
    (["a"], "/x", "/", {"x": "A"}),  # a missing dest without "/" is the file
    (["a"], "/x/", "/", {"x/a": "A"}),  # "/": a directory, made
    (["a"], "/etc", "/", {"etc/a": "A"}),  # an existing directory: into it
    (["a"], "/etc/passwd", "/", {"etc/passwd": "A"}),  # an existing file: replaced
    (["a"], "rel", "/home/alice", {"home/alice/rel": "A"}),  # relative to WORKDIR
    (["a"], ".", "/w", {"w/a": "A"}),
    (["a"], "./", "/home", {"home/a": "A"}),
    (["a", "b"], "/multi", "/", {"multi/a": "A", "multi/b": "B"}),  # several sources: a directory (podman)
    (["dir"], "/newd", "/", {"newd/x": "X", "newd/sub/y": "Y"}),  # a directory copies its contents
    (["dir"], "/tmp/", "/", {"tmp/x": "X", "tmp/sub/y": "Y"}),
    (["dir/sub/y"], "/p/q/r", "/", {"p/q/r": "Y"}),  # missing parents made
    ([""], "/whole/", "/", {"whole/a": "A", "whole/dir/x": "X"}),  # COPY . /whole/
])
def test_destination_rules(rootfs: Path, ctx: Path, rels: list[str], dest: str, workdir: str,
                           expect: dict[str, str]) -> None:
    _copy(rootfs, ctx, rels, dest, workdir)
    for rel, text in expect.items():
        path = rootfs / rel
        assert path.is_file() and not path.is_symlink() and path.read_text() == text, rel


def test_what_is_copied_keeps_mode_mtime_and_symlinks_and_belongs_to_root(rootfs: Path, ctx: Path) -> None:
    os.chown(ctx / "dir" / "x", 1234, 1234)
    _copy(rootfs, ctx, ["a", "dir"], "/t/")
    st = os.stat(rootfs / "t" / "a")
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_mtime == 1_000_000_000
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert os.stat(rootfs / "t" / "x").st_uid == 0
    assert os.readlink(rootfs / "t" / "link") == "sub/y"  # copied as a link, not followed
    for made in ("t",):
        mst = os.stat(rootfs / made)
        assert stat.S_IMODE(mst.st_mode) == 0o755 and (mst.st_uid, mst.st_gid) == (0, 0)


def test_directory_onto_a_file_is_refused(rootfs: Path, ctx: Path) -> None:
    (rootfs / "etc" / "hostname").write_text("h")
    with pytest.raises(BuildError, match="destination /etc/hostname already exists but is not a directory"):
        _copy(rootfs, ctx, ["dir"], "/etc/hostname")
    assert (rootfs / "etc" / "hostname").read_text() == "h"


def test_file_onto_a_directory_of_its_name_replaces_it_as_podman(rootfs: Path, ctx: Path) -> None:
    (rootfs / "x" / "a" / "inner").mkdir(parents=True)  # (podman 4.3: COPY a /x/ replaces the directory /x/a)
    _copy(rootfs, ctx, ["a"], "/x/")
    assert (rootfs / "x" / "a").is_file() and (rootfs / "x" / "a").read_text() == "A"


def test_entries_below_the_top_replace_what_is_in_the_way_as_podman(rootfs: Path, ctx: Path, canary: Path) -> None:
    # podman 4.3: COPY dir /m/ over /m/sub a file, /m/x a directory, /m/lib a symlink to a
    # directory (merged /usr): each is replaced by what is copied, never written through
    (rootfs / "m" / "x" / "deep").mkdir(parents=True)
    (rootfs / "m" / "sub").write_text("file in the way")
    (ctx / "dir" / "lib").mkdir()
    (ctx / "dir" / "lib" / "l").write_text("L")
    (rootfs / "m" / "lib").symlink_to(canary)
    _copy(rootfs, ctx, ["dir"], "/m/")
    assert (rootfs / "m" / "x").read_text() == "X" and (rootfs / "m" / "sub" / "y").read_text() == "Y"
    assert (rootfs / "m" / "lib").is_dir() and not (rootfs / "m" / "lib").is_symlink()
    assert (rootfs / "m" / "lib" / "l").read_text() == "L" and sorted(os.listdir(canary)) == ["shadow"]


def test_ignored_entries_below_a_directory_are_left_out(rootfs: Path, ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("dir/sub\n!dir/sub/keep\ndir/other\n!dir/other/keep\n")
    (ctx / "dir" / "sub" / "keep").write_text("K")
    (ctx / "dir" / "other").mkdir()  # (excluded, and nothing in it re-included: not made)
    (ctx / "dir" / "other" / "no").write_text("N")
    context = open_context(str(ctx))
    copy_into(str(rootfs), [(str(ctx), rel) for rel in context.sources(["dir"])], "/d", "/", chown=None,
              chmod=None, extract_archives=False, ignore=context.ignore)
    assert sorted(os.listdir(rootfs / "d")) == ["link", "sub", "x"]
    assert os.listdir(rootfs / "d" / "sub") == ["keep"]


# -- containment -------------------------------------------------------------------------------

@pytest.fixture
def canary(tmp_path: Path) -> Path:
    host = tmp_path / "host"
    host.mkdir()
    (host / "shadow").write_text("HOST SECRET")
    return host


def test_context_symlinks_never_copy_host_files(rootfs: Path, ctx: Path, canary: Path) -> None:
    (ctx / "abs").symlink_to(canary / "shadow")
    (ctx / "rel").symlink_to("../" * 12 + str(canary / "shadow").lstrip("/"))
    (ctx / "dirlink").symlink_to(canary)
    for rel in ("abs", "rel", "dirlink", "dirlink/shadow"):
        with pytest.raises(BuildError):
            _copy(rootfs, ctx, [rel], f"/out-{rel.replace('/', '-')}")
    assert not any("HOST SECRET" in p.read_text(errors="replace") for p in rootfs.rglob("*")
                   if p.is_file() and not p.is_symlink())
    # the same names inside the context are what the links name, as if the context were "/"
    inside = ctx / str(canary).lstrip("/")
    inside.mkdir(parents=True)
    (inside / "shadow").write_text("context's own")
    _copy(rootfs, ctx, ["abs"], "/abs")
    _copy(rootfs, ctx, ["dirlink"], "/dl")
    assert (rootfs / "abs").read_text() == "context's own" and (rootfs / "dl" / "shadow").read_text() == "context's own"


def test_destination_symlinks_stay_inside_the_rootfs(rootfs: Path, ctx: Path, canary: Path) -> None:
    (rootfs / "out").symlink_to(canary)
    (rootfs / "up").symlink_to("../" * 12 + str(canary).lstrip("/"))
    (rootfs / "file").symlink_to(canary / "shadow")
    _copy(rootfs, ctx, ["a"], "/out/")
    _copy(rootfs, ctx, ["b"], "/up/b")
    _copy(rootfs, ctx, ["dir"], "/out/d")
    _copy(rootfs, ctx, ["a"], "/file")
    assert sorted(os.listdir(canary)) == ["shadow"] and (canary / "shadow").read_text() == "HOST SECRET"
    inside = rootfs / str(canary).lstrip("/")
    assert (inside / "a").read_text() == "A" and (inside / "b").read_text() == "B"
    assert (inside / "d" / "x").read_text() == "X" and (inside / "shadow").read_text() == "A"


def test_copy_from_another_stage_resolves_in_that_root_and_keeps_owners(rootfs: Path, tmp_path: Path) -> None:
    stage = busybox_rootfs(tmp_path / "stage")
    (stage / "o").mkdir()
    (stage / "o" / "f").write_text("from stage")
    os.chown(stage / "o" / "f", 1000, 1000)
    os.chmod(stage / "o" / "f", 0o4750)
    (stage / "pw").symlink_to("/etc/passwd")  # that stage's passwd, not the host's
    copy_into(str(rootfs), [(str(stage), "o")], "/fromstage", "/", chown=None, chmod=None,
              extract_archives=False, preserve_owner=True)
    copy_into(str(rootfs), [(str(stage), "pw")], "/stagepw", "/", chown=None, chmod=None,
              extract_archives=False, preserve_owner=True)
    st = os.stat(rootfs / "fromstage" / "f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o4750)
    assert (rootfs / "stagepw").read_text() == (stage / "etc" / "passwd").read_text()


def test_setuid_bits_are_dropped_from_the_context(rootfs: Path, ctx: Path) -> None:
    os.chmod(ctx / "a", 0o6755)
    os.chmod(ctx / "b", 0o1777)
    _copy(rootfs, ctx, ["a", "b"], "/bits/")
    assert stat.S_IMODE(os.stat(rootfs / "bits" / "a").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(rootfs / "bits" / "b").st_mode) == 0o1777  # (the sticky bit stays, as podman)


# -- --chown and --chmod -----------------------------------------------------------------------

@pytest.mark.parametrize(("chown", "ids"), [
    ("builder", (1001, 2002)),  # a name: its passwd uid and gid, from the rootfs's passwd
    ("1001", (1001, 1001)),  # a number alone is uid and gid (buildah)
    ("1234", (1234, 1234)),
    ("builder:staff", (1001, 3003)),
    ("alice:10", (1000, 10)),
    (":staff", (0, 3003)),
])
def test_chown_from_the_rootfs_own_passwd(rootfs: Path, ctx: Path, chown: str, ids: tuple[int, int]) -> None:
    _copy(rootfs, ctx, ["a", "dir"], "/own/made/", chown=chown)
    for rel in ("own", "own/made", "own/made/a", "own/made/x", "own/made/sub", "own/made/sub/y"):
        st = os.stat(rootfs / rel)
        assert (st.st_uid, st.st_gid) == ids, rel
    st = os.lstat(rootfs / "own" / "made" / "link")
    assert (st.st_uid, st.st_gid) == ids


@pytest.mark.parametrize(("chown", "message"), [
    ("nosuch", 'looking up UID/GID for "nosuch": determining run uid: user: unknown user error looking up user '
               '"nosuch"'),
    ("root:nogroup", 'looking up UID/GID for "root:nogroup": determining run gid: group: unknown group error '
                     'looking up group "nogroup"'),
])
def test_unknown_chown_names_are_errors(rootfs: Path, ctx: Path, chown: str, message: str) -> None:
    with pytest.raises(BuildError) as err:
        _copy(rootfs, ctx, ["a"], "/never", chown=chown)
    assert str(err.value) == message
    assert not (rootfs / "never").exists()


def test_chmod_sets_files_and_directories_copied(rootfs: Path, ctx: Path) -> None:
    _copy(rootfs, ctx, ["dir"], "/cm", chmod="700")
    assert stat.S_IMODE(os.stat(rootfs / "cm").st_mode) == 0o755  # (made for the contents: podman leaves it)
    for rel in ("cm/x", "cm/sub", "cm/sub/y"):
        assert stat.S_IMODE(os.stat(rootfs / rel).st_mode) == 0o700, rel
    _copy(rootfs, ctx, ["a"], "/cmf", chmod="0604")
    assert stat.S_IMODE(os.stat(rootfs / "cmf").st_mode) == 0o604
    for bad in ("999", "u+x", "", "77777"):
        with pytest.raises(BuildError, match=re.escape(f"Error parsing chmod {bad}")):
            _copy(rootfs, ctx, ["a"], "/never", chmod=bad)
    assert not (rootfs / "never").exists()


# -- ADD ---------------------------------------------------------------------------------------

def _tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o640, 1234, 1234
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("compress", [None, gzip.compress, bz2.compress, lzma.compress])
def test_add_extracts_local_archives(rootfs: Path, ctx: Path, compress) -> None:
    data = _tarball({"top/file": b"in archive", "other": b"o"})
    (ctx / "arch.bin").write_bytes(compress(data) if compress else data)
    _copy(rootfs, ctx, ["arch.bin"], "/ex", extract_archives=True)
    assert (rootfs / "ex" / "top" / "file").read_bytes() == b"in archive"
    st = os.stat(rootfs / "ex" / "other")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 1234, 0o640)  # the archive's, as podman
    _copy(rootfs, ctx, ["arch.bin"], "/copied", extract_archives=False)  # COPY never extracts
    assert (rootfs / "copied").read_bytes() == (ctx / "arch.bin").read_bytes()


def test_add_copies_what_is_not_an_archive(rootfs: Path, ctx: Path) -> None:
    (ctx / "fake.tar.gz").write_bytes(gzip.compress(b"just text, not a tar" * 40))
    (ctx / "plain.tar").write_bytes(b"x" * 1024)
    _copy(rootfs, ctx, ["fake.tar.gz", "plain.tar"], "/nx/", extract_archives=True)
    assert (rootfs / "nx" / "fake.tar.gz").read_bytes() == (ctx / "fake.tar.gz").read_bytes()
    assert (rootfs / "nx" / "plain.tar").read_bytes() == b"x" * 1024


def test_add_hostile_archives_never_write_outside(rootfs: Path, ctx: Path, canary: Path) -> None:
    (ctx / "escape.tar").write_bytes(_tarball({"../../../../escaped": b"x"}))
    with pytest.raises(BuildError, match="extracting 'escape.tar'"):
        _copy(rootfs, ctx, ["escape.tar"], "/e1", extract_archives=True)
    buf = io.BytesIO()  # (links first, then files through them)
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, target in {"l": str(canary), "r": "../" * 12 + str(canary).lstrip("/")}.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        for name in ("l/planted", "r/planted2"):
            info = tarfile.TarInfo(name)
            info.size = 5
            tar.addfile(info, io.BytesIO(b"pwned"))
    (ctx / "links.tar").write_bytes(buf.getvalue())
    _copy(rootfs, ctx, ["links.tar"], "/e2", extract_archives=True)
    assert sorted(os.listdir(canary)) == ["shadow"]
    assert not (Path("/escaped")).exists() and not (rootfs.parent / "escaped").exists()
    inside = rootfs / "e2" / str(canary).lstrip("/")
    assert (inside / "planted").read_bytes() == b"pwned" and (inside / "planted2").read_bytes() == b"pwned"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    served = tmp_path / "served"
    served.mkdir()
    (served / "file.txt").write_text("downloaded")
    (served / "pkg.tar.gz").write_bytes(gzip.compress(_tarball({"inner": b"i"})))
    os.utime(served / "file.txt", (1_500_000_000, 1_500_000_000))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_add_url_downloads_with_mode_0600_and_last_modified(rootfs: Path, tmp_path: Path, server: str) -> None:
    into = tmp_path / "dl"
    into.mkdir()
    name = download(f"{server}/file.txt", str(into))
    assert name == "file.txt"
    copy_into(str(rootfs), [(str(into), name)], "/srv/", "/", chown=None, chmod=None, extract_archives=False)
    st = os.stat(rootfs / "srv" / "file.txt")
    assert (rootfs / "srv" / "file.txt").read_text() == "downloaded"
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_mtime == 1_500_000_000
    name = download(f"{server}/pkg.tar.gz", str(into))  # a URL's archive is not extracted
    copy_into(str(rootfs), [(str(into), name)], "/srv/", "/", chown=None, chmod=None, extract_archives=False)
    assert (rootfs / "srv" / "pkg.tar.gz").read_bytes() == (into / "pkg.tar.gz").read_bytes()
    with pytest.raises(BuildError, match="invalid response status 404"):
        download(f"{server}/missing", str(into))
    for bad in (f"{server}/", f"{server}/%2E%2E", f"{server}/a%00b"):
        with pytest.raises(BuildError, match="cannot determine a file name"):
            download(bad, str(into))
    assert sorted(os.listdir(into)) == ["file.txt", "pkg.tar.gz"]
    (tmp_path / "served" / "sub").mkdir()
    (tmp_path / "served" / "sub" / "f").write_text("in sub")
    assert download(f"{server}/sub%2Ff", str(into)) == "f"  # (the decoded path's last component)


def test_add_url_cut_short_leaves_no_partial_file(tmp_path: Path) -> None:
    import socket

    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:  # (promises 1 MiB, sends 5 bytes, hangs up)
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\npart!")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    into = tmp_path / "dl"
    into.mkdir()
    try:
        with pytest.raises(BuildError, match="reading 'http://127.0.0.1"):
            download(f"http://127.0.0.1:{listener.getsockname()[1]}/big.bin", str(into), timeout=10)
    finally:
        thread.join(10)
        listener.close()
    assert os.listdir(into) == []


def test_heredoc_sources_are_written_as_files(rootfs: Path, tmp_path: Path) -> None:
    into = tmp_path / "heredocs"
    into.mkdir()
    sources = [write_heredoc(str(into), "EOT", "hello\n"), write_heredoc(str(into), "run.sh", "echo hi\n")]
    copy_into(str(rootfs), sources, "/h/", "/", chown="alice", chmod=None, extract_archives=False)
    assert (rootfs / "h" / "EOT").read_text() == "hello\n"
    st = os.stat(rootfs / "h" / "run.sh")
    assert stat.S_IMODE(st.st_mode) == 0o664 and (st.st_uid, st.st_gid) == (1000, 1000)


@pytest.mark.parametrize("name", ["..", ".", "/", "../.."])
def test_heredoc_names_that_are_no_file_names_stay_in_their_directory(tmp_path: Path, name: str) -> None:
    into = tmp_path / "heredocs"
    into.mkdir()
    root, rel = write_heredoc(str(into), name, "text\n")
    assert root == str(into) and "/" not in rel and rel not in (".", "..")
    assert (into / rel).read_text() == "text\n" and os.listdir(tmp_path) == ["heredocs"]
