"""Fast start: what short commands import, and how long they take against a bare interpreter."""
from __future__ import annotations

from pathlib import Path
import subprocess
import sys

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
    capsa("version")  # warm the entry-point index (and the parse table, which is then removed)
    (Path(capsa.env["CAPSA_CACHE_DIR"]) / "parse-table.json").unlink()
    mods = imported_modules(capsa, "version")  # typer runs it, then derives the whole table
    assert "typer" in mods
    assert not {m for m in mods if m.split(".")[0] in ("requests", "pyroute2", "stevedore", "pydantic") or m.startswith("capsa_")}
    assert "importlib.metadata" not in mods  # the cached index spares the entry-point scan


def test_ps_and_images_on_a_table_hit_import_no_typer(capsa: Capsa) -> None:
    """With the parse table cached (capsa.cli.parsetable), every command is parsed and called
    without typer; ``ps`` and ``images`` also keep off what the run path keeps off. (Their
    wall-clock time against podman's is bench/commands.py's: no test depends on the machine's load.)"""
    capsa("version")  # the first command after an install derives and caches the table
    capsa("ps")  # and the first to read the capsa.toml (the tests' own) caches what it parses to
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True, env=capsa.env)
    bare = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    for argv in (["ps", "-a"], ["images"], ["container", "ls", "--format", "{{.ID}}"], ["image", "ls", "-q"]):
        mods = imported_modules(capsa, "--root", str(capsa.root), "--runroot", str(capsa.runroot), *argv)
        assert "capsa.cli.dispatch" in mods, argv
        assert not {m for m in mods if m.split(".")[0] in ("typer", "pluggy", "click", "rich", "tomli", *HEAVY)}, argv
        assert "importlib.metadata" not in mods
        # (an editable install's import hook brings re and pathlib to every interpreter: not ours)
        if "--format" not in argv:  # (a Go template needs the template engine, which uses re)
            costly = (mods - bare) & {"dataclasses", "inspect", "typing", "hashlib", "json", "re", "pathlib", "enum"}
            assert not costly, (argv, costly)


def test_a_table_miss_is_served_by_typer_and_fills_the_table(capsa: Capsa) -> None:
    mods = imported_modules(capsa, "--root", str(capsa.root), "--runroot", str(capsa.runroot), "images")
    assert "typer" in mods and "capsa.cli.dispatch" not in mods
    mods = imported_modules(capsa, "--root", str(capsa.root), "--runroot", str(capsa.runroot), "images")
    assert "typer" not in mods and "capsa.cli.dispatch" in mods


def test_run_and_create_parse_their_flags_without_typer(capsa: Capsa) -> None:
    """``main()`` sends run/create straight to capsa.cli.launch: building typer's command would
    cost more than the container. (A missing image still goes the whole way through the parser,
    the configuration and the store; ``--pull never`` keeps it from being pulled, which is the
    one case where the registry modules are imported.)"""
    capsa("version")  # warm the entry-point index
    for argv in (["create", "--name", "x", "-e", "A=1", "--pull", "never", "no-such-image"],
                 ["container", "run", "--rm", "--pull=never", "no-such-image"]):
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
