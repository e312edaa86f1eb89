"""Layout and packaging: every folder one prefixed package; both install modes expose everything."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomli

from conftest import REPO

FOLDERS = {
    "core": "capsa",
    "plugins/storage_overlay": "capsa_storage_overlay",
    "plugins/storage_vfs": "capsa_storage_vfs",
    "plugins/net_bridge": "capsa_net_bridge",
    "plugins/net_host": "capsa_net_host",
    "plugins/isolation_linux": "capsa_isolation_linux",
    "plugins/isolation_oci": "capsa_isolation_oci",
    "plugins/registry_oci": "capsa_registry_oci",
}
ENTRY_POINTS = {
    "capsa.storage": {"overlay", "vfs"},
    "capsa.network": {"bridge", "host", "none"},
    "capsa.isolation": {"linux", "oci"},
    "capsa.registry": {"oci"},
}


def test_top_level_layout() -> None:
    for name in ("pyproject.toml", "core", "plugins/storage_overlay", "plugins/storage_vfs", "plugins/net_bridge",
                 "plugins/net_host", "tests", "docs", "README.md", ".ci/run"):
        assert (REPO / name).exists(), name


def test_every_folder_holds_one_prefixed_package() -> None:
    for folder, package in FOLDERS.items():
        packages = [p.name for p in (REPO / folder).iterdir() if (p / "__init__.py").is_file()]
        assert packages == [package], folder
        assert package.startswith("capsa")
    assert not (REPO / "core" / "core").exists()


def test_pyproject_declares_dependencies_script_and_entry_points() -> None:
    meta = tomli.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = {d.split(">")[0].split("<")[0].split("=")[0].strip().lower() for d in meta["dependencies"]}
    assert {"pluggy", "stevedore", "pyroute2", "requests", "typer", "tomli"} <= deps
    assert "scripts" not in meta  # the program is a plain script (pip's console-script wrapper imports re)
    tool = tomli.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["script-files"] == ["bin/capsa"]
    script = (REPO / "bin" / "capsa").read_text()
    assert script.startswith("#!python\n") and "from capsa.cli.main import entry" in script
    for group, names in ENTRY_POINTS.items():
        assert set(meta["entry-points"][group]) == names


PROBE = """
import importlib.util, json, sys
from importlib.metadata import entry_points
groups = {g: sorted(ep.name for ep in entry_points(group=g)) for g in %r}
where = {m: importlib.util.find_spec(m).origin for m in %r}
print(json.dumps({"groups": groups, "where": where}))
"""


@pytest.mark.parametrize("editable", [False, True], ids=["regular", "editable"])
def test_pip_install_exposes_every_package_and_entry_point(tmp_path: Path, editable: bool) -> None:
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                                              ".pytest_cache"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = ["-e", str(src)] if editable else [str(src)]
    r = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "--python",
                        str(venv / "bin" / "python"), "install", "--no-deps", *target],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    probe = PROBE % (list(ENTRY_POINTS), list(FOLDERS.values()))
    r = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    assert found["groups"] == {g: sorted(n) for g, n in ENTRY_POINTS.items()}
    for folder, package in FOLDERS.items():
        origin = Path(found["where"][package])
        if editable:
            assert origin == src / folder / package / "__init__.py"
        else:
            assert origin.is_relative_to(venv) and origin.parent.name == package
    program = (venv / "bin" / "capsa").read_text()
    assert program.startswith(f"#!{venv / 'bin' / 'python'}\n") and "import re" not in program
