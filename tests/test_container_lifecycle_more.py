"""``rename`` and ``restart`` (podman's), for real: a busybox store of its own."""
from __future__ import annotations

from pathlib import Path

from conftest import CAPSA, Capsa
from containers import store_fixtures

store, c = store_fixtures("lifecycle-more")


def _one_error_line(r: object) -> str:
    assert r.returncode == 125 and r.stdout == "", (r.returncode, r.stdout, r.stderr)  # type: ignore[attr-defined]
    lines = r.stderr.splitlines()  # type: ignore[attr-defined]
    assert lines[0].startswith("Error: "), r.stderr  # type: ignore[attr-defined]
    return lines[0]


# -- rename ---------------------------------------------------------------------------------------

def test_rename_a_stopped_and_a_running_container(c: Capsa) -> None:
    cid = c("create", "--name", "before", "busybox", "true").stdout.strip()
    r = c("rename", "before", "after")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert c("inspect", "--format", "{{.Name}}", cid).stdout == "after\n"
    assert c("container", "exists", "before").returncode == 1
    assert c("container", "exists", "after").returncode == 0
    assert c("create", "--name", "before", "busybox", "true").returncode == 0  # the old name is free
    c("rm", "before")
    # a running one, by id prefix, through `container rename`; it keeps running
    run = c("run", "-d", "--name", "live", "busybox", "sleep", "60").stdout.strip()
    assert c("container", "rename", run[:12], "live2").returncode == 0
    assert c("ps", "--format", "{{.Names}}").stdout == "live2\n"
    assert c("stop", "-t", "0", "live2").returncode == 0
    assert c("inspect", "--format", "{{.Name}} {{.State.Status}}", run).stdout == "live2 exited\n"
    c("rm", "-f", "live2", "after")


def test_rename_bad_input_changes_nothing(c: Capsa) -> None:
    c("create", "--name", "one", "busybox", "true")
    c("create", "--name", "two", "busybox", "true")
    assert "no such container" in _one_error_line(c("rename", "nosuch", "x"))
    assert 'the container name "two" is already in use' in _one_error_line(c("rename", "one", "two"))
    assert "names must match" in _one_error_line(c("rename", "one", "bad/name"))
    assert "names must match" in _one_error_line(c("rename", "one", ".hidden"))
    assert "accepts 2 arg(s), received 1" in _one_error_line(c("rename", "one"))
    assert "accepts 2 arg(s), received 3" in _one_error_line(c("rename", "one", "a", "b"))
    assert sorted(c("ps", "-a", "--format", "{{.Names}}").stdout.split()) == ["one", "two"]
    c("rm", "one", "two")


# -- restart --------------------------------------------------------------------------------------

def _started_at(c: Capsa, ref: str) -> str:
    return c("inspect", "--format", "{{.State.StartedAt}}", ref).stdout.strip()


def test_restart_a_running_container_stops_then_starts_it(c: Capsa) -> None:
    c("run", "-d", "--name", "r1", "busybox", "sh", "-c", "echo up; sleep 60").stdout.strip()
    first_pid = c("inspect", "--format", "{{.State.Pid}}", "r1").stdout.strip()
    first = _started_at(c, "r1")
    r = c("restart", "-t", "0", "r1")
    assert (r.returncode, r.stdout) == (0, "r1\n"), r.stderr  # (what was typed, as podman)
    state = c("inspect", "--format", "{{.State.Status}} {{.State.Pid}} {{.RestartCount}}", "r1").stdout.split()
    assert state[0] == "running" and state[1] != first_pid and state[2] == "0"  # no policy restart counted
    assert _started_at(c, "r1") != first
    assert c("logs", "r1").stdout == "up\nup\n"
    c("rm", "-f", "-t", "0", "r1")


def test_a_manual_restart_is_not_counted_by_the_restart_policy(c: Capsa) -> None:
    c("run", "-d", "--name", "pol", "--restart", "always", "busybox", "sleep", "60")
    for _ in range(2):
        r = c("restart", "-t", "0", "pol")
        assert r.returncode == 0, r.stderr
    state = c("inspect", "--format", "{{.State.Status}} {{.RestartCount}}", "pol").stdout
    assert state == "running 0\n"
    assert len(c("ps", "--format", "{{.Names}}").stdout.split()) == 1
    c("rm", "-f", "-t", "0", "pol")


def test_restart_starts_created_and_exited_containers(c: Capsa) -> None:
    created = c("create", "--name", "cr", "busybox", "sleep", "60").stdout.strip()
    c("run", "--name", "ex", "busybox", "sh", "-c", "exit 3")
    ex = c("inspect", "--format", "{{.Id}}", "ex").stdout.strip()
    r = c("container", "restart", "cr", "ex")
    assert (r.returncode, r.stdout) == (0, "cr\nex\n"), r.stderr
    assert c("inspect", "--format", "{{.State.Status}}", "cr").stdout == "running\n"
    assert c("wait", "ex").stdout == "3\n"  # ran again and exited again
    c("rm", "-f", "-t", "0", "cr", "ex")


def test_restart_all_running_latest_and_cidfile(c: Capsa, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    r = c("run", "-d", "--name", "up", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    cidfile.write_text(r.stdout)  # (as podman's run --cidfile writes it)
    c("create", "--name", "idle", "busybox", "sleep", "60")
    up, idle = (c("inspect", "--format", "{{.Id}}", n).stdout.strip() for n in ("up", "idle"))
    before = _started_at(c, "up")
    r = c("restart", "--running", "-t", "0")
    assert (r.returncode, r.stdout) == (0, f"{up}\n"), r.stderr
    assert c("inspect", "--format", "{{.State.Status}}", "idle").stdout == "created\n"
    assert _started_at(c, "up") != before
    assert c("restart", "-l", "-t", "0").stdout == f"{idle}\n"
    assert c("inspect", "--format", "{{.State.Status}}", "idle").stdout == "running\n"
    assert c("restart", "--cidfile", str(cidfile), "-t", "0").stdout == f"{up}\n"
    assert c("restart", "--filter", "name=idle", "-t", "0").stdout == f"{idle}\n"
    r = c("restart", "-a", "-t", "0")
    assert sorted(r.stdout.split()) == sorted([up, idle]), r.stderr
    c("rm", "-f", "-t", "0", "up", "idle")


def test_restart_bad_input(c: Capsa) -> None:
    c("create", "--name", "keep", "busybox", "true")
    assert "no such container" in _one_error_line(c("restart", "nosuch"))
    assert "at least one container" in _one_error_line(c("restart"))
    assert "cannot be used together" in _one_error_line(c("restart", "-a", "keep"))
    assert "--running cannot be used" in _one_error_line(c("restart", "--running", "keep"))
    assert "must not be negative" in _one_error_line(c("restart", "-t", "-1", "keep"))
    assert "reading CIDFile" in _one_error_line(c("restart", "--cidfile", "/nonexistent/cid"))
    assert c("inspect", "--format", "{{.State.Status}}", "keep").stdout == "created\n"
    c("rm", "keep")


def test_restart_refuses_a_running_rm_container_and_goes_on_with_the_others(c: Capsa) -> None:
    rmc = c("run", "-d", "--rm", "--name", "rmc", "busybox", "sleep", "60").stdout.strip()
    c("create", "--name", "other", "busybox", "true").stdout.strip()
    line = _one_error_line(c("restart", "-t", "0", "rmc"))
    assert "--rm" in line and rmc in line, line
    assert c("inspect", "--format", "{{.State.Status}}", "rmc").stdout == "running\n"  # kept, untouched
    r = c("restart", "-t", "0", "rmc", "other")  # as podman: on to the next one, 125 at the end
    assert (r.returncode, r.stdout) == (125, "other\n"), r.stderr
    assert r.stderr.count("Error: ") == 1 and "--rm" in r.stderr, r.stderr
    assert c("inspect", "--format", "{{.State.Status}}", "rmc").stdout == "running\n"
    c("rm", "-f", "-t", "0", "rmc", "other")


# -- mount / unmount ------------------------------------------------------------------------------

def _is_mountpoint(path: str) -> bool:
    import os

    return os.path.ismount(path)


def test_mount_prints_the_merged_rootfs_until_unmount(c: Capsa) -> None:
    import json
    import os

    cid = c("create", "--name", "m1", "busybox", "cat", "/written-outside").stdout.strip()
    r = c("mount", "m1")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    path = r.stdout.strip()
    assert r.stdout == f"{path}\n" and os.path.isabs(path) and _is_mountpoint(path)
    assert os.path.isfile(os.path.join(path, "bin", "busybox"))  # the image's files, merged
    with open(os.path.join(path, "written-outside"), "w") as fh:  # a write lands in the container
        fh.write("hello\n")
    r = c("start", "-a", "m1")
    assert (r.returncode, r.stdout) == (0, "hello\n"), r.stderr
    assert c("run", "--rm", "busybox", "true").returncode == 0
    assert _is_mountpoint(path)  # still mounted after the container ran and stopped
    assert c("mount").stdout == f"{cid[:12]}\t{path}\n"
    check = c("system", "check", "--repair", timeout=120)  # a mount of the user's is no leftover
    assert check.returncode == 0 and "stale" not in check.stdout + check.stderr, check.stdout + check.stderr
    assert _is_mountpoint(path)
    assert c("mount", "--no-trunc").stdout == f"{cid}\t{path}\n"
    assert json.loads(c("mount", "--format", "json").stdout) == [{"id": cid, "names": ["m1"], "mountpoint": path}]
    assert c("container", "mount", cid[:12]).stdout == f"{path}\n"  # a second reference
    assert c("umount", "m1").stdout == f"{cid}\n"
    assert _is_mountpoint(path)  # one reference left
    assert c("container", "unmount", "m1").stdout == f"{cid}\n"
    assert not _is_mountpoint(path)
    assert c("mount").stdout == ""
    assert c("unmount", "m1").stdout == f"{cid}\n"  # not mounted: nothing to do
    c("rm", "m1")


def test_unmount_all_force_and_rm_releases_the_mount(c: Capsa) -> None:
    import os

    a = c("create", "--name", "ma", "busybox", "true").stdout.strip()
    b = c("create", "--name", "mb", "busybox", "true").stdout.strip()
    pa = c("mount", "ma").stdout.strip()
    c("mount", "ma")
    c("mount", "ma")
    pb = c("mount", "mb").stdout.strip()
    assert c("unmount", "-f", "ma").stdout == f"{a}\n"  # every reference at once
    assert not _is_mountpoint(pa) and _is_mountpoint(pb)
    c("mount", "ma")
    assert sorted(c("unmount", "-a").stdout.split()) == sorted([a, b])
    assert not _is_mountpoint(pa) and not _is_mountpoint(pb)
    pb = c("mount", "mb").stdout.strip()
    assert c("rm", "mb").returncode == 0  # removal takes the mount with it
    assert not os.path.exists(pb) or not _is_mountpoint(pb)
    c("rm", "ma")


def test_a_running_container_stays_mounted(c: Capsa) -> None:
    cid = c("run", "-d", "--name", "mr", "busybox", "sleep", "60").stdout.strip()
    listed = c("mount").stdout
    assert listed.startswith(f"{cid[:12]}\t"), listed
    path = listed.split("\t", 1)[1].strip()
    assert _is_mountpoint(path)
    for _ in range(3):
        r = c("unmount", "mr")
        assert (r.returncode, r.stdout) == (0, ""), r.stderr  # skipped, as podman
        assert _is_mountpoint(path)
    assert c("unmount", "-a", "-f").stdout == ""
    assert c("inspect", "--format", "{{.State.Status}}", "mr").stdout == "running\n"
    assert c("mount", "mr").stdout == f"{path}\n"  # a reference of the user's on top
    c("stop", "-t", "0", "mr")
    assert _is_mountpoint(path)  # the user's reference outlives the run
    assert c("umount", "mr").stdout == f"{cid}\n"
    assert not _is_mountpoint(path)
    c("rm", "mr")


def test_mount_bad_input(c: Capsa) -> None:
    c("create", "--name", "mk", "busybox", "true")
    assert "no such container" in _one_error_line(c("mount", "nosuch"))
    assert "no such container" in _one_error_line(c("unmount", "nosuch"))
    assert "container ID must be specified" in _one_error_line(c("unmount"))
    assert "--all switch" in _one_error_line(c("mount", "-a", "mk"))
    assert "--all switch" in _one_error_line(c("unmount", "-a", "mk"))  # not silently ignored
    assert "unknown --format" in _one_error_line(c("mount", "--format", "table"))
    assert c("mount").stdout == ""  # nothing was mounted
    c("rm", "mk")


def test_mount_counts_are_volatile_and_the_listing_mounts_nothing(c: Capsa) -> None:
    import shutil
    import subprocess

    cid = c("create", "--name", "mv", "busybox", "true").stdout.strip()
    path = c("mount", "mv").stdout.strip()
    assert (c.runroot / "containers" / cid / "user-mounts").is_file()  # in the runroot, with the counts
    assert not (c.root / "containers" / cid / "user-mounts").exists()
    subprocess.run(["umount", path], check=True)  # behind capsa's back: the listing must not remount it
    assert c("mount").stdout == f"{cid[:12]}\t{path}\n" and not _is_mountpoint(path)
    # a reboot empties the runroot: the driver's counts and the container's run dir go
    for counts in c.runroot.rglob("mounts.json"):
        counts.unlink()
    shutil.rmtree(c.runroot / "containers" / cid)
    assert c("mount").stdout == ""  # no longer listed as mounted
    assert c("rm", "mv").returncode == 0


# -- lock order -----------------------------------------------------------------------------------

def test_rm_waits_for_the_container_lock_without_holding_the_store_lock(c: Capsa) -> None:
    """rm takes the container's lock before the store's, as start does: an rm that waits for a
    container (held here, as a start holds it while it takes the store lock) must not hold the
    store meanwhile; the other order deadlocks an rm against a start."""
    import subprocess
    import time

    from capsa.container.records import ContainerRecords

    cid = c("create", "--name", "held", "busybox", "true").stdout.strip()
    lock = ContainerRecords(str(c.root), str(c.runroot)).lock(cid)
    with lock.exclusive():
        rm = subprocess.Popen([str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "rm", "held"],
                              env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert rm.poll() is None  # waiting for the container
        r = c("create", "--name", "other", "busybox", "true", timeout=20)  # takes the store lock
        assert r.returncode == 0, r.stderr
    assert rm.wait(timeout=20) == 0, rm.stderr.read()  # type: ignore[union-attr]
    assert c("container", "exists", "held").returncode == 1
    c("rm", "other")
