"""A container whose command cannot be run fails its create (podman's 127/126, crun's check)
on both isolation drivers, and leaves nothing behind: no mount, cgroup, monitor process,
or bridge, whether it is kept (``run``, ``run -d``) or removed (``--rm``)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import Capsa
from containers import ISOLATION_DRIVERS, busybox_store, cleanup, container_ids, leftovers, oci_busybox_store


@pytest.fixture(scope="module", params=ISOLATION_DRIVERS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
    if request.param == "oci":
        yield from oci_busybox_store(tmp_path_factory, "cmderr-oci")
    else:
        yield from busybox_store(tmp_path_factory, "cmderr")


@pytest.fixture
def c(store: Capsa) -> Iterator[Capsa]:
    yield store
    left = cleanup(store)
    assert left == [], f"left behind: {left}"


@pytest.mark.parametrize(("args", "code"), [
    (["nosuchcmd"], 127),
    (["-d", "nosuchcmd"], 127),
    (["--rm", "/etc/passwd"], 126),
])
def test_a_command_that_cannot_run_leaves_nothing_running(c: Capsa, args: list[str], code: int) -> None:
    r = c("run", "-v", "cmderrvol:/v", "--tmpfs", "/t", *args[:-1], "busybox", args[-1])
    assert r.returncode == code, r.stderr
    assert r.stdout == "" and r.stderr.startswith("Error: ") and len(r.stderr.splitlines()) == 2, r.stderr
    ids = container_ids(c)
    assert len(ids) == (0 if "--rm" in args else 1)
    # Nothing of the failed start is left while the container stays: mounts, cgroups, its
    # monitor, the default bridge (it goes with the last container on it).
    assert leftovers(c, ids) == []
    if ids:
        state = c("inspect", ids[0], "--format", "{{.State.Running}} {{.State.Pid}}")
        assert state.stdout == "false 0\n", state.stdout
