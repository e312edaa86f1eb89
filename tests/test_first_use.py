"""What a new user meets first (issue 9, item 11), each as podman 4.3 does it: a container whose
start fails stays (exited, with the reason), working directories, exit codes 126/127, the
image's full name in ps and inspect, stop's SIGKILL warning."""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Capsa
from containers import busybox_rootfs, busybox_store, cleanup


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    yield from busybox_store(tmp_path_factory, "first-use")


@pytest.fixture
def c(store: Capsa) -> Iterator[Capsa]:
    yield store
    left = cleanup(store)
    assert left == [], f"left behind: {left}"


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


def test_exit_codes_126_and_127(c: Capsa) -> None:
    assert c("run", "--rm", "busybox", "/nonexistent").returncode == 127
    assert c("run", "--rm", "busybox", "/etc/passwd").returncode == 126


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
