"""``cp`` for real: both directions, docker's destination rules, ``-`` tar streams, ``--archive``
ownership, running and stopped containers, volumes; a table of escape attempts (symlinks to host
paths, ``..``, hostile tar streams, a running container swapping a directory for a symlink during
the copies: CVE-2019-10152, CVE-2018-15664), each checked against a host canary afterwards; and
bad input (exit 125, one line, nothing changed)."""
from __future__ import annotations

import errno
import hashlib
import io
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import CAPSA, Capsa
from containers import oci_busybox_store, store_fixtures

store, c = store_fixtures("cp")

HOST_FILES = ("/etc/passwd", "/etc/shadow", "/etc/hostname")


def ok(c: Capsa, *args: str) -> str:
    r = c(*args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def raw(c: Capsa, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    argv = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), *args]
    return subprocess.run(argv, env=c.env, input=data, capture_output=True, timeout=60)


def container(c: Capsa, name: str, script: str = "true", running: bool = False) -> str:
    """A container that ran ``script`` (stopped), or that runs it then sleeps (``running``)."""
    if running:
        ok(c, "run", "-d", "--name", name, "busybox", "sh", "-c", f"{script}; sleep 1000")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "ready" not in c("logs", name).stdout:
            time.sleep(0.05)
    else:
        ok(c, "run", "--name", name, "busybox", "sh", "-c", script)
    return name


def tree(path: Path) -> dict[str, tuple[str, int, str]]:
    """Kind, mode and content (or link target) of everything under ``path``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            if p.is_symlink():
                out[str(p.relative_to(path))] = ("l", 0, os.readlink(p))
            elif p.is_dir():
                out[str(p.relative_to(path))] = ("d", st.st_mode & 0o7777, "")
            else:
                out[str(p.relative_to(path))] = ("f", st.st_mode & 0o7777, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


@pytest.fixture
def canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A host directory with known content; the host's /etc files, / and /tmp are checked too."""
    home = tmp_path_factory.mktemp("canary")
    (home / "victim").write_text("precious\n")
    (home / "dir").mkdir()
    (home / "dir" / "inner").write_text("inner\n")
    before = (tree(home), {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in HOST_FILES if Path(f).exists()},
              sorted(os.listdir("/")), sorted(os.listdir("/etc")), sorted(os.listdir("/tmp")))
    yield home
    after = (tree(home), {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in HOST_FILES if Path(f).exists()},
             sorted(os.listdir("/")), sorted(os.listdir("/etc")), sorted(os.listdir("/tmp")))
    assert after[:2] == before[:2], "the host canary or /etc changed"
    for i, where in ((2, "/"), (3, "/etc"), (4, "/tmp")):
        added = [n for n in set(after[i]) - set(before[i]) if "pwn" in n]
        assert not added, f"written on the host in {where}: {added}"


def out_of(c: Capsa, name: str, path: str, dest: Path) -> Path:
    ok(c, "cp", f"{name}:{path}", str(dest))
    return dest


# -- functional ------------------------------------------------------------------------------


def test_files_and_directories_both_ways_with_docker_rules(c: Capsa, tmp_path: Path) -> None:
    name = container(c, "fn", "mkdir -p /existing && echo old > /existing/file")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A\n")
    (src / "sub" / "b.txt").write_text("B\n")
    os.chmod(src / "a.txt", 0o640)
    os.symlink("/etc/passwd", src / "link")
    os.link(src / "a.txt", src / "hard")
    ok(c, "cp", str(src / "a.txt"), f"{name}:/new.txt")                  # file -> missing path: that file
    ok(c, "cp", str(src / "a.txt"), f"{name}:/existing/file")           # file -> file: overwritten
    ok(c, "cp", str(src / "a.txt"), f"{name}:/existing")                # file -> dir: dir/basename
    ok(c, "cp", str(src), f"{name}:/newdir")                            # dir -> missing: created, contents
    ok(c, "cp", str(src), f"{name}:/existing")                          # dir -> dir: dir/basename
    ok(c, "cp", str(src) + "/.", f"{name}:/tmp")                        # dir/. -> dir: contents
    back = tmp_path / "back"
    back.mkdir()
    assert (out_of(c, name, "/new.txt", back / "n.txt")).read_text() == "A\n"
    assert (out_of(c, name, "/existing/file", back / "f")).read_text() == "A\n"
    out_of(c, name, "/existing", back)                                  # dir -> existing dir: back/existing
    got = back / "existing"
    assert (got / "a.txt").read_text() == "A\n" and (got / "src" / "sub" / "b.txt").read_text() == "B\n"
    assert os.readlink(got / "src" / "link") == "/etc/passwd"           # symlinks copied as links
    assert os.stat(got / "src" / "a.txt").st_ino == os.stat(got / "src" / "hard").st_ino  # hardlinks kept
    assert os.stat(got / "src" / "a.txt").st_mode & 0o777 == 0o640
    out_of(c, name, "/newdir", back / "nd")
    assert tree(back / "nd") == tree(src)
    out_of(c, name, "/tmp/.", back / "t")                               # /. -> missing: contents
    assert (back / "t" / "sub" / "b.txt").read_text() == "B\n"
    r = c("cp", str(src / "a.txt"), f"{name}:/missing-dir/")            # trailing / on a missing dest
    assert r.returncode == 125 and r.stderr.startswith('Error: "/missing-dir/" could not be found')
    r = c("cp", str(src), f"{name}:/new.txt")                           # dir onto a file
    assert r.returncode == 125 and "destination must be a directory when copying a directory" in r.stderr
    r = c("cp", str(src / "a.txt") + "/", f"{name}:/tmp")               # file with a trailing /
    assert r.returncode == 125 and "not a directory" in r.stderr
    (tmp_path / "dirfile").mkdir()
    r = c("cp", f"{name}:/new.txt", str(back / "nd" / "sub") + "/b.txt/")
    assert r.returncode == 125


def test_overwrite_lets_a_directory_and_a_file_replace_each_other(c: Capsa, tmp_path: Path) -> None:
    name = container(c, "ow", "mkdir -p /d/x && echo f > /d/y")
    (tmp_path / "x").write_text("now a file\n")
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "z").write_text("z\n")
    assert c("cp", str(tmp_path / "x"), f"{name}:/d").returncode == 125  # file onto a directory
    assert c("cp", str(tmp_path / "y"), f"{name}:/d").returncode == 125  # directory onto a file
    ok(c, "cp", "--overwrite", str(tmp_path / "x"), f"{name}:/d")
    ok(c, "cp", "--overwrite", str(tmp_path / "y"), f"{name}:/d")
    back = out_of(c, name, "/d", tmp_path / "back")
    assert (back / "x").read_text() == "now a file\n" and (back / "y" / "z").read_text() == "z\n"


def test_archive_chowns_to_the_containers_user_unless_false(c: Capsa, tmp_path: Path) -> None:
    ok(c, "create", "--name", "own", "-u", "alice", "busybox", "true")
    f = tmp_path / "f"
    f.write_text("x")
    os.chown(f, 4321, 4321)
    ok(c, "cp", str(f), "own:/tmp/default")
    ok(c, "cp", "--archive=false", str(f), "own:/tmp/kept")
    r = raw(c, "cp", "own:/tmp", "-")
    members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(r.stdout))}
    assert (members["tmp/default"].uid, members["tmp/default"].gid) == (1000, 1000)
    assert (members["tmp/kept"].uid, members["tmp/kept"].gid) == (4321, 4321)
    back = out_of(c, "own", "/tmp/kept", tmp_path / "back")  # copied out: the caller's
    assert (back.stat().st_uid, back.stat().st_gid) == (os.getuid(), os.getgid())


def test_tar_streams_on_stdin_and_stdout(c: Capsa, tmp_path: Path) -> None:
    name = container(c, "tar", "mkdir -p /data/sub && echo hi > /data/sub/f && ln -s sub/f /data/l")
    r = raw(c, "cp", f"{name}:/data", "-")
    assert r.returncode == 0, r.stderr
    members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(r.stdout))}
    assert set(members) == {"data", "data/sub", "data/sub/f", "data/l"}
    assert members["data/l"].issym() and members["data/l"].linkname == "sub/f"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("in/hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"yo\n"))
    r = raw(c, "cp", "-", f"{name}:/data", data=buf.getvalue())
    assert r.returncode == 0, r.stderr
    assert out_of(c, name, "/data/in/hello", tmp_path / "h").read_text() == "yo\n"
    r = raw(c, "cp", "-", f"{name}:/data/sub/f", data=buf.getvalue())  # stdin needs a directory
    assert r.returncode == 125 and b"destination must be a directory when copying from stdin" in r.stderr
    r = raw(c, "cp", "-", f"{name}:/data", data=b"not a tar archive at all\n" * 40)
    assert r.returncode == 125 and r.stderr.startswith(b"Error: source must be a (compressed) tar archive")
    import gzip
    r = raw(c, "cp", "-", f"{name}:/data", data=gzip.compress(buf.getvalue()))  # compressed: fine
    assert r.returncode == 0, r.stderr


def test_running_container_and_its_volume_and_bind_mount(c: Capsa, tmp_path: Path) -> None:
    bind = tmp_path / "bind"
    bind.mkdir()
    ok(c, "run", "-d", "--name", "live", "-v", "cpvol:/vol", "-v", f"{bind}:/bind", "busybox", "sh", "-c",
       "while true; do cat /etc/hosts > /tmp/seen; sleep 0.1; done")
    (tmp_path / "f").write_text("F\n")
    ok(c, "cp", str(tmp_path / "f"), "live:/vol/")
    ok(c, "cp", str(tmp_path / "f"), "live:/bind/g")
    ok(c, "cp", str(tmp_path / "f"), "live:/root/")
    assert (bind / "g").read_text() == "F\n"  # through the bind mount, as the container sees it
    assert out_of(c, "live", "/vol/f", tmp_path / "v").read_text() == "F\n"
    assert out_of(c, "live", "/root/f", tmp_path / "r").read_text() == "F\n"
    assert "live" in out_of(c, "live", "/etc/hosts", tmp_path / "hosts").read_text()  # the runtime's file
    (tmp_path / "hosts2").write_text("10.1.2.3 added\n")
    ok(c, "cp", str(tmp_path / "hosts2"), "live:/etc/hosts")  # a file bind mount: written in place
    assert out_of(c, "live", "/etc/hosts", tmp_path / "hosts3").read_text() == "10.1.2.3 added\n"
    deadline = time.monotonic() + 15  # the container sees it (its loop reads it every 0.1 s)
    while out_of(c, "live", "/tmp/seen", tmp_path / "seen").read_text() != "10.1.2.3 added\n":
        assert time.monotonic() < deadline, "the container never saw the new /etc/hosts"
        time.sleep(0.2)
    whole = out_of(c, "live", "/", tmp_path / "whole")
    assert (whole / "vol" / "f").read_text() == "F\n" and (whole / "bind" / "g").read_text() == "F\n"
    r = raw(c, "cp", "live:/", "-")  # the tar stream reads through the mounts too
    names = tarfile.open(fileobj=io.BytesIO(r.stdout)).getnames()
    assert "vol/f" in names and "bind/g" in names and "root/f" in names
    r = raw(c, "cp", "live:/bind", "-")
    assert tarfile.open(fileobj=io.BytesIO(r.stdout)).getnames() == ["bind", "bind/g"]
    ok(c, "rm", "-f", "-t", "0", "live")
    ok(c, "volume", "rm", "cpvol")


def test_bad_input_is_one_line_and_changes_nothing(c: Capsa, tmp_path: Path) -> None:
    name = container(c, "bad")
    (tmp_path / "f").write_text("x")
    before = tree(tmp_path)
    cases = [
        (["cp", f"{name}:/nope", str(tmp_path / "o")], 'Error: "/nope" could not be found on container bad: no such file or directory'),
        (["cp", str(tmp_path / "nope"), f"{name}:/tmp"], "could not be found on the host"),
        (["cp", str(tmp_path / "f"), "ghost:/tmp"], 'Error: container "ghost" does not exist'),
        (["cp", "ghost:/etc/passwd", str(tmp_path / "o")], 'Error: container "ghost" does not exist'),
        (["cp", str(tmp_path / "f"), str(tmp_path / "g")], "no container given"),
        (["cp", str(tmp_path / "f"), f"{name}:"], "you must specify paths"),
        (["cp", f"{name}:/etc/passwd", str(tmp_path / "no" / "dir")], "could not be found on the host: no such file"),
        (["cp", f"{name}:/etc", str(tmp_path / "f")], "destination must be a directory when copying a directory"),
        (["cp", str(tmp_path / "f")], "accepts 2 arg(s), received 1"),
        (["cp", str(tmp_path / "f"), f"{name}:/no/such/dir/f"], "could not be found on container bad"),
    ]
    for argv, message in cases:
        r = c(*argv)
        assert r.returncode == 125, (argv, r.stderr)
        first = r.stderr.splitlines()[0]
        assert first.startswith("Error: ") and message in first, (argv, r.stderr)
        assert r.stdout == ""
    assert tree(tmp_path) == before


def test_read_only_container_and_mount_refuse_writes(c: Capsa, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ok(c, "create", "--name", "rofs", "-v", f"{ro}:/ro:ro", "busybox", "true")
    (tmp_path / "f").write_text("x")
    r = c("cp", str(tmp_path / "f"), "rofs:/ro/")
    assert r.returncode == 125 and "read-only" in r.stderr
    assert list(ro.iterdir()) == []
    (ro / "there").write_text("from the host\n")  # (reading a never-started container's mount)
    assert out_of(c, "rofs", "/ro", tmp_path / "out").joinpath("there").read_text() == "from the host\n"


# -- escapes ------------------------------------------------------------------------------------

def _escape_cases(canary: Path) -> list[tuple[str, str, list[str], str | None]]:
    """(id, container script, cp arguments with {n} for the container, what must then be inside)."""
    victim = canary / "victim"
    return [
        ("abs-link-to-root", "ln -s / /evil", ["cp", "{f}", "{n}:/evil/etc/pwned"], "/etc/pwned"),
        ("abs-link-to-host-dir", f"mkdir -p {canary} && rmdir {canary} && ln -s {canary} /hostdir; mkdir -p /x",
         ["cp", "{f}", "{n}:/hostdir/pwned"], None),
        ("rel-link-climbing", f"mkdir -p /a/b && ln -s ../../../../../../../..{canary} /a/b/up",
         ["cp", "{f}", "{n}:/a/b/up/pwned"], None),
        ("dotdot-in-dest", "true", ["cp", "{f}", "{n}:/../../../../../../etc/pwned-dotdot"], "/etc/pwned-dotdot"),
        ("dotdot-to-canary", "true", ["cp", "{f}", "{n}:../../../../.." + str(canary) + "/pwned"], None),
        ("final-link-to-host-file", f"ln -s {victim} /etc/target", ["cp", "{f}", "{n}:/etc/target"], None),
        ("middle-link", "mkdir -p /real && ln -s / /real/mid", ["cp", "{f}", "{n}:/real/mid/tmp/pwned-mid"], "/tmp/pwned-mid"),
        ("link-loop", "ln -s /loop2 /loop1 && ln -s /loop1 /loop2", ["cp", "{f}", "{n}:/loop1/pwned"], None),
        ("cp-out-link-to-host-secret", "ln -s /etc/shadow /leak", ["cp", "{n}:/leak", "{o}"], None),
        ("cp-out-dir-with-root-link", "mkdir /d && ln -s / /d/root && ln -s /etc/passwd /d/pw", ["cp", "{n}:/d", "{o}"], None),
        ("cp-out-volume-path-dotdot", "true", ["cp", "{n}:/../../../../etc/passwd", "{o}"], None),
        ("hardlink-in-container", "echo mine > /mine && ln /mine /hl", ["cp", "{n}:/hl", "{o}"], None),
    ]


@pytest.mark.parametrize("case", range(12))
def test_escape_attempts_stay_inside(c: Capsa, canary: Path, tmp_path: Path, case: int) -> None:
    ident, script, argv, inside = _escape_cases(canary)[case]
    name = container(c, f"esc{case}", script)
    f = tmp_path / "payload"
    f.write_text("pwned\n")
    out = tmp_path / "out"
    args = [a.format(n=name, f=f, o=out) for a in argv]
    r = c(*args)
    assert r.returncode in (0, 125), (ident, r.stderr)
    if inside is not None:
        assert r.returncode == 0, (ident, r.stderr)
        assert out_of(c, name, inside, tmp_path / "check").read_text() == "pwned\n", ident
    if out.exists() and out.is_dir():
        got = tree(out)
        assert all(kind != "f" or digest != hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
                   for kind, _, digest in got.values()), ident
        assert got.get("root", ("l",))[0] == "l" and got.get("pw", ("l",))[0] == "l"  # links stay links
    elif out.exists():
        content = out.read_bytes()
        assert content != Path("/etc/shadow").read_bytes() and content != Path("/etc/passwd").read_bytes(), ident


def _tar(*members: tuple[str, str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))  # type: ignore[arg-type]
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, str(data)
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, str(data)
                tar.addfile(info)
    return buf.getvalue()


@pytest.mark.parametrize("ident", ["dotdot-member", "absolute-member", "symlink-then-file", "hardlink-out",
                                   "symlink-dir-to-canary"])
def test_hostile_tar_streams_stay_inside(c: Capsa, canary: Path, tmp_path: Path, ident: str) -> None:
    name = container(c, f"tar-{ident}")
    stream, inside = {
        "dotdot-member": (_tar(("../../../../../../tmp/pwned-dotdot", "file", b"pwned\n")), None),
        "absolute-member": (_tar((f"{canary}/pwned", "file", b"pwned\n")), f"{canary}/pwned"),
        "symlink-then-file": (_tar(("l", "sym", "/"), ("l/etc/pwned-sym", "file", b"pwned\n")), "/etc/pwned-sym"),
        "hardlink-out": (_tar(("h", "hard", "../../../../../etc/passwd")), None),
        "symlink-dir-to-canary": (_tar(("c", "sym", str(canary)), ("c/victim", "file", b"pwned\n")), None),
    }[ident]
    r = raw(c, "cp", "-", f"{name}:/", data=stream)
    assert r.returncode in (0, 125), r.stderr
    if inside is not None:
        assert r.returncode == 0, r.stderr
        assert out_of(c, name, inside, tmp_path / "check").read_text() == "pwned\n"


def test_running_container_swapping_a_bound_directory_and_file_for_host_links(c: Capsa, canary: Path,
                                                                               tmp_path: Path) -> None:
    """A running container renames a bound directory and a bound file of its own and puts
    symlinks to the host canary in their place: the copies still land in what the container's
    mounts hold (the renamed originals), never through the host source paths."""
    _swap_bound_sources(c, canary, tmp_path)


def test_running_container_swapping_bound_sources_on_the_oci_driver(oci_store: Capsa, canary: Path,
                                                                    tmp_path: Path) -> None:
    try:
        _swap_bound_sources(oci_store, canary, tmp_path)
    finally:
        oci_store("rm", "-f", "-t", "0", "nb")


def _swap_bound_sources(c: Capsa, canary: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "sub").mkdir(parents=True)
    (shared / "file.conf").write_text("conf\n")
    ok(c, "run", "-d", "--name", "nb", "-v", f"{shared}:/a", "-v", f"{shared}/sub:/b",
       "-v", f"{shared}/file.conf:/etc/x.conf", "busybox", "sh", "-c",
       f"mv /a/sub /a/sub.old && ln -s {canary} /a/sub && mv /a/file.conf /a/file.old && "
       f"ln -s {canary}/victim /a/file.conf && echo ready; sleep 1000")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "ready" not in c("logs", "nb").stdout:
        time.sleep(0.05)
    assert (shared / "sub").is_symlink() and (shared / "file.conf").is_symlink()
    f = tmp_path / "f"
    f.write_text("pwned\n")
    ok(c, "cp", str(f), "nb:/b/pwned")
    ok(c, "cp", str(f), "nb:/etc/x.conf")
    assert not (canary / "pwned").exists()
    assert (shared / "sub.old" / "pwned").read_text() == "pwned\n"  # what the container's /b is
    assert (shared / "file.old").read_text() == "pwned\n"  # the bound file, written in place
    ok(c, "cp", "nb:/b/pwned", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "pwned\n"
    r = raw(c, "cp", "-", "nb:/", data=_tar(("b/t", "file", b"pwned\n")))  # (a mount under the directory)
    assert r.returncode == 0, r.stderr
    r = raw(c, "cp", "-", "nb:/b", data=_tar(("t2", "file", b"pwned\n")))
    assert r.returncode == 0, r.stderr
    assert (shared / "sub.old" / "t").read_text() == "pwned\n" and (shared / "sub.old" / "t2").exists()
    ok(c, "rm", "-f", "-t", "0", "nb")


def test_running_container_tmpfs_is_written_as_the_container_sees_it(c: Capsa, tmp_path: Path) -> None:
    ok(c, "run", "-d", "--name", "tm", "--tmpfs", "/scratch", "busybox", "sleep", "1000")
    f = tmp_path / "f"
    f.write_text("T\n")
    ok(c, "cp", str(f), "tm:/scratch/f")
    assert ok(c, "exec", "tm", "cat", "/scratch/f") == "T\n"  # (not hidden in the layer under the tmpfs)
    ok(c, "rm", "-f", "-t", "0", "tm")


def test_copying_out_makes_no_device_nodes_nor_setuid_files_on_the_host(c: Capsa, canary: Path,
                                                                       tmp_path: Path) -> None:
    name = "dev"
    ok(c, "run", "--privileged", "--name", name, "busybox", "sh", "-c",
       "mkdir /d && mknod /d/null c 1 3 && mknod /d/blk b 7 0 && echo x > /d/suid && "
       "chmod 6755 /d/suid && mkdir /d/sgid && chmod 2755 /d/sgid && mkfifo /d/fifo")
    ok(c, "cp", f"{name}:/d", str(tmp_path / "out"))
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["fifo", "sgid", "suid"]  # (podman's IgnoreDevices: skipped)
    assert (out / "suid").stat().st_mode & 0o7777 == 0o755
    assert (out / "sgid").stat().st_mode & 0o7777 == 0o755
    r = c("cp", f"{name}:/d/null", str(tmp_path / "null"))
    assert not (tmp_path / "null").exists(), r.stderr
    ok(c, "cp", f"{name}:/d/suid", str(tmp_path / "one"))
    assert (tmp_path / "one").stat().st_mode & 0o7777 == 0o755


@pytest.mark.parametrize("running", [False, True])
def test_copying_a_tree_onto_a_bind_mount_keeps_the_host_directorys_metadata(c: Capsa, tmp_path: Path,
                                                                              running: bool) -> None:
    bind = tmp_path / "bind"
    bind.mkdir()
    os.chmod(bind, 0o750)
    before = bind.stat()
    ok(c, "run", *(["-d"] if running else []), "--name", "bm", "-v", f"{bind}:/data", "busybox",
       *(["sleep", "1000"] if running else ["true"]))
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "data" / "x").write_text("x\n")
    os.chmod(src / "data", 0o777)
    os.chown(src / "data", 1234, 1234)
    ok(c, "cp", f"{src}/.", "bm:/")  # (src/data lands on the mount /data)
    ok(c, "cp", f"{src}/data/.", "bm:/data")
    after = bind.stat()
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
    assert (bind / "x").read_text() == "x\n"
    ok(c, "rm", "-f", "-t", "0", "bm")


def test_a_stopped_containers_removed_volume_is_not_created_again(c: Capsa, tmp_path: Path) -> None:
    ok(c, "run", "--name", "gone", "-v", "cpgone:/vol", "busybox", "true")
    import shutil

    home = Path(ok(c, "volume", "inspect", "--format", "{{.Mountpoint}}", "cpgone").strip()).parent
    shutil.rmtree(home)  # (gone behind capsa's back: a container still names it)
    f = tmp_path / "f"
    f.write_text("F\n")
    r = c("cp", str(f), "gone:/vol/f")
    assert r.returncode == 125 and r.stderr.count("\n") <= 2, r.stderr
    assert not home.exists()
    ok(c, "rm", "gone")


def test_copying_a_directory_onto_itself_at_the_root_is_refused(c: Capsa) -> None:
    name = container(c, "self", "mkdir /src && echo s > /src/f")
    r = c("cp", f"{name}:/src", f"{name}:/")
    assert r.returncode == 125 and "into itself" in r.stderr, r.stderr


def test_podman_43_missing_slash_destination_and_symlink_source_names(c: Capsa, tmp_path: Path) -> None:
    name = container(c, "p43", "mkdir /d && echo p > /d/passwd && ln -s /d/passwd /link")
    r = c("cp", f"{name}:/d", str(tmp_path / "missing") + "/")
    assert r.returncode == 125 and not (tmp_path / "missing").exists(), r.stderr
    src = tmp_path / "src"
    src.mkdir()
    r = c("cp", str(src), f"{name}:/nodir/")
    assert r.returncode == 125, r.stderr
    assert c("cp", f"{name}:/nodir", str(tmp_path / "x")).returncode == 125  # (nothing made)
    ok(c, "cp", f"{name}:/link", str(tmp_path))
    assert (tmp_path / "passwd").read_text() == "p\n" and not (tmp_path / "link").exists()  # the target's name


def test_symlink_swap_race_in_a_running_container(c: Capsa, canary: Path, tmp_path: Path) -> None:
    """CVE-2018-15664: while the copies run, the host exchanges the container's /w (a directory)
    and /wlink (a symlink to the host canary's path) atomically (renameat2 RENAME_EXCHANGE through
    /proc/PID/root), over and over; copies that meet the swapped state fail (the link is followed
    inside the container, where that path does not exist), the others land in /w; the race must
    be seen both ways, and nothing is ever written to or read from the host."""
    import ctypes
    import threading

    script = f"mkdir -p /w/dir && echo inside > /w/dir/inner && ln -s {canary} /wlink && echo ready"  # (laid out as the canary is)
    name = container(c, "race", script, running=True)
    pid = int(ok(c, "inspect", "--format", "{{.State.Pid}}", name).strip())
    libc = ctypes.CDLL(None, use_errno=True)
    a, b = f"/proc/{pid}/root/w".encode(), f"/proc/{pid}/root/wlink".encode()
    stop, swaps = threading.Event(), [0]

    def swapper() -> None:
        while not stop.is_set():
            assert libc.renameat2(-100, a, -100, b, 2) == 0, os.strerror(ctypes.get_errno())  # RENAME_EXCHANGE
            swaps[0] += 1

    f = tmp_path / "victim"
    f.write_text("pwned\n")
    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    failed = landed = 0
    try:
        for i in range(30):
            r = c("cp", str(f), f"{name}:/w/dir/")
            assert r.returncode in (0, 125), r.stderr
            failed, landed = failed + (r.returncode == 125), landed + (r.returncode == 0)
            out = tmp_path / f"o{i}"
            r = c("cp", f"{name}:/w/dir/inner", str(out))
            failed, landed = failed + (r.returncode == 125), landed + (r.returncode == 0)
            if out.exists():
                assert out.read_text() == "inside\n"  # the host canary's dir/inner never comes out
    finally:
        stop.set()
        thread.join()
    assert swaps[0] > 100 and failed >= 1 and landed >= 1, (swaps[0], failed, landed)
    assert sorted(os.listdir(canary / "dir")) == ["inner"]
    ok(c, "rm", "-f", "-t", "0", name)


def test_running_container_on_the_oci_driver(oci_store: Capsa, tmp_path: Path) -> None:
    c = oci_store
    try:
        ok(c, "run", "-d", "--name", "ocicp", "busybox", "sleep", "1000")
        (tmp_path / "f").write_text("oci\n")
        ok(c, "cp", str(tmp_path / "f"), "ocicp:/tmp/")
        assert out_of(c, "ocicp", "/tmp/f", tmp_path / "back").read_text() == "oci\n"
    finally:
        c("rm", "-f", "-t", "0", "ocicp")


@pytest.fixture(scope="module")
def oci_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from oci_busybox_store(tmp_path_factory, "cp-oci")


def test_container_to_container(c: Capsa, tmp_path: Path) -> None:
    """podman 4.3 copies between two containers too (its man page: "or between two containers")."""
    ok(c, "run", "--name", "c2c-a", "busybox", "sh", "-c", "mkdir -p /src/d && echo one > /src/d/f && ln -s d/f /src/l")
    ok(c, "create", "--name", "c2c-b", "-u", "alice", "busybox", "true")
    ok(c, "cp", "c2c-a:/src", "c2c-b:/dst")
    back = out_of(c, "c2c-b", "/dst", tmp_path / "back")
    assert (back / "d" / "f").read_text() == "one\n" and os.readlink(back / "l") == "d/f"
    r = raw(c, "cp", "c2c-b:/dst/d/f", "-")
    member = tarfile.open(fileobj=io.BytesIO(r.stdout)).getmember("f")
    assert (member.uid, member.gid) == (1000, 1000)  # the destination container's user
    r = c("cp", "c2c-a:/src", "c2c-a:/src/d")  # (into itself: refused, not copied forever)
    assert r.returncode == 125 and "into itself" in r.stderr
    ok(c, "cp", "c2c-a:/src/d", "c2c-a:/copy")  # (within one container)
    assert out_of(c, "c2c-a", "/copy/f", tmp_path / "f").read_text() == "one\n"
    r = c("cp", "c2c-a:/nope", "c2c-b:/dst")
    assert r.returncode == 125 and 'Error: "/nope" could not be found on container c2c-a' in r.stderr


def test_contained_root_resolves_like_a_chroot_across_mounts(tmp_path: Path) -> None:
    """The walker itself: absolute and relative links, ``..`` at the root and out of a mount."""
    from capsa.container.cproot import ContainedRoot, MountSource

    root, vol = tmp_path / "root", tmp_path / "vol"
    (root / "etc").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "etc" / "passwd").write_text("container\n")
    vol.mkdir()
    (vol / "in-volume").write_text("v\n")
    os.symlink("/", root / "toroot")
    os.symlink("../../../../..", root / "etc" / "up")
    os.symlink("/data/in-volume", root / "tovol")
    os.symlink("..", vol / "parent")  # from the volume's root: the container's /, not the host's
    os.symlink("/etc/../../etc/passwd", root / "pw")
    with ContainedRoot(str(root), [MountSource("data", str(vol))]) as r:
        for path, canon in [("/toroot/etc/passwd", "etc/passwd"), ("etc/up/etc/passwd", "etc/passwd"),
                            ("/../../etc/passwd", "etc/passwd"), ("tovol", "data/in-volume"),
                            ("/data/parent/etc/passwd", "etc/passwd"), ("pw", "etc/passwd"), ("/", ""),
                            ("/data/..", ""), ("etc/up", "")]:
            found = r.find(path)
            assert found.canon == canon, path
        found = r.find("/tovol")
        assert os.read(os.open(found.name, os.O_RDONLY, dir_fd=found.parent), 10) == b"v\n"
        assert r.find("/data/new").st is None and r.find("/data/new").parent == r.dir_fd("data", r.root, "data")
        with pytest.raises(FileNotFoundError):
            r.find("/nope/x")
        os.symlink("/loop", root / "loop")
        with pytest.raises(OSError):
            r.find("/loop/x")


def _resolved_by_the_kernel(root_fd: int, path: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of ``path`` resolved by openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    from ``root_fd``; None when it does not resolve. EAGAIN (a rename anywhere on the system
    during a ".." lookup) is retried."""
    from capsa_isolation_linux.mountapi import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

    for _ in range(100):
        try:
            kfd = openat2(root_fd, path.lstrip("/") or ".", os.O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                continue
            return None
        st = os.fstat(kfd)
        os.close(kfd)
        return (st.st_dev, st.st_ino)
    return None


def test_contained_root_agrees_with_the_kernels_resolve_in_root(tmp_path: Path) -> None:
    """Without mounts, the walker lands exactly where openat2(RESOLVE_IN_ROOT |
    RESOLVE_NO_MAGICLINKS) does (the kernel as the oracle), for every path of a tree of hostile
    links, or both find nothing."""
    from capsa.container.cproot import ContainedRoot

    root = tmp_path / "root"
    for d in ("etc", "a/b/c", "usr/lib", "home/u"):
        (root / d).mkdir(parents=True)
    (root / "etc" / "passwd").write_text("container\n")
    (root / "a" / "b" / "c" / "file").write_text("f\n")
    links = {"abs": "/", "up": "../../../../..", "etc/up": "../..", "a/b/rel": "../../etc", "a/b/c/abs": "/etc/passwd",
             "usr/lib/dangling": "/nope/x", "home/u/self": ".", "home/u/chain": "../../abs/a/b/rel/passwd",
             "host": str(tmp_path), "hostfile": "/etc/shadow", "proc-like": "/proc/self/root"}
    for name, target in links.items():
        os.symlink(target, root / name)
    paths = ["etc/passwd", "abs/etc/passwd", "up/etc/passwd", "etc/up/etc/passwd", "a/b/rel/passwd", "a/b/c/abs",
             "a/b/c/../../rel/passwd", "usr/lib/dangling", "home/u/self/self/../u/chain", "host", "hostfile",
             "/../../../etc/passwd", "abs/abs/abs/a/b/c/file", "a/b/c/file/..", "proc-like", "home/u/chain",
             f"host/{root.name}/etc/passwd", "a/../../a/b/c/../c/file"]
    rfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        with ContainedRoot(str(root), []) as r:
            for path in paths:
                kernel = _resolved_by_the_kernel(rfd, path)
                try:
                    found = r.find(path)
                    ours = None if found.st is None else (found.st.st_dev, found.st.st_ino)
                except OSError:
                    ours = None
                assert ours == kernel, path
    finally:
        os.close(rfd)


def test_a_running_containers_root_agrees_with_resolve_in_root_across_its_mounts(c: Capsa, tmp_path: Path) -> None:
    """From a running container's /proc/PID/root the walker crosses its real mounts and lands
    exactly where openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) does from the same fd."""
    from capsa.container.cproot import ContainedRoot, open_live_root

    bind = tmp_path / "bind"
    (bind / "in").mkdir(parents=True)
    (bind / "in" / "f").write_text("b\n")
    ok(c, "run", "-d", "--name", "oracle", "-v", f"{bind}:/data", "--tmpfs", "/scratch", "busybox", "sh", "-c",
       "ln -s /data/in /lin && ln -s ../../data/in/f /scratch/up && ln -s / /data/in/root && echo ready; sleep 1000")
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "ready" not in c("logs", "oracle").stdout:
            time.sleep(0.05)
        pid = int(ok(c, "inspect", "--format", "{{.State.Pid}}", "oracle").strip())
        paths = ["/data/in/f", "/lin/f", "/scratch/up", "/data/in/root/data/in/f", "/data/../etc/passwd",
                 "/lin/../../../etc/hosts", "/etc/hosts", "/scratch", "/data/in/root/scratch/up", "/nope"]
        with ContainedRoot(open_live_root(pid, lambda _pid: True), [], live=True) as r:
            host = (bind / "in" / "f").stat()
            assert r.find("/lin/f").st.st_ino == host.st_ino  # type: ignore[union-attr]  # (the bind's file)
            for path in paths:
                kernel = _resolved_by_the_kernel(r.root, path)
                found = r.find(path)
                ours = None if found.st is None else (found.st.st_dev, found.st.st_ino)
                assert ours == kernel and (path == "/nope" or ours is not None), path
    finally:
        c("rm", "-f", "-t", "0", "oracle")


def test_a_top_level_source_swapped_or_gone_meanwhile_is_an_error(tmp_path: Path) -> None:
    """What the engine resolved as a regular file is a symlink (or gone) when the copy opens
    it: an error, not a silent success (below the top, such an entry is skipped)."""
    from capsa.container.cptree import Copier, Side

    (tmp_path / "real").write_text("r\n")
    st = (tmp_path / "real").stat()
    os.symlink(tmp_path / "real", tmp_path / "swapped")
    (tmp_path / "out").mkdir()
    src = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    dst = os.open(tmp_path / "out", os.O_PATH | os.O_DIRECTORY)
    try:
        copier = Copier(Side(), Side(), None, False)
        for name in ("swapped", "gone"):
            with pytest.raises(OSError):
                copier.copy(src, name, None, dst, "x", None, st=st)
        assert os.listdir(tmp_path / "out") == []
    finally:
        os.close(src)
        os.close(dst)


def test_a_pid_the_container_left_and_a_host_process_took_is_not_the_containers_root(c: Capsa, tmp_path: Path) -> None:
    """The container's process dies while a cp or export holds its lock (so its record still
    names the pid) and a host process gets that pid: cp must not take that process's root (the
    host's) for the container's (second review: the file landed in a host directory)."""
    import signal
    import subprocess

    from capsa.container.records import ContainerRecords

    canary = tmp_path / "canary"
    canary.mkdir()
    (tmp_path / "f").write_text("x\n")
    cid = ok(c, "run", "-d", "--name", "reuse", "busybox", "sleep", "1000").strip()
    pid = int(ok(c, "inspect", "--format", "{{.State.Pid}}", "reuse").strip())
    taker = None
    with ContainerRecords(str(c.root), str(c.runroot)).lock(cid).shared():  # (as a concurrent cp holds it)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in range(200):
            with open("/proc/sys/kernel/ns_last_pid", "w") as fh:
                fh.write(str(pid - 1))
            taker = subprocess.Popen(["sleep", "60"])
            if taker.pid == pid:
                break
            taker.kill()
            taker.wait()
            taker = None
        assert taker is not None, "no host process could be given the container's old pid in 200 tries"
        try:
            r = c("cp", str(tmp_path / "f"), f"reuse:{canary}/")
            assert list(canary.iterdir()) == []
            assert r.returncode == 125 and "stopped while cp looked" in r.stderr, r.stderr
        finally:
            taker.kill()
            taker.wait()
    ok(c, "rm", "-f", "reuse")


def test_overwrite_never_replaces_a_mount_nor_empties_one_below(c: Capsa, tmp_path: Path) -> None:
    """--overwrite in a running container: a directory replacing the file bind mount /etc/hosts,
    and a file replacing a directory with a volume mounted below it, are refused; the mount and
    the volume's host files stay (second review: the mount was detached, the volume emptied)."""
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "precious").write_text("keep\n")
    ok(c, "run", "-d", "--name", "ow", "-v", f"{vol}:/d/sub/v", "busybox", "sleep", "1000")
    (tmp_path / "hosts").mkdir()
    (tmp_path / "hosts" / "x").write_text("x\n")
    r = c("cp", "--overwrite", f"{tmp_path / 'hosts'}", "ow:/etc/")
    assert r.returncode == 125 and "mount" in r.stderr.splitlines()[0], r.stderr
    (tmp_path / "sub").write_text("a file\n")
    r = c("cp", "--overwrite", str(tmp_path / "sub"), "ow:/d/")
    assert r.returncode == 125 and "mount" in r.stderr.splitlines()[0], r.stderr
    assert (vol / "precious").read_text() == "keep\n"
    (tmp_path / "etc").write_text("a file for /etc, which holds the runtime's file bind mounts\n")
    r = c("cp", "--overwrite", str(tmp_path / "etc"), "ow:/")
    assert r.returncode == 125 and "mount" in r.stderr.splitlines()[0], r.stderr
    mounts = ok(c, "exec", "ow", "cat", "/proc/self/mounts")
    assert " /etc/hosts " in mounts and " /etc/resolv.conf " in mounts and " /d/sub/v " in mounts
    ok(c, "rm", "-f", "-t", "0", "ow")
