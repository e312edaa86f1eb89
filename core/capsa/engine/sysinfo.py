"""podman's ``info`` keys that capsa has the data for: :func:`podman_host` and :func:`podman_store`
add them to :func:`capsa.engine.system.info_data`'s ``host`` and ``store`` parts (the key names
and shapes of podman 4.3's ``info --format json``; templates read them as ``.Host.OCIRuntime.Name``,
``.Store.VolumePath`` ...). Values capsa has no counterpart for keep podman's key with an empty
value (``conmon``: capsa runs none), so that a script's template still evaluates."""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capsa.engine.session import Session

LOG_DRIVERS = ["k8s-file"]  # what capsa writes a container's log as (podman's default driver)


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    """``/etc/os-release`` as podman's ``distribution``: distribution (ID), version (VERSION_ID), codename."""
    fields: dict[str, str] = {}
    try:
        with open(path) as fh:
            for line in fh:
                key, eq, value = line.strip().partition("=")
                if eq:
                    fields[key] = value.strip().strip('"')
    except OSError:
        pass
    out = {"distribution": fields.get("ID", "unknown"), "version": fields.get("VERSION_ID", "unknown")}
    if fields.get("VERSION_CODENAME"):
        out["codename"] = fields["VERSION_CODENAME"]
    return out


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                out[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def uptime_text(seconds: float) -> str:
    """podman's uptime: ``3h 20m 32.00s (Approximately 0.12 days)``."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes}m {secs + seconds % 1:.2f}s (Approximately {seconds / 86400:.2f} days)"


def _cpu_utilization() -> dict[str, float]:
    """Since boot, as podman's ``cpuUtilization`` (user, system, idle percent)."""
    try:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return {"userPercent": 0.0, "systemPercent": 0.0, "idlePercent": 0.0}
    total = sum(values) or 1
    user, system, idle = values[0] + values[1], values[2], values[3]
    return {k: round(100 * v / total, 2) for k, v in (("userPercent", user), ("systemPercent", system), ("idlePercent", idle))}


def _runtime(sess: Session, isolation: dict[str, Any]) -> dict[str, Any]:
    """``ociRuntime``: the OCI runtime the oci driver runs; for a driver that runs none (linux),
    the driver itself (name ``capsa-linux``: no path, capsa's version)."""
    from capsa import __version__

    if isolation.get("name") == "oci" and isolation.get("ready", True):
        import subprocess

        try:
            driver = sess.driver("isolation")
            path = str(getattr(driver, "runtime_path", ""))
            name = str(getattr(driver, "runtime_name", os.path.basename(path)))
        except Exception:
            path, name = "", "oci"
        try:
            version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            version = ""
        return {"name": name, "package": "", "path": path, "version": version}
    return {"name": f"capsa-{isolation.get('name', '')}", "package": "", "path": "",
            "version": f"capsa {__version__} ({isolation.get('name', '')} isolation driver)"}


def podman_host(sess: Session, drivers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """podman's ``host`` keys (beside the ones capsa has always reported)."""
    from capsa import __version__
    from capsa.security.caps import DEFAULT_CAPS

    mem = _meminfo()
    try:
        with open("/proc/uptime") as fh:
            up = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        up = time.monotonic()
    return {
        "buildahVersion": __version__,
        "cgroupManager": sess.options.cgroup_manager or "cgroupfs",
        "conmon": {"package": "", "path": "", "version": ""},  # (capsa's own monitor: no conmon)
        "cpus": os.cpu_count() or 1,
        "cpuUtilization": _cpu_utilization(),
        "distribution": os_release(),
        "eventLogger": "none",  # (capsa keeps no event log)
        "idMappings": {"gidmap": None, "uidmap": None},
        "linkmode": "dynamic",
        "logDriver": LOG_DRIVERS[0],
        "memFree": mem.get("MemAvailable", mem.get("MemFree", 0)),
        "memTotal": mem.get("MemTotal", 0),
        "networkBackend": drivers.get("network", {}).get("name", ""),
        "ociRuntime": _runtime(sess, drivers.get("isolation", {})),
        "remoteSocket": {"path": ""},  # (capsa serves no API)
        "security": {
            "apparmorEnabled": False,
            "capabilities": ",".join(DEFAULT_CAPS),
            "rootless": os.geteuid() != 0,
            "seccompEnabled": True,
            "seccompProfilePath": "",  # (capsa's default profile is built in)
            "selinuxEnabled": False,
        },
        "serviceIsRemote": False,
        "slirp4netns": {"executable": "", "package": "", "version": ""},
        "swapFree": mem.get("SwapFree", 0),
        "swapTotal": mem.get("SwapTotal", 0),
        "uptime": uptime_text(up),
    }


def _container_counts(sess: Session) -> dict[str, int]:
    from capsa.engine.pslisting import listing
    from capsa.errors import CapsaError

    try:
        states = [row["State"] for row in listing(sess, True, [])]
    except CapsaError:
        states = []
    paused = states.count("paused")
    running = sum(1 for s in states if s in ("running", "stopping", "restarting"))
    return {"number": len(states), "paused": paused, "running": running, "stopped": len(states) - paused - running}


def podman_store(sess: Session) -> dict[str, Any]:
    """podman's ``store`` keys (beside graphRoot, runRoot, graphDriverName, imageStore)."""
    from capsa.container.volumes import VolumeStore

    cfg = sess.config
    try:
        fs = os.statvfs(cfg.root)
        allocated, used = fs.f_blocks * fs.f_frsize, (fs.f_blocks - fs.f_bfree) * fs.f_frsize
    except OSError:
        allocated = used = 0
    options = cfg.driver_options("storage")
    return {
        "configFile": str(cfg.files[-1]) if cfg.files else "",
        "containerStore": _container_counts(sess),
        "graphOptions": {f"{cfg.driver('storage')}.{k}": v for k, v in options.items()},
        "graphRootAllocated": allocated,
        "graphRootUsed": used,
        "graphStatus": {},
        "imageCopyTmpDir": os.environ.get("TMPDIR", "/var/tmp"),
        "volumePath": str(VolumeStore(cfg.root).dir),
    }


def podman_plugins(sess: Session) -> dict[str, Any]:
    """podman's ``plugins``: volume, network and log drivers."""
    from capsa.drivers import installed

    return {"volume": ["local"], "network": sorted(e.name for e in installed("network")),
            "log": list(LOG_DRIVERS), "authorization": None}


def podman_version() -> dict[str, Any]:
    """podman's ``version`` keys capsa can fill (no Go: ``GoVersion`` is empty, ``PythonVersion`` says)."""
    from capsa import __version__

    return {"APIVersion": __version__, "Built": 0, "BuiltTime": "", "GitCommit": "", "GoVersion": ""}
