"""``capsa build`` failing: a RUN that exits non-zero, an unknown instruction, a missing COPY
source, a bad tag, and ctrl-C during a RUN. Each leaves nothing tagged and no container,
mount, monitor or container process behind."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from buildtest import build, build_containers, build_store_fixtures, context
from conftest import CAPSA, Capsa


store, c = build_store_fixtures("build-fail")


def names(c: Capsa) -> list[str]:
    return c("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()


def test_a_failing_run_stops_the_build_with_step_command_and_code(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo before\nRUN exit 3\nRUN echo never\n")
    r = build(c, ctx, "-t", "failed")
    assert r.returncode == 3  # (podman's: the command's exit code)
    assert r.stderr.splitlines()[0] == 'Error: building at STEP "RUN exit 3": while running runtime: exit status 3'
    assert "before" in r.stdout.splitlines() and "never" not in r.stdout
    assert "localhost/failed:latest" not in names(c)
    r = build(c, context(tmp_path, "FROM busybox\nRUN false\n"), "-t", "failed")
    assert r.returncode == 1
    assert 'building at STEP "RUN false": while running runtime: exit status 1' in r.stderr


def test_an_unknown_instruction_fails_with_its_line_before_any_step(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo ran\n\nFOO bar\n")
    r = build(c, ctx, "-t", "unknown")
    assert r.returncode == 125
    assert r.stderr.startswith("Error: Containerfile:4: unknown instruction: FOO")
    assert r.stdout == ""
    assert "localhost/unknown:latest" not in names(c)


def test_a_missing_copy_source_fails_the_step(c: Capsa, tmp_path: Path) -> None:
    r = build(c, context(tmp_path, "FROM busybox\nCOPY nope /x\n"), "-t", "missing")
    assert r.returncode == 125
    assert 'building at STEP "COPY nope /x": ' in r.stderr and "no such file or directory" in r.stderr
    assert "localhost/missing:latest" not in names(c)


def test_bad_input_changes_nothing(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo x\n")
    before = c("images", "-a", "-q").stdout
    for args in (["-t", "Bad:Name:x"], ["-f", "nonexistent"], ["--pull", "sometimes"], ["--format", "tar"]):
        r = build(c, ctx, *args)
        assert r.returncode == 125, args
        assert "STEP" not in r.stdout
    r = c("build", "-t", "x", str(tmp_path / "no-such-dir"))
    assert r.returncode == 125
    assert c("images", "-a", "-q").stdout == before


def test_ctrl_c_during_a_run_stops_it_and_leaves_nothing(c: Capsa, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo started; sleep 60\n")
    argv = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "build", "--no-cache", "-t", "interrupted",
            str(ctx)]
    # (a terminal's ctrl-C: SIGINT to the whole foreground process group, capsa and its children)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=c.env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        seen = b""
        deadline = time.monotonic() + 60
        # (the RUN's own line: "STEP 2/2: RUN echo started; sleep 60" names the word too)
        while b"\nstarted\n" not in seen and time.monotonic() < deadline:
            chunk = os.read(proc.stdout.fileno(), 4096)  # type: ignore[union-attr]
            if not chunk:
                break
            seen += chunk
        assert b"\nstarted\n" in seen, seen
        assert len(build_containers(c)) == 1  # (the RUN's container, hidden from plain ps)
        assert c("ps", "-a", "-q").stdout == ""
        os.killpg(os.getpgid(proc.pid), signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "localhost/interrupted:latest" not in names(c)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sleeping(c):
        time.sleep(0.1)
    assert sleeping(c) == []


def sleeping(c: Capsa) -> list[str]:
    """Processes still running the RUN's ``sleep 60``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"60"]:
                    found.append(proc.name)
            except OSError:
                continue
    return found
