"""Fast start: what short commands import, and how long they take against a bare interpreter."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import CAPSA, VENV_BIN, Capsa

HEAVY = ("requests", "pyroute2", "rich", "stevedore", "importlib.metadata")


def imported_modules(capsa: Capsa, *args: str) -> set[str]:
    r = subprocess.run([sys.executable, "-X", "importtime", str(CAPSA), *args], capture_output=True, text=True,
                       env=capsa.env)
    assert r.returncode == 0, r.stderr
    return {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}


def test_version_flag_imports_no_library(capsa: Capsa) -> None:
    mods = imported_modules(capsa, "--version")
    assert not {m for m in mods if m.split(".")[0] in ("typer", "pluggy", "tomli", *HEAVY) or m.startswith("capsa_")}
    assert "importlib.metadata" not in mods


def test_cached_help_imports_no_library(capsa: Capsa) -> None:
    first = imported_modules(capsa, "--help")  # renders and records the page
    assert "typer" in first
    mods = imported_modules(capsa, "--help")
    assert not {m for m in mods if m.split(".")[0] in ("typer", "pluggy", "tomli", *HEAVY) or m.startswith("capsa_")}


def test_a_typer_command_imports_no_driver_or_network_library(capsa: Capsa) -> None:
    capsa("version")  # warm the entry-point index
    mods = imported_modules(capsa, "version")
    assert "typer" in mods
    assert not {m for m in mods if m.split(".")[0] in ("requests", "pyroute2", "stevedore", "pydantic") or m.startswith("capsa_")}
    assert "importlib.metadata" not in mods  # the cached index spares the entry-point scan


def best_of(argv: list[str], env: dict[str, str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_short_commands_start_within_4x_a_bare_interpreter(capsa: Capsa, flag: str) -> None:
    capsa(flag, store=False)  # a --help page is rendered once, then served from the cache
    bare = best_of([sys.executable, "-c", "pass"], capsa.env, 15)
    ours = best_of([str(CAPSA), flag], capsa.env, 15)
    assert ours <= 4 * bare, f"capsa {flag}: {ours * 1000:.1f} ms vs python -c pass {bare * 1000:.1f} ms"


def test_run_and_create_parse_their_flags_without_typer(capsa: Capsa) -> None:
    """``main()`` sends run/create straight to capsa.cli.launch: building typer's command would
    cost more than the container. (A missing image still goes the whole way through the parser,
    the configuration and the store.)"""
    capsa("version")  # warm the entry-point index
    for argv in (["create", "--name", "x", "-e", "A=1", "no-such-image"], ["container", "run", "--rm", "no-such-image"]):
        r = subprocess.run([sys.executable, "-X", "importtime", str(CAPSA), *argv], capture_output=True, text=True,
                           env=capsa.env)
        assert r.returncode == 125 and "no-such-image" in r.stderr
        mods = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
        assert "capsa.cli.launch" in mods
        assert not {m for m in mods if m.split(".")[0] in ("typer", "pluggy", "click", "rich", *HEAVY)}
        assert "importlib.metadata" not in mods  # the cached index spares the entry-point scan
        # nor what capsa's records and annotations used to cost (see docs/architecture.md); shutil
        # is allowed here: this failing first command removes the store it began
        costly = mods & {"dataclasses", "inspect", "typing", "hashlib", "platform"}
        assert not costly, costly


def test_the_entry_point_index_is_shared_by_the_venvs_python_and_python3(capsa: Capsa) -> None:
    """The console script may name ``python3`` while ``python -m capsa.cli.main`` runs ``python``:
    one interpreter, so one cached index (no rescan at every switch)."""
    names = ["python", "python3"]  # a venv has both (scripts/setup.sh makes one)
    subprocess.run([str(VENV_BIN / names[0]), str(CAPSA), "version"], env=capsa.env, check=True, capture_output=True)
    r = subprocess.run([str(VENV_BIN / names[1]), "-X", "importtime", str(CAPSA), "version"], env=capsa.env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "importlib.metadata" not in {line.split("|")[-1].strip() for line in r.stderr.splitlines()
                                        if line.startswith("import time:")}
