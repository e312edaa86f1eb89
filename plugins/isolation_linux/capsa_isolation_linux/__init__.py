"""The ``linux`` isolation driver: an OCI runtime (create/start/kill/delete/state, after runc)
for the bundles capsa generates: namespaces, cgroups (v1 and v2), pivot_root, capabilities and
seccomp.

Process model (see launcher.py): ``create`` forks **the container process** (the container's
PID 1, which builds the container and then execs the user's program) straight into its pid
namespace, so it is the caller's child. **create makes the calling process a child subreaper**
(prctl PR_SET_CHILD_SUBREAPER), as the caller (capsa's per-container monitor) waits for the
container process and collects what the container leaves. A thread of the caller moves the
container process into the container's cgroup while it enters its other namespaces, builds the
rootfs, pivots into it and reports ready; it then blocks opening ``exec.fifo`` until ``start``
reads it. **Between create and start the container process may still be joining its cgroup**
(the first v1 migration waits for an RCU grace period): it checks that it joined only after
start, before it enters its cgroup namespace and execs, and a join that failed makes ``start``
fail with the cgroup's error.

State lives in ``<run_home>/<id>/`` (state.json, exec.fifo); see state.py. Compiled seccomp
filters are cached in ``<run_home>/seccomp-<key>.bpf`` files (see seccomp_cache.py). In capsa's
monitor, importing this package also loads what create needs (warmup.py).
"""
from __future__ import annotations

import os

from capsa.drivers.base import Option
from capsa.drivers.isolation import IsolationDriver, RuntimeState
from capsa.errors import DriverNotSupported, IsolationError
from capsa.fsutil import remove_file
from capsa.hostinfo import cgroup_layout, missing_namespaces

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from capsa.drivers.isolation import ResourceUsage

CGROUP_PARENT_ANNOTATION = "io.capsa.cgroup-parent"
START_TIMEOUT = 10.0
# sysctls the kernel namespaces, and the namespace that must be the container's own
_SYSCTL_NS = {"kernel.msgmax": "ipc", "kernel.msgmnb": "ipc", "kernel.msgmni": "ipc", "kernel.sem": "ipc",
              "kernel.shmall": "ipc", "kernel.shmmax": "ipc", "kernel.shmmni": "ipc",
              "kernel.shm_rmid_forced": "ipc", "kernel.hostname": "uts", "kernel.domainname": "uts"}


OOM_ANNOTATION = "io.capsa.oom-killed"


class LinuxDriver(IsolationDriver):
    OPTIONS = {
        "cgroup_parent": Option(str, "", "cgroup (relative to capsa's own) under which containers' cgroups are made"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cgroups: dict[str, Any] = {}  # id -> the Cgroup create made here (see _cgroup)

    @classmethod
    def warm_up(cls) -> None:
        """Import create's modules and prime their caches (see :mod:`.warmup`)."""
        from .warmup import warm_up

        warm_up()

    def check_host(self) -> None:
        missing = missing_namespaces()
        if missing:
            raise DriverNotSupported(
                f"the kernel lacks namespaces: {', '.join(missing)}",
                hint="run capsa on a kernel built with CONFIG_NAMESPACES and those namespace kinds",
            )

    def status(self) -> dict[str, Any]:
        out = super().status()
        layout = cgroup_layout()
        out["detail"] = f"namespaces available; cgroups {layout.version} ({layout.mode})"
        return out

    # -- helpers -----------------------------------------------------------------------------
    def _dir(self, container_id: str) -> Any:
        from .state import StateDir

        return StateDir(self.context.run_home_dir, container_id)

    def _runtime_state(self, doc: dict[str, Any], status: str) -> RuntimeState:
        return RuntimeState(id=doc["id"], status=status, pid=doc.get("pid") if status != "stopped" else None,
                            bundle=doc["bundle"], annotations=dict(doc.get("annotations") or {}))

    def _cgroup(self, doc: dict[str, Any], drop: bool = False) -> Any:
        """The container's Cgroup: the one create made in this process while it still names
        the saved directories (no /proc/self/cgroup and mountinfo to parse again), else anew.
        ``drop``: forget the kept one (delete)."""
        cached = self._cgroups.pop(doc["id"], None) if drop else self._cgroups.get(doc["id"])
        cg = doc.get("cgroup") or {}
        if cached is not None and cached.paths() == cg.get("paths"):
            return cached
        from .cgroups import Cgroup

        return Cgroup(cg["name"], cg.get("parent", ""))

    # -- operations --------------------------------------------------------------------------
    def create(self, container_id: str, bundle: str | os.PathLike[str], stdio: tuple[int, int, int] | None = None,
               console: int | None = None) -> RuntimeState:
        """Set up the container up to its user process (see the module docstring).

        Side effect on the caller: it becomes a child subreaper (PR_SET_CHILD_SUBREAPER), so the
        container's PID 1 is its child and it must wait for (reap) it."""
        import os
        import time

        from . import device_access, launcher
        from . import rootfs as rfs
        from .namespaces import is_child_subreaper, set_child_subreaper
        from .state import proc_start_time

        sd = self._dir(container_id)
        bundle = os.path.realpath(bundle)
        spec = _load_spec(bundle)
        rootfs = _rootfs(spec, bundle)
        _validate(spec)
        modules = _modules(spec)
        from .cgroups import Cgroup, Limits

        parent = (spec.get("annotations") or {}).get(CGROUP_PARENT_ANNOTATION) or self.options["cgroup_parent"]
        cgroup = Cgroup(f"capsa-{container_id}", parent)
        try:
            profile = launcher.seccomp_profile(spec)
        except (KeyError, TypeError, AttributeError) as exc:
            raise IsolationError(f"invalid linux.seccomp in config.json: missing or bad {exc}") from None
        plan = launcher.Plan(spec, rootfs, bundle, sd.fifo, stdio or (0, 1, 2), cgroup,
                             rfs.cgroup_mount_plan(cgroup, spec), profile, modules, console,
                             seccomp_cache=self.context.run_home_dir)
        was_subreaper = is_child_subreaper()
        set_child_subreaper()
        try:
            sd.make()
        except BaseException:
            set_child_subreaper(was_subreaper)
            raise
        pid = None
        made_cgroup = False
        try:
            # create() undoes its own partial work; a name held by someone else must stay theirs.
            resources = (spec.get("linux") or {}).get("resources") or {}
            cgroup.create(_limits(Limits, resources))
            made_cgroup = True
            rules = device_access.rules(resources.get("devices") or [])
            try:
                pid = launcher.launch(plan)
            except launcher.LaunchError as exc:
                if exc.code is not None:  # its command cannot be run: podman's (crun's) words and code
                    raise IsolationError(str(exc), hint="check the command and the image's PATH",
                                         exit_code=exc.code) from None
                raise IsolationError(f"cannot create container {container_id}: {exc}",
                                     hint="check the bundle's config.json and rootfs") from None
            # As runc: the rules apply once the container process made the spec's device nodes
            # (it waits on the exec fifo now: nothing of the container runs before start).
            device_access.apply(cgroup, rules)
            start_time = proc_start_time(pid)
            if start_time is None:
                raise IsolationError(f"container {container_id} exited during create")
            doc = {"ociVersion": spec.get("ociVersion", "1.0.2"), "id": container_id, "status": "created",
                   "pid": pid, "start_time": start_time, "bundle": str(bundle), "rootfs": rootfs,
                   "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "annotations": spec.get("annotations") or {},
                   "cgroup": {"name": cgroup.name, "parent": parent, "paths": cgroup.paths(),
                              "relative": cgroup.relative_paths()}}
            sd.save(doc)
            self._cgroups[container_id] = cgroup
        except BaseException:
            if pid is not None:
                launcher.kill_and_reap(pid)
            try:
                if made_cgroup:
                    members = cgroup.pids()
                    cgroup.delete()
                    for member in members:  # strays reparented to us (we are a subreaper): reap them
                        try:
                            os.waitpid(member, os.WNOHANG)
                        except ChildProcessError:
                            pass
            finally:
                sd.remove()
                set_child_subreaper(was_subreaper)
            raise
        return self._runtime_state(doc, "created")

    def start(self, container_id: str) -> None:
        import os
        import select

        from .state import status_of

        sd = self._dir(container_id)
        doc = sd.load()
        status = status_of(doc)
        if status != "created":
            raise IsolationError(f"container {container_id} is {status}, not created: it cannot be started",
                                 hint="only a freshly created container can be started; create a new one")
        try:
            pidfd = os.pidfd_open(doc["pid"])
        except ProcessLookupError:
            raise IsolationError(f"container {container_id} exited before start") from None
        if status_of(doc) != "created":  # the pidfd pins a process: recheck it is still ours
            os.close(pidfd)
            raise IsolationError(f"container {container_id} exited before start")
        try:
            # Opening the fifo lets the process go on (to exec, maybe to exit): no status checks after.
            fd = os.open(sd.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            os.close(pidfd)
            raise IsolationError(f"container {container_id} was already started") from None
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            poller.register(pidfd, select.POLLIN)
            got = b""
            for ready_fd, _ in poller.poll(START_TIMEOUT * 1000):
                if ready_fd == fd:
                    try:
                        got = os.read(fd, 4096)
                    except BlockingIOError:
                        got = b""
            if got.startswith(b"E"):  # The container process could not join its cgroup (see launcher.py): it exits
                _reap_failed(doc["pid"], pidfd)
                raise IsolationError(f"cannot start container {container_id}: {got[1:].decode(errors='replace')}")
            if not got:
                raise IsolationError(f"container {container_id} did not take the start signal",
                                     hint="it exited or was started by someone else; see `capsa logs`")
        finally:
            os.close(fd)
            os.close(pidfd)
        _settle(doc["pid"])
        doc["status"] = "running"
        sd.save(doc)
        remove_file(sd.fifo)

    def kill(self, container_id: str, signal: int) -> None:
        import os
        import signal as signals

        from .state import status_of

        doc = self._dir(container_id).load()
        status = status_of(doc)
        if status not in ("created", "running"):
            raise IsolationError(f"container {container_id} is {status}: it cannot be signalled",
                                 hint="only a created or running container receives signals")
        try:
            pidfd = os.pidfd_open(doc["pid"])
        except ProcessLookupError:
            raise IsolationError(f"container {container_id} is stopped: it cannot be signalled") from None
        try:
            if status_of(doc) == "stopped":  # the pid was reused between the check and the open
                raise IsolationError(f"container {container_id} is stopped: it cannot be signalled")
            try:
                signals.pidfd_send_signal(pidfd, int(signal))
            except ProcessLookupError:
                raise IsolationError(f"container {container_id} is stopped: it cannot be signalled") from None
            except (OSError, ValueError) as exc:
                raise IsolationError(f"cannot send signal {signal} to container {container_id}: {exc}") from None
        finally:
            os.close(pidfd)

    def delete(self, container_id: str, force: bool = False) -> None:
        import os
        import signal

        from .state import remove_cgroup_dirs, remove_if_empty, status_of

        sd = self._dir(container_id)
        if not os.path.exists(sd.path):
            self._cgroups.pop(container_id, None)  # deleted elsewhere
            return
        if not sd.exists():  # a create that died half-way (creating): nothing of it is usable
            self._cgroups.pop(container_id, None)
            from .cgroups import Cgroup

            Cgroup(f"capsa-{container_id}", self.options["cgroup_parent"]).delete()
            sd.remove()
            return
        doc = sd.load()
        status = status_of(doc)
        if status == "running" and not force:
            raise IsolationError(f"container {container_id} is running: stop it first",
                                 hint="or delete it with force (kills it)")
        if status != "stopped":
            try:
                pidfd = os.pidfd_open(doc["pid"])
            except ProcessLookupError:
                pidfd = None
            if pidfd is not None:
                try:
                    if status_of(doc) != "stopped":
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                finally:
                    os.close(pidfd)
        _settle(doc["pid"])  # a join still under way could move the container process into the cgroup after this
        cgroup = self._cgroup(doc, drop=True)
        saved = (doc.get("cgroup") or {}).get("paths")
        if saved and cgroup.paths() != saved:
            remove_cgroup_dirs(list(saved.values()))  # created from another cgroup than ours
        elif status != "stopped" or not remove_if_empty(cgroup):
            cgroup.kill_all(signal.SIGKILL)
            cgroup.delete()
        sd.remove()

    def state(self, container_id: str) -> RuntimeState:
        from .running import status

        sd = self._dir(container_id)
        if os.path.isdir(sd.path) and not sd.exists():
            return RuntimeState(id=container_id, status="creating", pid=None, bundle="")
        doc = sd.load()
        state = self._runtime_state(doc, status(self, doc))
        if state.status == "stopped":  # until delete removes the cgroup, it knows about OOM kills
            try:
                state.annotations[OOM_ANNOTATION] = "true" if self._cgroup(doc).oom_killed() else "false"
            except (OSError, IsolationError):
                pass
        return state

    def exec(self, container_id: str, process: dict[str, Any], stdio: tuple[int, int, int] | None = None,
             console: int | None = None, preserve_fds: int = 0) -> Any:
        """A process entering the running container (see :mod:`.execute`)."""
        from .execute import exec_process

        return exec_process(self, container_id, process, stdio, console, preserve_fds)

    # -- a running container's cgroup (see running.py) ----------------------------------------
    def pause(self, container_id: str) -> None:
        from .running import pause

        pause(self, container_id)

    def resume(self, container_id: str) -> None:
        from .running import resume

        resume(self, container_id)

    def processes(self, container_id: str) -> list[int]:
        from .running import processes

        return processes(self, container_id)

    def stats(self, container_id: str) -> ResourceUsage:
        from .running import stats

        return stats(self, container_id)

    def gc(self, live: Iterable[str], dry_run: bool = False) -> list[str]:
        """Remove state and cgroups of containers not in ``live`` (see :mod:`.gc`)."""
        from .gc import collect

        return collect(self, live, dry_run)


def _settle(pid: int) -> None:
    """Wait for the cgroup join of the container process ``pid`` if this process started one (see join.py)."""
    import sys

    join = sys.modules.get(f"{__name__}.join")
    if join is not None:
        join.settle(pid)


def _reap_failed(pid: int, pidfd: int) -> None:
    """The container process said it stops before exec: collect it if it is our child (it exits right away)."""
    import os

    _settle(pid)
    try:
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
    except ChildProcessError:
        pass  # created by another process: it is theirs to reap


def _load_spec(bundle: str) -> dict[str, Any]:
    import os

    from capsa.fastpath.jsonio import loads

    try:
        with open(os.path.join(bundle, "config.json"), "rb") as fh:
            spec = loads(fh.read())
    except FileNotFoundError:
        raise IsolationError(f"bundle {bundle} has no config.json", hint="give an OCI bundle directory") from None
    except (OSError, ValueError) as exc:
        raise IsolationError(f"cannot read {bundle}/config.json: {exc}", hint="give a valid OCI bundle") from None
    if not isinstance(spec, dict) or not str(spec.get("ociVersion", "")).startswith("1."):
        raise IsolationError(f"{bundle}/config.json is not an OCI runtime spec 1.x",
                             hint="ociVersion must be 1.0.x")
    process = spec.get("process")
    if not isinstance(process, dict) or not process.get("args") or not process.get("cwd"):
        raise IsolationError(f"{bundle}/config.json: process.args and process.cwd are required")
    return spec


def _rootfs(spec: dict[str, Any], bundle: str) -> str:
    import os

    path = (spec.get("root") or {}).get("path")
    if not path:
        raise IsolationError("config.json has no root.path", hint="name the container's root filesystem")
    rootfs = os.path.realpath(os.path.join(bundle, path))
    if not os.path.isdir(rootfs):
        raise IsolationError(f"rootfs {rootfs} is not a directory", hint="fix root.path in config.json")
    return rootfs


def _validate(spec: dict[str, Any]) -> None:
    """What can be refused before anything is made: namespaces, sysctls, rlimits."""
    from .namespaces import NAMESPACES, SUPPORTED

    linux = spec.get("linux") or {}
    new, seen = set(), set()
    for entry in linux.get("namespaces") or []:
        kind = entry.get("type")
        if kind not in NAMESPACES:
            raise IsolationError(f"unknown namespace type {kind!r}")
        if kind not in SUPPORTED:
            raise IsolationError(f"{kind} namespaces are not supported by the linux driver",
                                 hint="remove the user namespace from the spec (rootless is not supported)")
        if kind in seen:
            raise IsolationError(f"namespace {kind} is listed twice")
        seen.add(kind)
        if not entry.get("path"):
            new.add(kind)
    if "mount" not in seen:
        raise IsolationError("the spec has no mount namespace", hint="the linux driver needs one to build the rootfs")
    if spec.get("hostname") and "uts" not in new:
        raise IsolationError("a hostname needs a new uts namespace", hint="add {\"type\": \"uts\"} to namespaces")
    for key in linux.get("sysctl") or {}:
        need = _SYSCTL_NS.get(key) or ("ipc" if key.startswith("fs.mqueue.") else
                                       "network" if key.startswith("net.") else None)
        if need is None or ".." in key or "/" in key:
            raise IsolationError(f"sysctl {key} is not namespaced: setting it would change the host",
                                 hint="only ipc (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*), uts and "
                                      "net.* sysctls can be set")
        if need not in seen:
            raise IsolationError(f"sysctl {key} needs the container's own {need} namespace")
    _check_rlimits((spec.get("process") or {}).get("rlimits") or [])


def _check_rlimits(rlimits: list[dict[str, Any]]) -> None:
    """Refuse a hard limit above ours: raising one needs CAP_SYS_RESOURCE, which we do not try."""
    import resource

    from .caps import has_effective
    from .launcher import rlimit_value

    for rl in rlimits:
        kind = getattr(resource, str(rl.get("type")), None)
        if not isinstance(kind, int) or not str(rl.get("type")).startswith("RLIMIT_"):
            raise IsolationError(f"unknown rlimit {rl.get('type')!r}")
        soft, hard = rlimit_value(rl["soft"]), rlimit_value(rl["hard"])
        inf = resource.RLIM_INFINITY
        current = resource.getrlimit(kind)[1]

        def above(value: int, limit: int) -> bool:
            return limit != inf and (value == inf or value > limit)

        if above(hard, current) and not has_effective(24):  # CAP_SYS_RESOURCE
            shown = "unlimited" if current == inf else str(current)
            raise IsolationError(f"rlimit {rl['type']}: hard limit {rl['hard']} is above the current hard limit "
                                 f"({shown}); raising it needs CAP_SYS_RESOURCE",
                                 hint="lower the limit to at most the current hard limit (see ulimit -H)")
        if above(soft, hard):
            raise IsolationError(f"rlimit {rl['type']}: soft limit {rl['soft']} is above the hard limit {rl['hard']}")


def _modules(spec: dict[str, Any]) -> dict[str, Any]:
    """caps and seccomp, imported (and libseccomp loaded) now: after pivot_root they are out of reach."""
    process, linux = spec.get("process") or {}, spec.get("linux") or {}
    out: dict[str, Any] = {}
    if process.get("capabilities") is not None:
        from . import caps

        caps.last_cap()
        out["caps"] = caps
    if linux.get("seccomp") or process.get("noNewPrivileges"):
        from . import seccomp

        if linux.get("seccomp"):
            seccomp._lib()
        out["seccomp"] = seccomp
    return out


def _limits(limits_cls: Any, res: dict[str, Any]) -> Any:
    mem, cpu, pids = res.get("memory") or {}, res.get("cpu") or {}, res.get("pids") or {}
    files: tuple = ()
    if res.keys() - {"memory", "cpu", "pids", "devices"} or mem.keys() - {"limit", "swap"} \
            or cpu.keys() - {"quota", "period", "shares"}:
        from .resfiles import writes

        files = writes(res)
    return limits_cls(memory=mem.get("limit"), memory_swap=mem.get("swap"), cpu_quota=cpu.get("quota"),
                      cpu_period=cpu.get("period"), cpu_shares=cpu.get("shares"), pids=pids.get("limit"), files=files)


