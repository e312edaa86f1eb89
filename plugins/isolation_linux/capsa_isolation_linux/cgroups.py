"""Container cgroups: one interface over cgroup v1 hierarchies and the cgroup v2 hierarchy.

A :class:`Cgroup` is the directory ``<own cgroup>/<parent>/<name>`` in every hierarchy capsa uses:
each mounted v1 hierarchy of memory, cpu, cpuacct, cpuset, pids, freezer, devices or blkio (named
hierarchies such as ``name=systemd`` are skipped) and the v2 hierarchy (``/sys/fs/cgroup`` when
unified, its ``unified`` mount when hybrid). ``<own cgroup>`` is the invoking process's cgroup in
that hierarchy (/proc/self/cgroup): capsa never creates cgroups above it nor moves a process out
of it.

A controller is *authoritative* in the hierarchy that has it: a v1 mount of that controller, else
the v2 cgroup when the controller shows in its ``cgroup.controllers``. In hybrid mode the v2
hierarchy usually has no controllers, so it only tracks membership (and offers cgroup.freeze);
for controllers not bound to v1, capsa enables them in ``cgroup.subtree_control`` of the cgroups
from its own one (best effort: a cgroup holding processes cannot delegate) down to the parent.

Limits follow docker: ``memory_swap`` is memory+swap (v1 memsw; v2 swap.max = memory_swap -
memory), ``-1`` means unlimited; ``None`` leaves a limit at the kernel default (callers apply
docker's "swap = 2 x memory" policy themselves). ``pids <= 0`` means unlimited.
"""
from __future__ import annotations

import errno
import os
import signal as _signal
import time
from contextlib import suppress

from capsa.errors import IsolationError
from capsa.fastpath.names import unescape_mount_path
from capsa.hostinfo import CgroupLayout, cgroup_layout, own_cgroups
from capsa.fastpath.record import record

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio")
V2_CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids")
MIN_MEMORY = 6 * 1024 * 1024  # docker's floor; below it a container cannot even start
_HINT_RANGE = ("check the value: memory >= 6 MiB and above current usage, cpu period 1000-1000000 µs, "
               "cpu quota >= 1000 µs or -1")


@record
class Limits:
    """Resource limits for a container cgroup; ``None`` leaves the kernel default."""

    memory: int | None = None  # bytes
    memory_swap: int | None = None  # bytes of memory+swap as docker's --memory-swap, -1 = unlimited
    cpu_quota: int | None = None  # µs per period, -1 = unlimited
    cpu_period: int | None = None  # µs
    cpu_shares: int | None = None
    pids: int | None = None
    files: tuple = ()  # further writes: (controller, v1 file, v2 file, v1 value, what, v2 value), see resfiles


@record(frozen=True)
class _Hierarchy:
    mount: str
    version: int  # 1 or 2
    controllers: tuple[str, ...]  # v1 controllers at this mount; () for v2
    own_rel: str  # this process's cgroup as /proc/self/cgroup shows it
    own_dir: str  # the same as an absolute directory


def _cgroup_mount_roots() -> dict[str, str]:
    """Mount point -> root of the mounted tree, for every cgroup/cgroup2 mount."""
    roots: dict[str, str] = {}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) >= 5 and rfields and rfields[0] in ("cgroup", "cgroup2"):
                roots.setdefault(unescape_mount_path(fields[4]), unescape_mount_path(fields[3]))
    return roots


def _hierarchies(layout: CgroupLayout) -> list[_Hierarchy]:
    """The hierarchies capsa uses, with this process's own cgroup in each (unreachable ones skipped)."""
    own = own_cgroups()
    roots = _cgroup_mount_roots()
    by_mount: dict[str, list[str]] = {}
    for controller, mount in layout.v1_controllers.items():
        if controller in V1_CONTROLLERS:
            by_mount.setdefault(mount, []).append(controller)
    found: list[tuple[str, int, tuple[str, ...], str]] = []
    for mount, controllers in sorted(by_mount.items()):
        rel = own.get(controllers[0])
        if rel is not None:
            found.append((mount, 1, tuple(sorted(controllers)), rel))
    if layout.v2_mount and "" in own:
        found.append((layout.v2_mount, 2, (), own[""]))
    out = []
    for mount, version, controllers, rel in found:
        root = roots.get(mount, "/").rstrip("/")
        if root and rel != root and not rel.startswith(root + "/"):
            continue  # our cgroup lies outside what this mount shows
        out.append(_Hierarchy(mount, version, controllers, rel, os.path.normpath(mount + "/" + rel[len(root):])))
    return out


def own_paths(layout: CgroupLayout | None = None) -> dict[str, str]:
    """Hierarchy mount point -> absolute directory of this process's own cgroup there."""
    return {h.mount: h.own_dir for h in _hierarchies(layout or cgroup_layout())}


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _keyed(path: str) -> dict[str, int]:
    """A flat-keyed cgroup file ("key value" lines) as ints; {} when absent."""
    with suppress(OSError):
        pairs = (line.split() for line in _read(path).splitlines())
        return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].lstrip("-").isdigit()}
    return {}


def _num(path: str) -> int | None:
    with suppress(OSError, ValueError):
        text = _read(path).strip()
        return -1 if text == "max" else int(text)
    return None


def _hint_for(err: int) -> str:
    if err in (errno.EPERM, errno.EACCES, errno.EROFS):
        return "capsa needs write access to its own cgroup: run it as root or in a delegated cgroup"
    if err == errno.EBUSY:
        return "the value conflicts with current usage or another limit; raise it or stop the processes first"
    return _HINT_RANGE


def _check_parts(name: str, parent: str) -> list[str]:
    if not name or "/" in name or name in (".", "..") or "\0" in name or "\n" in name:
        raise IsolationError(f"invalid cgroup name {name!r}", "use a single path component such as the container id")
    if parent.startswith("/") or "\0" in parent or "\n" in parent:
        raise IsolationError(f"invalid cgroup parent {parent!r}: it must be relative to capsa's own cgroup",
                             "give a relative path such as 'capsa' (no leading '/')")
    parts = [p for p in parent.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise IsolationError(f"invalid cgroup parent {parent!r}: '..' would leave capsa's own cgroup",
                             "give a path below capsa's own cgroup, without '..'")
    return parts + [name]


def _validate(limits: Limits) -> None:
    mem, swap = limits.memory, limits.memory_swap
    if mem is not None and mem < MIN_MEMORY:
        raise IsolationError(f"memory limit {mem} bytes is below the minimum of 6 MiB", "give --memory 6m or more")
    if swap is not None and swap != -1:
        if mem is None:
            raise IsolationError("a memory+swap limit needs a memory limit too", "give --memory along with --memory-swap")
        if swap < mem:
            raise IsolationError(f"memory+swap limit {swap} is below the memory limit {mem}",
                                 "--memory-swap counts memory plus swap: make it at least --memory, or -1")
    for label, value in (("cpu period", limits.cpu_period), ("cpu shares", limits.cpu_shares)):
        if value is not None and value < 0:
            raise IsolationError(f"{label} {value} is negative", _HINT_RANGE)


_SWAP_FILES = ("memory.memsw.limit_in_bytes", "memory.swap.max")


def _plan(lim: Limits, version: int, controller: str) -> list[tuple[str, str, str]]:
    """(file, value, what) to write, in order, for ``controller`` in a cgroup v``version``."""
    mem, swap, shares = lim.memory, lim.memory_swap, lim.cpu_shares or None
    out: list[tuple[str, object, str]] = []
    if controller == "memory" and version == 1:
        out = [("memory.limit_in_bytes", mem, "memory limit"), (_SWAP_FILES[0], swap, "memory+swap limit")]
    elif controller == "memory":
        v2swap = None if swap is None else "max" if swap == -1 else swap - (mem or 0)
        out = [("memory.max", mem, "memory limit"), (_SWAP_FILES[1], v2swap, "memory+swap limit")]
    elif controller == "cpu" and version == 1:
        out = [("cpu.shares", shares, "cpu shares"), ("cpu.cfs_period_us", lim.cpu_period, "cpu period"),
               ("cpu.cfs_quota_us", lim.cpu_quota, "cpu quota")]
    elif controller == "cpu":
        weight = shares and 1 + ((min(max(shares, 2), 262144) - 2) * 9999) // 262142  # runc/crun conversion
        quota = "max" if lim.cpu_quota in (None, -1) else lim.cpu_quota
        cpu_max = None if lim.cpu_quota is None and lim.cpu_period is None else f"{quota} {lim.cpu_period or 100000}"
        out = [("cpu.weight", weight, "cpu weight"), ("cpu.max", cpu_max, "cpu quota and period")]
    elif controller == "pids" and lim.pids is not None:
        out = [("pids.max", "max" if lim.pids <= 0 else lim.pids, "pids limit")]
    return [(fname, str(value), what) for fname, value, what in out if value is not None]


class Cgroup:
    """The cgroup ``<own>/<parent>/<name>`` in every hierarchy; nothing is created until create()."""

    def __init__(self, name: str, parent: str = "", layout: CgroupLayout | None = None) -> None:
        self.name = name
        self.parent = parent
        self._parts = _check_parts(name, parent)
        self.layout = layout or cgroup_layout()
        self._hier = _hierarchies(self.layout)
        self._created: list[str] = []  # dirs this object made, in creation order

    def _dir(self, h: _Hierarchy) -> str:
        return os.path.join(h.own_dir, *self._parts)

    def paths(self) -> dict[str, str]:
        """Hierarchy mount point -> absolute cgroup directory."""
        return {h.mount: self._dir(h) for h in self._hier}

    def relative_paths(self) -> dict[str, str]:
        """Controller (``""`` for v2) -> the path as /proc/PID/cgroup shows it for a member."""
        out = {}
        for h in self._hier:
            rel = "/".join([h.own_rel.rstrip("/")] + self._parts)
            for key in h.controllers or ("",):
                out[key] = rel
        return out

    def exists(self) -> bool:
        """Whether the cgroup directory exists in any hierarchy."""
        return any(os.path.isdir(p) for p in self.paths().values())

    def controller_path(self, controller: str) -> tuple[str, int] | None:
        """(cgroup dir, cgroup version) of the hierarchy authoritative for ``controller``."""
        for h in self._hier:
            if controller in h.controllers:
                return self._dir(h), 1
        for h in self._hier:
            with suppress(OSError):
                if h.version == 2 and controller in _read(os.path.join(self._dir(h), "cgroup.controllers")).split():
                    return self._dir(h), 2
        return None

    @classmethod
    def open(cls, name: str, parent: str = "", layout: CgroupLayout | None = None) -> Cgroup:
        """An existing cgroup; delete() on it removes the leaf only (parents are shared)."""
        cg = cls(name, parent, layout)
        if not cg.exists():
            raise IsolationError(f"cgroup {'/'.join(cg._parts)} does not exist",
                                 "the container was never started or its cgroup was already removed")
        return cg

    def create(self, limits: Limits | None = None) -> None:
        """Make the directories and apply ``limits``; on any failure nothing made stays."""
        limits = limits or Limits()
        _validate(limits)
        try:
            for h in self._hier:
                self._mkdirs(h)
            self._enable_v2()
            self._apply(limits)
        except BaseException as exc:
            with suppress(IsolationError):
                self._remove_created()
            if isinstance(exc, OSError):
                raise IsolationError(f"cannot create cgroup {'/'.join(self._parts)}: {exc.strerror} "
                                     f"({exc.filename})", _hint_for(exc.errno or 0)) from exc
            raise

    def _mkdirs(self, h: _Hierarchy) -> None:
        for attempt in range(3):  # a concurrent delete may prune a shared parent between two steps
            try:
                return self._walk(h)
            except FileNotFoundError:
                if attempt == 2:
                    raise

    def _walk(self, h: _Hierarchy) -> None:
        cur = h.own_dir
        for i, part in enumerate(self._parts):
            parent, cur = cur, os.path.join(cur, part)
            try:
                os.mkdir(cur)
                self._created.append(cur)
            except FileExistsError:
                if i == len(self._parts) - 1 and _read(os.path.join(cur, "cgroup.procs")).strip():
                    raise IsolationError(f"cgroup {cur} already exists and has processes",
                                         "another container uses that name; remove it first") from None
            if "cpuset" in h.controllers:
                self._copy_cpuset(parent, cur)

    @staticmethod
    def _copy_cpuset(parent: str, child: str) -> None:
        for base in ("cpus", "mems"):
            fname = f"cpuset.{base}" if os.path.exists(os.path.join(child, f"cpuset.{base}")) else base
            if not _read(os.path.join(child, fname)).strip():
                _write(os.path.join(child, fname), _read(os.path.join(parent, fname)).strip())

    def _enable_v2(self) -> None:
        """Delegate v2 controllers not bound to v1 down to our cgroup (never above own cgroup)."""
        v1 = {c for h in self._hier for c in h.controllers}
        for h in self._hier:
            if h.version != 2:
                continue
            cur = h.own_dir
            for part in self._parts:
                try:
                    avail = _read(os.path.join(cur, "cgroup.controllers")).split()
                    enabled = _read(os.path.join(cur, "cgroup.subtree_control")).split()
                except OSError:
                    break
                for c in V2_CONTROLLERS:
                    if c in avail and c not in enabled and c not in v1:
                        # fails in an own cgroup that holds processes (no internal processes); reported on use
                        with suppress(OSError):
                            _write(os.path.join(cur, "cgroup.subtree_control"), f"+{c}")
                cur = os.path.join(cur, part)

    def _need(self, controller: str, what: str) -> tuple[str, int]:
        where = self.controller_path(controller)
        if where is None:
            raise IsolationError(f"cannot set the {what}: no cgroup hierarchy offers the {controller} controller",
                                 f"enable the {controller} controller (cgroup v2: in cgroup.subtree_control of "
                                 "capsa's own cgroup, which must hold no processes itself)")
        return where

    def _set(self, directory: str, fname: str, value: str, what: str) -> None:
        try:
            _write(os.path.join(directory, fname), value)
        except OSError as exc:
            raise IsolationError(f"cannot set the {what} to {value}: {exc.strerror} ({fname})",
                                 _hint_for(exc.errno or 0)) from exc

    def _apply(self, lim: Limits) -> None:
        for controller in ("memory", "cpu", "pids"):
            if not (_plan(lim, 1, controller) or _plan(lim, 2, controller)):
                continue
            d, version = self._need(controller, f"{controller} limit")
            for fname, value, what in _plan(lim, version, controller):
                if fname in _SWAP_FILES and not os.path.exists(os.path.join(d, fname)):
                    if value in ("-1", "max"):
                        continue
                    raise IsolationError("cannot set the memory+swap limit: the kernel has no swap accounting",
                                         "boot with swapaccount=1 (v1) or use a kernel with CONFIG_MEMCG_SWAP, "
                                         "or leave --memory-swap unset or -1")
                self._set(d, fname, value, what)
        for controller, v1, v2, value, what, v2value in lim.files:
            if controller == "unified":
                where = next(((self._dir(h), 2) for h in self._hier if h.version == 2), None)
            else:
                where = self._need("io" if controller == "blkio" and not any(
                    "blkio" in h.controllers for h in self._hier) else controller, what)
            fname = where and (v1 if where[1] == 1 else v2)
            if not fname:
                raise IsolationError(f"cannot set the {what}: the cgroup v{where[1] if where else 2} hierarchy here "
                                     "has no such setting", "drop the flag, or use a host with that controller")
            if not os.path.exists(os.path.join(where[0], fname)):
                raise IsolationError(f"cannot set the {what}: {fname} does not exist",
                                     "the kernel does not offer that setting; drop the flag")
            self._set(where[0], fname, value if where[1] == 1 else v2value, what)

    def add(self, pid: int) -> None:
        """Move process ``pid`` into this cgroup in every hierarchy."""
        for h in self._hier:
            try:
                _write(os.path.join(self._dir(h), "cgroup.procs"), str(pid))
            except OSError as exc:
                raise IsolationError(f"cannot move process {pid} into cgroup {self._dir(h)}: {exc.strerror}",
                                     "the process must exist and the cgroup must have been created") from exc

    def pids(self) -> list[int]:
        """Processes in the cgroup (in any hierarchy), sorted; zombies are not members."""
        found: set[int] = set()
        for h in self._hier:
            with suppress(OSError):
                found.update(int(x) for x in _read(os.path.join(self._dir(h), "cgroup.procs")).split())
        return sorted(found)

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer killed a process of this cgroup."""
        where = self.controller_path("memory")
        if where is None:
            return False
        d, v = where
        if v == 2:
            return _keyed(os.path.join(d, "memory.events")).get("oom_kill", 0) > 0
        ctl = _keyed(os.path.join(d, "memory.oom_control"))
        if "oom_kill" in ctl:  # kernel >= 4.13
            return ctl["oom_kill"] > 0
        return (_num(os.path.join(d, "memory.failcnt")) or 0) > 0 and ctl.get("under_oom", 0) > 0

    def is_frozen(self) -> bool:
        """Whether the freezer holds the cgroup frozen (see :mod:`capsa.drivers.cgroupfiles`)."""
        from capsa.drivers import cgroupfiles

        return cgroupfiles.is_frozen(self.paths().values())

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        from capsa.drivers import cgroupfiles

        cgroupfiles.set_frozen(list(self.paths().values()), frozen, timeout)

    def freeze(self, timeout: float = 5.0) -> None:
        """Freeze every process; returns once the kernel reports the cgroup frozen."""
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        """Thaw the cgroup; returns once the kernel reports it thawed."""
        self._set_frozen(False, timeout)

    def kill_all(self, sig: int = _signal.SIGKILL) -> None:
        """Send ``sig`` to every member; frozen around the signalling so no fork escapes it.

        A cgroup that was already frozen stays frozen, except that SIGKILL thaws it (a frozen
        task only dies once thawed)."""
        was_frozen = froze = self.is_frozen()
        if not was_frozen:
            with suppress(IsolationError):
                self.freeze()
                froze = True
        try:
            for pid in self.pids():
                with suppress(ProcessLookupError):
                    os.kill(pid, sig)
        finally:
            if (froze and not was_frozen) or (was_frozen and sig == _signal.SIGKILL):
                self.thaw()

    def delete(self, timeout: float = 5.0) -> None:
        """SIGKILL what is left, wait for it to leave, then remove the cgroup and the parents this
        object created that are now empty. Idempotent; missing directories are not errors."""
        deadline = time.monotonic() + timeout
        while True:
            members = self.pids()
            if not members:
                break
            if time.monotonic() > deadline:
                raise IsolationError(f"processes {members[:5]} of cgroup {'/'.join(self._parts)} did not exit "
                                     f"within {timeout:g}s", "they may be stuck in uninterruptible sleep; retry later")
            if self.is_frozen():
                with suppress(IsolationError):
                    self.thaw(timeout=max(deadline - time.monotonic(), 0.1))
            for pid in members:
                with suppress(ProcessLookupError):
                    os.kill(pid, _signal.SIGKILL)
            time.sleep(0.01)
        for h in self._hier:
            self._rmdir(self._dir(h), deadline, required=True)
            # The parent chain below our own cgroup goes too once empty, whoever made it: an
            # object opened later (delete from another command) did not record creating it.
            for depth in range(len(self._parts) - 1, 0, -1):
                self._rmdir(os.path.join(h.own_dir, *self._parts[:depth]), deadline, required=False)
        self._remove_created(deadline)

    def _remove_created(self, deadline: float | None = None) -> None:
        leaves = {self._dir(h) for h in self._hier}
        for path in reversed(self._created):
            self._rmdir(path, deadline or time.monotonic() + 1.0, required=path in leaves)
        self._created = []

    @staticmethod
    def _rmdir(path: str, deadline: float, required: bool) -> None:
        while True:
            try:
                os.rmdir(path)
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if not required:
                    return  # a shared parent that still holds someone else's cgroup (EBUSY)
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise IsolationError(f"cannot remove cgroup {path}: {exc.strerror}",
                                         "a process may still be in it; stop it and retry") from exc
                time.sleep(0.01)
