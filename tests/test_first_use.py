"""What a new user meets first (issue 9, item 11), each as podman 4.3 does it: a container whose
start fails stays (exited, with the reason), working directories, exit codes 126/127, the
image's full name in ps and inspect, stop's SIGKILL warning."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import Capsa
from containers import busybox_rootfs, store_fixtures


store, c = store_fixtures("first-use")


def state(c: Capsa, name: str) -> dict:
    r = c("inspect", "--format", "{{json .State}}", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# -- working directories ----------------------------------------------------------------------

def test_a_missing_workdir_given_with_w_fails_as_podman_says(c: Capsa) -> None:
    r = c("run", "--rm", "-w", "/nonexistent", "busybox", "pwd")
    assert r.returncode == 126, r.stderr
    error = r.stderr.splitlines()[0]
    assert error.startswith('Error: workdir "/nonexistent" does not exist on container '), r.stderr
    assert "config.json" not in r.stderr


def test_a_workdir_that_is_a_file_fails_clearly(c: Capsa) -> None:
    r = c("run", "--rm", "-w", "/etc/passwd", "busybox", "pwd")
    assert r.returncode == 126
    assert r.stderr.startswith('Error: workdir "/etc/passwd" exists on container ')
    assert "but is not a directory" in r.stderr.splitlines()[0]


def test_the_images_missing_workdir_is_created_and_mounts_are_left_to_the_runtime(c: Capsa, tmp_path: Path) -> None:
    root = busybox_rootfs(tmp_path / "rootfs")
    tar = tmp_path / "wd.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    r = c("import", "-q", "-c", "WORKDIR /app/sub", "-c", 'CMD ["/bin/pwd"]', str(tar), "wd")
    assert r.returncode == 0, r.stderr
    try:
        r = c("run", "--rm", "wd")
        assert (r.returncode, r.stdout) == (0, "/app/sub\n"), r.stderr
        (tmp_path / "vol" / "inner").mkdir(parents=True)
        r = c("run", "--rm", "-v", f"{tmp_path / 'vol'}:/data", "-w", "/data/inner", "busybox", "pwd")
        assert (r.returncode, r.stdout) == (0, "/data/inner\n"), r.stderr
    finally:
        c("rmi", "-f", "wd")


def test_a_low_open_files_limit_works(c: Capsa) -> None:
    """``--ulimit nofile=10:20`` (as crun runs it): the limit is set after the start handshake,
    which needs a descriptor; before, the container vanished with "did not take the start signal"."""
    r = c("run", "--rm", "--ulimit", "nofile=10:20", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn")
    assert (r.returncode, r.stdout) == (0, "10\n20\n"), r.stderr


def test_exit_codes_126_and_127(c: Capsa) -> None:
    assert c("run", "--rm", "busybox", "/nonexistent").returncode == 127
    assert c("run", "--rm", "busybox", "/etc/passwd").returncode == 126


# -- a container whose start fails --------------------------------------------------------------

@pytest.mark.parametrize("flags, reason", [
    (["-w", "/nonexistent"], 'workdir "/nonexistent" does not exist on container'),
    (["-u", "nosuchuser"], "unable to find user nosuchuser"),
])
def test_a_container_whose_start_fails_stays_exited_with_the_reason(c: Capsa, flags: list[str], reason: str) -> None:
    r = c("run", "--name", "broken", *flags, "busybox", "true")
    assert r.returncode == 126, r.stderr
    error = r.stderr.splitlines()[0].removeprefix("Error: ")
    assert reason in error
    assert c("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout.startswith("broken Exited (126)")
    got = state(c, "broken")
    assert (got["Status"], got["ExitCode"], got["Running"]) == ("exited", 126, False)
    assert got["Error"] == error
    r = c("start", "broken")  # it is a container like any other: start it again (125, as podman's start), remove it
    assert r.returncode == 125 and state(c, "broken")["Error"]
    assert c("rm", "broken").returncode == 0


def test_with_rm_a_container_whose_start_fails_is_removed(c: Capsa) -> None:
    r = c("run", "--rm", "--name", "gone", "-w", "/nonexistent", "busybox", "true")
    assert r.returncode == 126
    assert c("ps", "-a", "-q").stdout == ""


def test_run_detached_whose_start_fails_keeps_the_container_too(c: Capsa) -> None:
    r = c("run", "-d", "--name", "bg", "-w", "/etc/passwd", "busybox", "true")
    assert r.returncode == 126 and "is not a directory" in r.stderr
    assert state(c, "bg")["Error"].startswith('workdir "/etc/passwd" exists on container ')


# -- the image's full name ----------------------------------------------------------------------

def test_ps_and_inspect_show_the_images_full_name(c: Capsa) -> None:
    image_id = c("images", "-q", "--no-trunc").stdout.split()[0].removeprefix("sha256:")
    for ref in ("busybox", "busybox:latest", "localhost/busybox", image_id[:12]):
        assert c("create", "--name", "n", ref, "true").returncode == 0
        assert c("ps", "-a", "--format", "{{.Image}}").stdout == "localhost/busybox:latest\n", ref
        doc = json.loads(c("inspect", "n").stdout)[0]
        assert doc["ImageName"] == doc["Config"]["Image"] == "localhost/busybox:latest", ref
        assert doc["Image"] == image_id
        for ancestor in ("busybox", "busybox:latest", "localhost/busybox:latest", image_id[:12]):
            assert c("ps", "-a", "-q", "--filter", f"ancestor={ancestor}").stdout.strip(), ancestor
        assert c("ps", "-a", "-q", "--filter", "ancestor=busybox:1").stdout == ""
        assert c("rm", "n").returncode == 0
    table = c("ps", "-a").stdout
    assert "busybox " not in table


# -- stop ---------------------------------------------------------------------------------------

def test_a_stop_that_resorts_to_sigkill_warns(c: Capsa) -> None:
    assert c("run", "-d", "--name", "stubborn", "busybox", "sleep", "60").returncode == 0  # PID 1 ignores SIGTERM
    r = c("stop", "-t", "1", "stubborn")
    assert (r.returncode, r.stdout) == (0, "stubborn\n")
    assert re.fullmatch(r'time="[0-9TZ:-]+" level=warning msg="StopSignal SIGTERM failed to stop container '
                        r'stubborn in 1 seconds, resorting to SIGKILL"\n', r.stderr), r.stderr  # (podman's line)
    c("run", "-d", "--name", "polite", "busybox", "sh", "-c",
      "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done")
    import time

    deadline = time.monotonic() + 10
    while "ready" not in c("logs", "polite").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    r = c("stop", "polite")
    assert (r.returncode, r.stdout, r.stderr) == (0, "polite\n", "")


# -- the test run itself ------------------------------------------------------------------------

def test_a_run_without_the_conformance_corpus_ends_with_one_line_saying_so(tmp_path: Path) -> None:
    import os
    import sys

    from conftest import REPO

    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPSA_")}
    for corpus, expected in ((tmp_path / "absent", f"conformance corpus {tmp_path / 'absent'} not found"),
                             (tmp_path, f"conformance corpus {tmp_path}/manifests, {tmp_path}/oci-image-schema not found")):
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_manifests.py"],
                           cwd=REPO, capture_output=True, text=True, timeout=300,
                           env={**env, "CAPSA_TEST_CONFORMANCE": str(corpus)})
        assert r.returncode == 0, r.stdout[-2000:]
        last = r.stdout.rstrip("\n").splitlines()[-1]
        assert last.startswith("capsa: ") and " tests skipped: " in last and expected in last, last
        assert sum(line.startswith("capsa: ") for line in r.stdout.splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_jsonio.py"],
                       cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and "capsa: " not in r.stdout  # nothing skipped for it: no line
