"""Shared fixtures: run the real ``capsa`` CLI in a subprocess with an isolated environment.

Every test gets its own root, runroot, config home and cache directory, so no test touches a
user's store or configuration, and no test sees another's.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from registries import *  # noqa: F401,F403  (the real-registry fixtures: registry, tls_registry...)

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
# (CAPSA_TEST_CONFORMANCE: another place, for the test of the run's closing line)
CONFORMANCE = Path(os.environ.get("CAPSA_TEST_CONFORMANCE") or SHARED / "conformance")
VENV_BIN = Path(sys.executable).parent
CAPSA = VENV_BIN / "capsa"


ABSENT_CORPORA: set[str] = set()  # what conformance_dir did not find, for the run's last line
CORPUS_SKIP = "conformance corpus"


def conformance_dir(name: str) -> Path:
    """A corpus folder under ../shared/conformance, or a skip saying why it is missing."""
    path = CONFORMANCE / name
    if not path.is_dir():
        ABSENT_CORPORA.add(name)
        pytest.skip(f"{CORPUS_SKIP} {path} is absent (it is shipped beside the repo as ../shared)")
    return path


def pytest_unconfigure(config: pytest.Config) -> None:
    """The run's last line, when tests were skipped for want of the conformance corpus (a clone
    without ../shared would otherwise skip them silently)."""
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    if terminalreporter is None:
        return
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if CORPUS_SKIP in str(getattr(r, "longrepr", ""))]
    if not skipped:
        return
    where = "../shared/conformance" if CONFORMANCE == SHARED / "conformance" else str(CONFORMANCE)
    names = ", ".join(f"{where}/{name}" for name in sorted(ABSENT_CORPORA)) if CONFORMANCE.is_dir() else where
    terminalreporter.write_line(f"capsa: {len(skipped)} tests skipped: conformance corpus {names} not found "
                                "(see README.md, Tests)", yellow=True)


@dataclass
class Capsa:
    """Runs the installed ``capsa`` with an isolated environment and per-test store."""

    env: dict[str, str]
    root: Path
    runroot: Path
    tmp: Path

    def __call__(self, *args: str, store: bool = True, input: str | None = None, env: dict[str, str] | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = [str(CAPSA)]
        if store:
            argv += ["--root", str(self.root), "--runroot", str(self.runroot)]
        argv += list(args)
        return subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout,
                              env={**self.env, **(env or {})})

    def write_config(self, text: str) -> Path:
        """``text`` as this store's capsa.toml, with the store's own default network
        (:func:`default_network_config`) unless ``text`` configures the bridge itself."""
        path = Path(self.env["XDG_CONFIG_HOME"]) / "capsa" / "capsa.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        if "[network.options.bridge]" not in text:
            text = f"{text}\n{default_network_config(self.tmp)}"
        path.write_text(text)
        return path

    @property
    def bridge(self) -> str:
        """The bridge of this store's default network (the default network driver is bridge)."""
        return default_network_config(self.tmp).split('"')[1]


def default_network_config(tmp: Path) -> str:
    """The ``[network.options.bridge]`` of the store whose files are under ``tmp``: a bridge
    and a subnet of its own, never ``capsa0`` (which a user's capsa may have) nor a subnet the
    host routes; the same for every call with the same ``tmp``."""
    from nettest import bridge_name, free_subnet

    path = tmp / "default-network.toml"
    if not path.exists():
        tmp.mkdir(parents=True, exist_ok=True)
        path.write_text(f'[network.options.bridge]\nbridge = "{bridge_name()}"\nsubnet = "{free_subnet()}"\n')
    return path.read_text()


def isolated_env(tmp: Path) -> dict[str, str]:
    """The environment of a store under ``tmp``: its own config home (whose capsa.toml gives
    it a default network of its own), caches and terminal width."""
    config = tmp / "config" / "capsa" / "capsa.toml"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(default_network_config(tmp))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPSA_", "XDG_"))}
    env.update(
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_CACHE_HOME=str(tmp / "xdg-cache"),  # stevedore keeps its own cache there
        CAPSA_CACHE_DIR=str(tmp / "cache"),
        COLUMNS="100",
        NO_COLOR="1",
    )
    return env


@pytest.fixture(autouse=True, scope="session")
def _isolate_this_process(tmp_path_factory: pytest.TempPathFactory) -> None:
    """In-process code (entry-point cache, config) must not use the user's home either."""
    base = tmp_path_factory.mktemp("session-env")
    for key in [k for k in os.environ if k.startswith("CAPSA_")]:
        del os.environ[key]
    os.environ["CAPSA_CACHE_DIR"] = str(base / "cache")
    os.environ["XDG_CONFIG_HOME"] = str(base / "config")
    config = base / "config" / "capsa" / "capsa.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(default_network_config(base))
    os.environ["XDG_CACHE_HOME"] = str(base / "xdg-cache")


@pytest.fixture
def capsa(tmp_path: Path) -> Capsa:
    return Capsa(env=isolated_env(tmp_path), root=tmp_path / "root", runroot=tmp_path / "run", tmp=tmp_path)


@pytest.fixture
def run_python(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a Python snippet in the test venv with the same isolated environment."""

    def run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                              env=isolated_env(tmp_path), timeout=60)

    return run


def make_rootfs_tar(path: Path, files: dict[str, str] | None = None, busybox: bool = True) -> Path:
    """A small root filesystem tarball: Debian's busybox-static (when asked) plus ``files``."""
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755, 1700000000
            tar.addfile(info)
        if busybox:
            if not Path("/bin/busybox").is_file():
                pytest.skip("Debian's busybox-static is not installed (scripts/setup.sh installs it)")
            tar.add("/bin/busybox", "bin/busybox")
            link = tarfile.TarInfo("bin/sh")
            link.type, link.linkname, link.mtime = tarfile.SYMTYPE, "busybox", 1700000000
            tar.addfile(link)
        for name, text in (files or {}).items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(data))
    return path


def tree_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its mode and size: to prove a failed command changed nothing."""
    if not root.exists():
        return {}
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode, st.st_size if not p.is_dir() else 0)
    return out


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[object]:
    """The ``linux`` isolation driver on a scratch bundle (test_isolation_runtime.Runtime), with
    cleanup and a check that nothing is left behind; shared by the isolation test files."""
    from test_isolation_runtime import Runtime

    rt = Runtime(tmp_path)
    try:
        yield rt
    finally:
        rt.cleanup()
    rt.assert_nothing_left()
