"""Stricter leftover checks for container tests: besides what ``containers.leftovers`` looks at
(mounts under the store, ``capsa-<id>`` cgroups), monitors (recognised by the monitor lock
they hold, and tied to this store by the files they hold open), the isolation driver's state directories, and
processes that are still alive."""
from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import Capsa
from containers import is_monitor_process, leftovers


def monitor_pids(capsa: Capsa) -> list[int]:
    """Living capsa monitor processes holding a file of this store open."""
    found = []
    prefixes = (str(capsa.root) + "/", str(capsa.runroot) + "/")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not is_monitor_process(proc):
                continue
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:
            continue
        if any(link.startswith(prefixes) for link in links):
            found.append(int(proc.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def strict_leftovers(capsa: Capsa, ids: list[str], pids: list[int] = ()) -> list[str]:
    found = leftovers(capsa, ids)
    found += [f"monitor {pid}" for pid in monitor_pids(capsa)]
    state = capsa.runroot / "isolation" / "linux"
    if state.is_dir():
        found += [f"runtime state {p.name[:12]}" for p in state.iterdir() if p.is_dir()]
    found += [f"process {pid}" for pid in pids if alive(pid)]
    return found


def settle(capsa: Capsa, ids: list[str], pids: list[int] = (), timeout: float = 10) -> list[str]:
    """strict_leftovers once they are gone, or what is still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := strict_leftovers(capsa, ids, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
