"""Third-party packages, really built and installed with pip: drivers and hook plugins."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, Capsa, isolated_env

PACKAGES = REPO / "tests" / "plugins"


def pip(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def install(name: str, workdir: Path) -> Path:
    """Copy the package out of the repo (builds write into their tree) and pip-install it.

    Uninstalls first: a run killed half-way must not leave the next one a package it did not
    expect."""
    uninstall(name)
    src = workdir / name
    shutil.copytree(PACKAGES / name, src)
    pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(src))
    return src


def uninstall(name: str) -> None:
    pip("uninstall", "-y", name)


def package_fixture(name: str) -> Any:
    """A module-scoped fixture that has the test package ``name`` installed for the tests of
    the module that assigns it to a name (and uninstalled after them)."""

    @pytest.fixture(scope="module")
    def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        install(name, tmp_path_factory.mktemp("pkg"))
        try:
            yield
        finally:
            uninstall(name)

    return installed


broken_installed = package_fixture("capsa-broken-plugins")


def plugin_names(capsa: Capsa) -> set[tuple[str, str, str]]:
    r = capsa("plugins", "--format", "json")
    assert r.returncode == 0, r.stderr
    return {(row["Kind"], row["Name"], row["Package"]) for row in json.loads(r.stdout)}


def test_install_select_use_and_uninstall_a_driver_package(capsa: Capsa, tmp_path: Path) -> None:
    help_before = capsa("--help", store=False)
    assert help_before.returncode == 0 and "tiny-hello" not in help_before.stdout
    src = install("capsa-tiny-driver", tmp_path)
    try:
        assert {("storage", "tiny", "capsa-tiny-driver"), ("hooks", "tiny", "capsa-tiny-driver")} <= plugin_names(capsa)

        # Selected through TOML, with an option of its own.
        capsa.write_config('[storage]\ndriver = "tiny"\n[storage.options.tiny]\nlabel = "from-toml"\n')
        r = capsa("info", "--format", "json")
        assert r.returncode == 0, r.stderr
        storage = json.loads(r.stdout)["drivers"]["storage"]
        assert storage["name"] == "tiny" and storage["detail"].startswith("from-toml: plain directories")

        # Selected through the flag, over a file that says otherwise.
        capsa.write_config('[storage]\ndriver = "vfs"\n')
        r = capsa("--storage-driver", "tiny", "info", "--format", "{{.Drivers.Storage.Name}}")
        assert (r.returncode, r.stdout.strip()) == (0, "tiny"), r.stderr

        # Its hook plugin added a command, and the cached help page knows it.
        assert "tiny-hello" in capsa("--help", store=False).stdout
        r = capsa("tiny-hello", "--name", "capsa")
        assert (r.returncode, r.stdout) == (0, "hello capsa from capsa-tiny-driver\n")

        # Its container hooks run for `run` (which never builds typer's CLI): the spec is adjusted
        # before the runtime gets it, and the monitor reports the stop.
        capsa.write_config("")
        from containers import import_busybox

        import_busybox(capsa, tmp_path)
        stopped = tmp_path / "poststop.txt"
        r = capsa("run", "--rm", "--name", "hooked", "busybox", "sh", "-c", "echo $TINY_HOOK; exit 3",
                  env={"TINY_POSTSTOP_FILE": str(stopped)})
        assert (r.returncode, r.stdout) == (3, "adjusted-hooked\n"), r.stderr
        assert stopped.read_text() == "hooked 3\n"

        # The package's own test suite runs capsa's conformance suites against the driver.
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(src),
                            str(src / "tests")], capture_output=True, text=True, cwd=src,
                           env=isolated_env(tmp_path / "suite"), timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert " passed" in r.stdout and "failed" not in r.stdout
    finally:
        uninstall("capsa-tiny-driver")
    assert not any(name == "tiny" for _, name, _ in plugin_names(capsa))
    r = capsa("--storage-driver", "tiny", "info")
    assert r.returncode == 125 and "unknown storage driver 'tiny'" in r.stderr
    assert capsa("--help", store=False).stdout == help_before.stdout


@pytest.mark.usefixtures("broken_installed")
class TestBrokenPackages:
    def test_broken_driver_fails_only_when_selected(self, capsa: Capsa) -> None:
        assert ("storage", "broken", "capsa-broken-plugins") in plugin_names(capsa)
        ok = capsa("--storage-driver", "vfs", "info", "--format", "{{.Drivers.Storage.Name}}")
        assert (ok.returncode, ok.stdout.strip()) == (0, "vfs")
        r = capsa("--storage-driver", "broken", "info")
        assert r.returncode == 125
        errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
        assert errors == ["Error: storage driver 'broken' failed to load: ModuleNotFoundError: "
                          "No module named 'capsa_this_dependency_is_missing'"]
        assert "capsa-broken-plugins 0.1.0" in r.stderr
        assert "Traceback" not in r.stderr

    def test_debug_log_level_shows_the_real_traceback(self, capsa: Capsa) -> None:
        r = capsa("--log-level", "debug", "--storage-driver", "broken", "info")
        assert r.returncode == 125
        assert "Traceback" in r.stderr and "import capsa_this_dependency_is_missing" in r.stderr

    def test_broken_hook_plugin_warns_and_help_still_works(self, capsa: Capsa) -> None:
        for _ in range(2):  # no cached page hides the warning the second time
            r = capsa("--help", store=False)
            assert r.returncode == 0 and "info" in r.stdout and "Usage:\n  capsa [options] [command]" in r.stdout
            assert "Warning: hook plugin 'broken' from capsa-broken-plugins 0.1.0 failed to load " \
                   "(RuntimeError: the broken hook plugin refuses to import)" in r.stderr
            assert "pip uninstall capsa-broken-plugins" in r.stderr

    def test_broken_hook_plugin_does_not_break_commands(self, capsa: Capsa) -> None:
        r = capsa("version", "--format", "{{.Client.Version}}")
        assert r.returncode == 0 and r.stdout.strip() == "0.1.0"
        assert "Warning: hook plugin 'broken'" in r.stderr
