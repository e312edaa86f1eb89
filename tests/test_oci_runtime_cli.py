"""``--runtime`` and the ``oci`` isolation driver through the CLI: a container keeps the driver
and runtime it was created with, and ``inspect`` shows it as podman's OCIRuntime."""
from __future__ import annotations

import json

import pytest

from conftest import Capsa
from containers import store_fixtures


store, c = store_fixtures("oci-cli")


def test_runtime_flag_selects_the_oci_driver_and_the_container_keeps_it(c: Capsa) -> None:
    r = c("--runtime", "runc", "run", "--rm", "busybox", "sh", "-c", "echo via-runc; exit 5")
    assert (r.returncode, r.stdout) == (5, "via-runc\n"), r.stderr
    r = c("run", "-d", "--runtime", "runc", "--name", "kept", "busybox", "sleep", "60")  # after the command too
    assert r.returncode == 0, r.stderr
    assert c("inspect", "--format", "{{.OCIRuntime}}", "kept").stdout == "runc\n"
    assert (c.runroot / "isolation" / "oci" / "runc" / r.stdout.strip()).is_dir()  # runc's state, in capsa's runroot
    assert c("stop", "-t", "0", "kept").returncode == 0  # no --runtime: the container's own driver
    assert c("inspect", "--format", "{{.State.ExitCode}}", "kept").stdout == "137\n"
    assert c("rm", "kept").returncode == 0


def test_default_driver_shows_linux_and_a_missing_runtime_changes_nothing(c: Capsa) -> None:
    c("create", "--name", "plain", "busybox", "true")
    assert json.loads(c("inspect", "plain").stdout)[0]["OCIRuntime"] == "linux"
    before = c("ps", "-a", "-q").stdout
    r = c("--runtime", "/no/such/runtime", "run", "--rm", "busybox", "true")
    assert r.returncode == 125 and "OCI runtime '/no/such/runtime' not found" in r.stderr
    assert c("ps", "-a", "-q").stdout == before


def test_a_missing_command_exits_127_with_the_runtimes_message(c: Capsa) -> None:
    for runtime in ("crun", "runc"):
        r = c("--runtime", runtime, "run", "--rm", "busybox", "/no/such/binary")
        if r.returncode == 125 and "cannot run containers on this" in r.stderr:
            pytest.skip(r.stderr.splitlines()[0])
        assert r.returncode == 127, r.stderr
        assert r.stderr.startswith(f"Error: {runtime} create:") and "/no/such/binary" in r.stderr
