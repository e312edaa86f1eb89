"""``diff`` and ``export`` for real, on both storage drivers: paths added, changed and deleted in
a container show up in ``diff`` (podman's lines and JSON); the exported tar, imported again,
runs and holds the container's changes; bad input exits 125 with one line and changes nothing."""
from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import CAPSA, Capsa
from containers import STORAGE_DRIVERS, cleanup, driver_store, oci_busybox_store

SCRIPT = ("echo new > /new.txt && echo more >> /etc/passwd && rm /etc/group && mkdir -p /var/www/d && "
          "echo y > /var/www/d/f && rm -r /home/alice && ln -s /new.txt /bin/newlink")
EXPECTED = ["C /bin", "A /bin/newlink", "C /etc", "D /etc/group", "C /etc/passwd", "C /home", "D /home/alice",
            "A /new.txt", "C /var", "C /var/www", "A /var/www/d", "A /var/www/d/f"]
EXPECTED_JSON = {"changed": ["/bin", "/etc", "/etc/passwd", "/home", "/var", "/var/www"],
                 "added": ["/bin/newlink", "/new.txt", "/var/www/d", "/var/www/d/f"],
                 "deleted": ["/etc/group", "/home/alice"]}


@pytest.fixture(scope="module", params=STORAGE_DRIVERS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from driver_store(request, tmp_path_factory, "diffexport")


@pytest.fixture
def c(store: Capsa) -> Iterator[Capsa]:
    yield store
    left = cleanup(store)
    assert left == [], f"left behind: {left}"


def ok(c: Capsa, *args: str) -> str:
    r = c(*args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def raw(c: Capsa, *args: str, stdout: int | None = None) -> subprocess.CompletedProcess[bytes]:
    """``capsa ARGS`` with binary output (a tar on stdout)."""
    argv = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), *args]
    return subprocess.run(argv, env=c.env, stdout=subprocess.PIPE if stdout is None else stdout,
                          stderr=subprocess.PIPE, timeout=60)


def mounts_under(c: Capsa) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [p for p in (line.split()[4] for line in fh) if p.startswith((str(c.root), str(c.runroot)))]


def store_state(c: Capsa) -> tuple[str, str, list[str]]:
    """What a failed command must leave as it was: containers, images and mounts."""
    return ok(c, "ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}"), ok(c, "images", "-q", "--no-trunc"), mounts_under(c)


def changed_container(c: Capsa, name: str) -> None:
    """A stopped container that added, changed and deleted files, directories and a symlink."""
    r = c("run", "--name", name, "busybox", "sh", "-c", SCRIPT)
    assert r.returncode == 0, r.stderr


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_diff_of_a_stopped_container_lists_added_changed_and_deleted_paths(c: Capsa) -> None:
    changed_container(c, "changed")
    assert lines(ok(c, "diff", "changed")) == EXPECTED
    assert lines(ok(c, "container", "diff", "changed")) == EXPECTED
    out = ok(c, "diff", "--format", "json", "changed")
    assert out == json.dumps(EXPECTED_JSON, separators=(",", ":")) + "\n"  # podman's one-line shape and key order
    assert ok(c, "diff", "--latest") == ok(c, "diff", "changed")
    assert lines(ok(c, "diff", "changed", "busybox")) == EXPECTED  # against its own image: the same
    assert mounts_under(c) == []  # nothing left mounted by diff


def test_diff_of_a_running_container_follows_its_writes(c: Capsa) -> None:
    ok(c, "run", "-d", "--name", "live", "busybox", "sh", "-c", f"{SCRIPT} && touch /ready && exec sleep 600")
    deadline = time.monotonic() + 20
    while "A /ready" not in lines(ok(c, "diff", "live")):
        assert time.monotonic() < deadline, "the container's writes never showed up in diff"
        time.sleep(0.1)
    assert lines(ok(c, "diff", "live")) == sorted([*EXPECTED, "A /ready"], key=lambda line: line[2:])
    ok(c, "stop", "-t", "0", "live")
    assert lines(ok(c, "diff", "live")) == sorted([*EXPECTED, "A /ready"], key=lambda line: line[2:])


def test_an_unchanged_container_has_an_empty_diff(c: Capsa) -> None:
    ok(c, "create", "--name", "fresh", "busybox", "true")
    assert ok(c, "diff", "fresh") == ""
    assert ok(c, "diff", "--format", "json", "fresh") == "{}\n"
    ok(c, "start", "-a", "fresh")
    assert ok(c, "diff", "fresh") == ""  # the runtime's mountpoints (/etc/hosts...) are not shown, as podman


def test_diff_of_an_image_lists_its_top_layer(c: Capsa) -> None:
    out = lines(ok(c, "diff", "busybox"))
    assert "A /bin/busybox" in out and "A /etc/passwd" in out and all(line.startswith("A /") for line in out)
    assert lines(ok(c, "image", "diff", "busybox")) == out
    r = c("container", "diff", "busybox")
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr.startswith('Error: no container with name or ID "busybox" found')


def test_export_of_a_stopped_container_imports_and_runs_with_its_changes(c: Capsa) -> None:
    changed_container(c, "exported")
    tar_path = c.tmp / "exported.tar"
    assert ok(c, "export", "-o", str(tar_path), "exported") == ""
    assert mounts_under(c) == []  # what export mounted is released
    with tarfile.open(tar_path) as tar:
        names = set(tar.getnames())
        assert {"bin/busybox", "bin/sh", "new.txt", "etc/passwd", "var/www/d/f"} <= names
        assert "etc/group" not in names and not any(n.startswith("home/alice") for n in names)
        assert not any(".wh." in n for n in names)
        assert tar.getmember("bin/newlink").issym() and tar.getmember("bin/newlink").linkname == "/new.txt"
        assert tar.extractfile("etc/passwd").read().endswith(b"more\n")  # type: ignore[union-attr]
    for argv in (["export", "exported"], ["container", "export", "exported"]):
        piped = raw(c, *argv)
        assert (piped.returncode, piped.stderr) == (0, b"")
        assert piped.stdout == tar_path.read_bytes()  # the same archive on stdout

    image = ok(c, "import", str(tar_path), "reimported").strip()
    assert image.startswith("sha256:")
    try:
        out = ok(c, "run", "--rm", "reimported", "sh", "-c", "cat /new.txt; tail -1 /etc/passwd; readlink /bin/newlink; "
                 "test -e /etc/group || echo no-group; test -e /home/alice || echo no-alice; cat /var/www/d/f")
        assert out == "new\nmore\n/new.txt\nno-group\nno-alice\ny\n"
    finally:
        c("rmi", "reimported")


@pytest.fixture(scope="module")
def oci_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from oci_busybox_store(tmp_path_factory, "diffexport-oci")


def test_export_and_diff_of_a_running_container_under_crun(oci_store: Capsa) -> None:
    """crun mounts /proc, /dev... inside the container: neither diff nor export sees them."""
    try:
        check_running_export(oci_store)
    finally:
        left = cleanup(oci_store)
        assert left == [], f"left behind: {left}"


def test_export_piped_into_import_does_not_deadlock(c: Capsa) -> None:
    """``capsa export c | capsa import - img`` through real processes: export holds no store
    lock while it writes (the archive is far bigger than a pipe's buffer) and import reads its
    standard input before it takes the store's exclusive lock."""
    changed_container(c, "piped")
    argv = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot)]
    exporter = subprocess.Popen([*argv, "export", "piped"], env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert exporter.stdout is not None
    try:
        importer = subprocess.run([*argv, "import", "-", "pipedimage"], env=c.env, stdin=exporter.stdout,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        exporter.stdout.close()
        assert exporter.wait(timeout=60) == 0, exporter.stderr.read()  # type: ignore[union-attr]
    finally:
        if exporter.poll() is None:
            exporter.kill()
            exporter.wait()
        exporter.stderr.close()  # type: ignore[union-attr]
    assert importer.returncode == 0, importer.stderr
    try:
        out = ok(c, "run", "--rm", "pipedimage", "sh", "-c", "cat /new.txt /var/www/d/f")
        assert out == "new\ny\n"
    finally:
        c("rmi", "pipedimage")


def test_rm_waits_for_an_export_in_progress(c: Capsa) -> None:
    """An export pins its container: an rm that comes meanwhile waits for the archive to be
    complete instead of taking the layer away under it."""
    changed_container(c, "pinned")
    argv = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot)]
    exporter = subprocess.Popen([*argv, "export", "pinned"], env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert exporter.stdout is not None
    try:
        head = exporter.stdout.read(512)  # export has started (and blocks on the full pipe)
        assert len(head) == 512
        remover = subprocess.Popen([*argv, "rm", "pinned"], env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1)
        assert remover.poll() is None  # waiting for the export
        rest = exporter.stdout.read()
        assert exporter.wait(timeout=60) == 0
        assert remover.wait(timeout=60) == 0
    finally:
        for proc in (exporter,):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        exporter.stdout.close()
        exporter.stderr.close()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(head + rest)) as tar:
        assert tar.extractfile("new.txt").read() == b"new\n"  # type: ignore[union-attr]
    assert "pinned" not in ok(c, "ps", "-a", "--format", "{{.Names}}")


def test_export_of_a_running_container_keeps_it_running(c: Capsa) -> None:
    check_running_export(c)


def check_running_export(c: Capsa) -> None:
    ok(c, "run", "-d", "--name", "busy", "busybox", "sh", "-c", "echo live > /live.txt && touch /ready && exec sleep 600")
    deadline = time.monotonic() + 20
    while "A /ready" not in lines(ok(c, "diff", "busy")):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    before = mounts_under(c)
    data = raw(c, "export", "busy")
    assert data.returncode == 0, data.stderr
    with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
        assert tar.extractfile("live.txt").read() == b"live\n"  # type: ignore[union-attr]
        names = tar.getnames()
        assert not any(n.startswith("proc/") for n in names)  # the container's own mounts are not in it
    assert mounts_under(c) == before  # its mount stays, and only once
    assert ok(c, "inspect", "--format", "{{.State.Status}}", "busy").strip() == "running"
    assert lines(ok(c, "diff", "busy")) == ["A /live.txt", "A /ready"]
    ok(c, "stop", "-t", "0", "busy")


def test_export_of_a_container_that_churns_and_swaps_a_directory_for_a_symlink(c: Capsa) -> None:
    """A running container keeps creating and deleting files and swapping the directory /s for
    a symlink to /: every export succeeds and nothing of / is read through /s."""
    script = ("while true; do mkdir -p /s/d; echo x > /s/d/f; rm -rf /s; ln -s / /s; rm /s; "
              "echo y > /churn; rm -f /churn; done")
    ok(c, "run", "-d", "--name", "churn", "busybox", "sh", "-c", script)
    try:
        for _ in range(5):
            data = raw(c, "export", "churn")
            assert data.returncode == 0, data.stderr
            with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
                under = [n for n in tar.getnames() if n.startswith("s/")]
            assert set(under) <= {"s/d", "s/d/f"}, under[:5]
    finally:
        ok(c, "rm", "-f", "-t", "0", "churn")


def test_export_refuses_a_terminal(c: Capsa) -> None:
    ok(c, "create", "--name", "tty", "busybox", "true")
    import pty

    leader, follower = pty.openpty()
    try:
        r = raw(c, "export", "tty", stdout=follower)
    finally:
        os.close(follower)
        os.close(leader)
    assert r.returncode == 125
    assert r.stderr.decode().splitlines()[0] == "Error: refusing to export to terminal. Use -o flag or redirect"


def test_bad_input_exits_125_with_one_line_and_changes_nothing(c: Capsa, tmp_path: Path) -> None:
    ok(c, "create", "--name", "kept", "busybox", "true")
    before = store_state(c)
    cases = [
        (["diff", "nosuch"], "Error: nosuch not found: no such object"),
        (["container", "diff", "nosuch"], 'Error: no container with name or ID "nosuch" found: no such container'),
        (["image", "diff", "nosuch"], "Error: "),
        (["diff", "kept", "nosuch"], "Error: nosuch not found: no such object"),
        (["diff", "--format", "table", "kept"], "Error: only valid format for diff is 'json'"),
        (["diff"], "Error: accepts between 1 and 2 arg(s), received 0"),
        (["export"], "Error: accepts 1 arg(s), received 0"),
        (["export", "nosuch"], 'Error: no container with name or ID "nosuch" found: no such container'),
        (["export", "-o", str(tmp_path / "missing-dir" / "out.tar"), "kept"], f"Error: cannot write {tmp_path}/missing-dir/out.tar"),
        (["export", "-o", str(tmp_path), "kept"], f"Error: {tmp_path} is a directory"),
        (["export", "-o", str(tmp_path / "a:b.tar"), "kept"], "Error: invalid filename (should not contain ':')"),
        (["export", "-o", str(tmp_path / "x.tar"), "nosuch"], 'Error: no container with name or ID "nosuch" found'),
    ]
    for argv, message in cases:
        r = c(*argv)
        assert (r.returncode, r.stdout) == (125, ""), (argv, r)
        first, *rest = r.stderr.splitlines()
        assert first.startswith(message), (argv, r.stderr)
        assert len(rest) <= 1, (argv, r.stderr)  # the one line, and at most its hint
    assert store_state(c) == before
    assert list(tmp_path.iterdir()) == []  # no archive, no temporary file


def test_an_unwritable_output_file_is_left_as_it_was(c: Capsa, tmp_path: Path) -> None:
    """As root a directory's mode stops nothing: a read-only file system refuses the archive."""
    ok(c, "create", "--name", "ro", "busybox", "true")
    locked = tmp_path / "locked"
    locked.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(locked)], check=True)
    try:
        (locked / "old.tar").write_bytes(b"old")
        subprocess.run(["mount", "-o", "remount,ro", str(locked)], check=True)
        for name in ("old.tar", "new.tar"):
            r = c("export", "-o", str(locked / name), "ro")
            assert (r.returncode, r.stdout) == (125, "")
            assert r.stderr.splitlines()[0].startswith(f"Error: cannot write {locked}/{name}: Read-only file system")
        assert os.listdir(locked) == ["old.tar"] and (locked / "old.tar").read_bytes() == b"old"
    finally:
        subprocess.run(["umount", str(locked)], check=True)


def test_a_rootfs_container_exports_its_directory_and_has_no_diff(c: Capsa, tmp_path: Path) -> None:
    from containers import busybox_rootfs

    root = busybox_rootfs(tmp_path / "exploded")
    (root / "marker").write_text("here\n")
    ok(c, "create", "--name", "onroot", "--rootfs", str(root), "true")
    data = raw(c, "export", "onroot")
    assert data.returncode == 0, data.stderr
    with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
        assert tar.extractfile("marker").read() == b"here\n"  # type: ignore[union-attr]
    r = c("diff", "onroot")
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr.startswith("Error: container onroot has no layer of its own")
