"""Shared helpers for container tests: a busybox image in a per-test store, and cleanup that
leaves no container, mount, cgroup or process behind even when a test fails."""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Capsa



def is_monitor_process(proc: Path) -> bool:
    """A capsa monitor: it holds a container's monitor lock (``monitor.lock`` in the container's
    run directory, see capsa.container.monitor_lock). Its name and command line are not looked
    at. Raises OSError when the process is gone."""
    from capsa.container.monitor_lock import LOCK_NAME, holder

    for fd in (proc / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if os.path.basename(target) == LOCK_NAME and holder(os.path.dirname(target)) == int(proc.name):
            return True
    return False


def busybox_rootfs(path: Path) -> Path:
    """An exploded root filesystem from Debian's busybox-static, with passwd/group entries."""
    if not Path("/bin/busybox").is_file():
        pytest.skip("Debian's busybox-static is not installed (scripts/setup.sh installs it)")
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "var/www", "home/alice"):
        (path / d).mkdir(parents=True, exist_ok=True)
    os.chmod(path / "tmp", 0o1777)
    (path / "bin" / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    os.chmod(path / "bin" / "busybox", 0o755)
    names = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        if name != "busybox" and not (path / "bin" / name).exists():
            (path / "bin" / name).symlink_to("busybox")
    (path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
                                         "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (path / "etc" / "group").write_text("root:x:0:\nalice:x:1000:\nwheel:x:10:alice\nnobody:x:65534:\n")
    return path


def import_busybox(capsa: Capsa, tmp: Path, name: str = "busybox") -> str:
    root = busybox_rootfs(tmp / "bb-rootfs")
    tar = tmp / "busybox.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    r = capsa("import", "-c", 'CMD ["/bin/sh"]', "-c", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", str(tar), name)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().removeprefix("sha256:")


def container_ids(capsa: Capsa) -> list[str]:
    r = capsa("ps", "-a", "-q", "--no-trunc")
    return r.stdout.split() if r.returncode == 0 else []


def pod_ids(capsa: Capsa) -> list[str]:
    """The ids of the store's pods (from their records: no pod command needed)."""
    pods = Path(capsa.root) / "pods"
    return sorted(p.name for p in pods.iterdir() if p.is_dir() and len(p.name) == 64) if pods.is_dir() else []


def cleanup(capsa: Capsa) -> list[str]:
    """Remove every pod and container (stopping running ones); return what is still left
    (should be [])."""
    ids = container_ids(capsa)
    if pod_ids(capsa):
        capsa("pod", "rm", "-a", "-f", timeout=120)
    capsa("rm", "-a", "-f", timeout=120)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and leftovers(capsa, ids):
        time.sleep(0.1)
    return leftovers(capsa, ids)


def leftovers(capsa: Capsa, ids: list[str]) -> list[str]:
    """Pods, mounts under the store, cgroups of these containers, monitor and health timer
    processes that still exist and the store's default bridge (it goes with the last container
    on it)."""
    found = [f"pod {p}" for p in pod_ids(capsa)]
    deadline = time.monotonic() + 5  # (the monitor tidies the bridge just after it reported the exit)
    while Path(f"/sys/class/net/{capsa.bridge}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if Path(f"/sys/class/net/{capsa.bridge}").exists():
        found.append(f"bridge {capsa.bridge}")
    with open("/proc/self/mountinfo") as fh:
        found += [p for p in (line.split()[4] for line in fh) if p.startswith((str(capsa.root), str(capsa.runroot)))]
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if hierarchy.is_dir() and ids:
            for dirpath, dirnames, _ in os.walk(hierarchy):  # tolerant of dirs vanishing meanwhile
                found += [os.path.join(dirpath, d) for d in dirnames if d.startswith("capsa-") and d[6:] in ids]
    for proc in Path("/proc").iterdir():  # monitors (their config arrives on a pipe: look at their open files)
        if proc.name.isdigit():
            try:
                if not is_monitor_process(proc):
                    continue
                targets = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
            except OSError:
                continue
            if any(t.startswith((str(capsa.root), str(capsa.runroot))) for t in targets):
                found.append(f"monitor process {proc.name}")
    deadline = time.monotonic() + 3  # (a timer ends within a second of its container stopping)
    while health_timers(capsa) and time.monotonic() < deadline:
        time.sleep(0.1)
    found += [f"health timer process {pid}" for pid in health_timers(capsa)]
    return found


def health_timers(capsa: Capsa, container_id: str = "") -> list[str]:
    """The pids of the health check timers (capsa.container.healthtimer) of this store's
    containers (of ``container_id`` only, when given)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                args = fh.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "capsa.container.healthtimer" in args and str(capsa.runroot) in args and (not container_id or container_id in args):
            found.append(pid)
    return found


# The isolation drivers the container tests marked for both run with ("oci" uses crun).
ISOLATION_DRIVERS = ["linux", "oci"]


def oci_busybox_store(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Capsa]:
    """:func:`busybox_store` whose configuration selects the ``oci`` isolation driver (crun);
    skips, with the driver's reason, where it cannot run."""
    from capsa.drivers import load_driver
    from capsa.errors import DriverNotSupported

    try:
        load_driver("isolation", "oci", {"runtime": "crun"}, root="/nonexistent", runroot="/nonexistent")
    except DriverNotSupported as exc:
        pytest.skip(f"the oci isolation driver cannot run here: {exc.message}")
    for capsa in busybox_store(tmp_path_factory, name, '[isolation]\ndriver = "oci"\n[isolation.options.oci]\nruntime = "crun"\n'):
        yield capsa


def busybox_store(tmp_path_factory: pytest.TempPathFactory, name: str, config: str = "") -> Iterator[Capsa]:
    """A store of its own with a busybox image (and ``config`` as its capsa.toml), reset
    (everything removed) at the end: the body of a module-scoped fixture."""
    from conftest import isolated_env

    tmp = tmp_path_factory.mktemp(name)
    capsa = Capsa(env=isolated_env(tmp), root=tmp / "root", runroot=tmp / "run", tmp=tmp)
    if config:
        capsa.write_config(config)
    import_busybox(capsa, tmp)
    yield capsa
    capsa("system", "reset", "-f", timeout=120)


STORAGE_DRIVERS = ["overlay", "vfs"]


def driver_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Capsa]:
    """:func:`busybox_store` on the storage driver ``request.param`` (one of
    :data:`STORAGE_DRIVERS`): the body of a fixture parametrised with them."""
    config = "" if request.param == "overlay" else f'[storage]\ndriver = "{request.param}"\n'
    yield from busybox_store(tmp_path_factory, f"{name}-{request.param}", config)


def store_session(capsa: Capsa) -> Any:
    """An engine Session (in this process) on ``capsa``'s store, with the storage driver the
    store was created with; the caller closes it."""
    import json

    from capsa.engine.session import GlobalOptions, Session

    driver = json.loads((capsa.root / "storage.json").read_text())["driver"]
    return Session(GlobalOptions(root=str(capsa.root), runroot=str(capsa.runroot), storage_driver=driver))


def store_fixtures(name: str, check: Any = None) -> tuple[Any, Any]:
    """The two fixtures most container test modules use: ``store`` (module-scoped: a busybox
    store named ``name``) and ``c`` (that store, checked after each test for containers, mounts,
    cgroups and processes left behind; ``check(store)`` instead when given). A module takes them
    as ``store, c = store_fixtures(NAME)``."""

    @pytest.fixture(scope="module")
    def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
        yield from busybox_store(tmp_path_factory, name)

    @pytest.fixture
    def c(store: Capsa) -> Iterator[Capsa]:
        yield store
        if check is not None:
            check(store)
            return
        left = cleanup(store)
        assert left == [], f"left behind: {left}"

    return store, c


def driver_store_fixtures(name: str) -> tuple[Any, Any, Any]:
    """The fixtures of a module whose tests run on both isolation drivers: ``store`` (a busybox
    store named ``name``), ``oci_store`` (one named ``name-oci`` under the oci driver) and ``c``:
    the store of the driver the test is parametrised with (:data:`BOTH`; default: linux),
    checked after each test for what it left behind. ``store, oci_store, c = driver_store_fixtures(NAME)``."""

    @pytest.fixture(scope="module")
    def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
        yield from busybox_store(tmp_path_factory, name)

    @pytest.fixture(scope="module")
    def oci_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capsa]:
        yield from oci_busybox_store(tmp_path_factory, f"{name}-oci")

    @pytest.fixture
    def c(request: pytest.FixtureRequest) -> Iterator[Capsa]:
        store = request.getfixturevalue("oci_store" if getattr(request, "param", "linux") == "oci" else "store")
        yield store
        left = cleanup(store)
        assert left == [], f"left behind: {left}"

    return store, oci_store, c


BOTH = pytest.mark.parametrize("c", ISOLATION_DRIVERS, indirect=True)
