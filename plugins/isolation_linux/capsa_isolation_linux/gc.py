"""The linux driver's ``gc``: state and cgroups of containers that are no longer live."""
from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from capsa.errors import IsolationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

GC_GRACE = 60.0  # seconds: younger unattributed cgroups and state dirs may be a create in progress


def collect(driver: Any, live: Iterable[str], dry_run: bool = False) -> list[str]:
    """Remove the runtime leftovers of containers whose ids are not in ``live`` (see
    IsolationDriver.gc): their ``capsa-<id>`` cgroups (members killed first, frozen ones
    thawed) and then their state directories under run_home, once their process is gone.

    Container cgroups of every store share the host's hierarchies, so a cgroup is only taken
    for this store's when its id has a state directory here; an unattributed ``capsa-<id>``
    cgroup is removed only when it is empty and older than GC_GRACE seconds (a leftover of a
    create that could not clean up), never when it holds processes (another store's
    container). A state directory without state.json younger than GC_GRACE is a create in
    progress and is left alone."""
    from capsa.hostinfo import cgroup_layout

    from . import CGROUP_PARENT_ANNOTATION
    from .cgroups import _hierarchies
    from capsa.fastpath.names import is_safe_name

    from .state import alive, cgroup_members, remove_cgroup_dirs

    keep = set(live)
    home = Path(driver.context.run_home)
    now = time.time()
    docs: dict[str, dict[str, Any] | None] = {}  # our non-live ids -> state doc (None: creating)
    parents = {driver.options["cgroup_parent"]}
    if home.is_dir():
        for entry in sorted(os.scandir(home), key=lambda e: e.name):
            if not entry.is_dir(follow_symlinks=False) or not is_safe_name(entry.name, 128):
                continue
            sd = driver._dir(entry.name)
            try:
                doc: dict[str, Any] | None = sd.load() if sd.exists() else None
            except IsolationError:
                doc = {}  # unreadable state: its process cannot be known, its cgroup still can
            if doc:
                cg = doc.get("cgroup") or {}
                parents.add(str(cg.get("parent") or ""))
                parents.add(str((doc.get("annotations") or {}).get(CGROUP_PARENT_ANNOTATION) or ""))
            if entry.name in keep:
                continue
            if doc is None and now - _mtime(entry.path, now) < GC_GRACE:
                continue  # a create in progress
            docs[entry.name] = doc
    # every capsa-<id> cgroup dir under the parents, in every hierarchy below our own cgroup
    groups: dict[str, list[str]] = {}
    for h in _hierarchies(cgroup_layout()):
        for parent in sorted(parents):
            base = os.path.normpath(os.path.join(h.own_dir, *[p for p in parent.split("/") if p not in ("", ".")]))
            if not base.startswith(h.own_dir) or ".." in parent.split("/"):
                continue
            try:
                names = [e.name for e in os.scandir(base) if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
            for name in names:
                cid = name[len("capsa-"):] if name.startswith("capsa-") else ""
                if cid and cid not in keep:
                    groups.setdefault(cid, []).append(os.path.join(base, name))
    for cid, doc in docs.items():  # dirs recorded by a create run from another cgroup than ours
        for path in ((doc or {}).get("cgroup") or {}).get("paths", {}).values():
            if os.path.isdir(path) and path not in groups.get(cid, []):
                groups.setdefault(cid, []).append(path)
    found: list[str] = []
    failed: list[str] = []
    for cid, dirs in sorted(groups.items()):
        members = cgroup_members(dirs)
        if cid not in docs:  # not this store's, as far as we can tell
            if members or any(now - _mtime(d, now) < GC_GRACE for d in dirs):
                continue
            found.append(f"empty cgroup capsa-{cid[:12]} of no known container ({len(dirs)} hierarchies)")
        else:
            found.append(f"cgroup capsa-{cid[:12]} of container {cid[:12]}, which is not running "
                         f"({len(members)} processes left, {len(dirs)} hierarchies)")
        if not dry_run:
            try:
                remove_cgroup_dirs(dirs)
            except IsolationError as exc:
                failed.append(exc.message)
    for cid, doc in docs.items():
        pid, start = (doc or {}).get("pid"), (doc or {}).get("start_time")
        running = alive(pid, start)
        found.append(f"runtime state of container {cid[:12]}, which is not running"
                     + (f" (process {pid} still alive)" if running else ""))
        if dry_run:
            continue
        if running:  # outside any cgroup we could find (or it escaped): kill it by pidfd
            _kill_process(pid, start)
        if alive(pid, start):
            failed.append(f"process {pid} of container {cid[:12]} did not exit")
            continue
        driver._dir(cid).remove()
    if failed:
        raise IsolationError("cannot remove runtime leftovers: " + "; ".join(failed),
                             hint="a process may be stuck in uninterruptible sleep (D state); retry later")
    return found


def _mtime(path: str, default: float) -> float:
    import os

    try:
        return os.stat(path).st_mtime
    except OSError:
        return default


def _kill_process(pid: int, start_time: int, timeout: float = 5.0) -> None:
    """SIGKILL the process ``pid`` if it is still the one that started at ``start_time``."""
    import os
    import signal
    import time

    from .state import alive

    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if alive(pid, start_time):
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except ProcessLookupError:
                return
    finally:
        os.close(pidfd)
    deadline = time.monotonic() + timeout
    while alive(pid, start_time) and time.monotonic() < deadline:
        time.sleep(0.01)


# -- create's helpers ---------------------------------------------------------------------------
