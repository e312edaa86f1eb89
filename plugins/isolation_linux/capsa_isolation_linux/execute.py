"""``exec``: a process entering a running container, by the launcher's own code paths.

The caller forks **the exec process** straight into the container's pid namespace (its
pid_for_children switched with ``setns`` on a pidfd of the container's process, as launch()
does with a path) and into its cgroups (:class:`.join.Birth`: born in the v2 directory with
CLONE_INTO_CGROUP, moving itself into each v1 hierarchy). The exec process joins every other
namespace the container has of its own in one ``setns`` on that pidfd (mount, uts, ipc,
network, cgroup), allocates its terminal in the container's devpts when asked, then becomes
the user's program exactly as the container's process does (launcher._become_user_process:
rlimits, user, capabilities, no_new_privs, the container's seccomp filter, descriptors closed).

CVE-2019-5736: the exec process is visible in the container's /proc from the fork on, and it
runs the host's interpreter. The caller makes itself non-dumpable (PR_SET_DUMPABLE 0) just
before the fork, so the exec process is born non-dumpable: no process of the container can
open its ``/proc/PID/exe`` (or fds, or memory) until execve of the user's program resets it;
the caller turns dumpable back on once the fork is done.

Errors before the program runs come back on a report pipe (CLOEXEC: a successful execve
closes it without a word): ``CODE\\tmessage``, raised as IsolationError with that exit code
(127: not found, 126: cannot be invoked, 125: setup).
"""
from __future__ import annotations

import _signal as signal  # (the signal module would build its enums: milliseconds on exec's path)
import fcntl
import os

from capsa.drivers.isolation import ExecProcess
from capsa.errors import IsolationError

from . import inroot  # noqa: F401 (the exec process opens its pty with it, in the container's mount namespace)
from . import join, launcher
from . import namespaces as ns
from . import rootfs as rfs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PR_SET_DUMPABLE = 4
REPORT_MAX = 3000
# The namespaces an exec process joins when the container has them of its own (pid: forked into it)
JOINED = ("mount", "uts", "ipc", "network", "cgroup")


def exec_process(driver: Any, container_id: str, process: dict[str, Any], stdio: tuple[int, int, int] | None,
                 console: int | None, preserve_fds: int) -> ExecProcess:
    """The ``linux`` driver's :meth:`~capsa.drivers.isolation.IsolationDriver.exec`."""
    from . import _load_spec
    from .running import status
    from .state import status_of

    doc = driver._dir(container_id).load()
    current = status(driver, doc)  # (paused: its frozen cgroup would hold the exec process forever)
    if current != "running":
        raise IsolationError(f"container {container_id} is {current}: cannot exec in it",
                             hint="unpause it first" if current == "paused" else "only a running container runs exec sessions")
    try:
        target = os.pidfd_open(doc["pid"])
    except ProcessLookupError:
        raise IsolationError(f"container {container_id} is stopped: cannot exec in it") from None
    try:
        if status_of(doc) != "running":  # the pidfd pins a process: recheck it is the container's
            raise IsolationError(f"container {container_id} is stopped: cannot exec in it")
        spec = _load_spec(doc["bundle"])
        if not process.get("args"):
            raise IsolationError("the exec process has no args", hint="give the command to run")
        if process.get("terminal") and console is None:
            raise IsolationError("a terminal exec needs a console socket", hint="pass console")
        _refuse_ptrace(container_id, spec.get("process") or {}, process)
        exec_spec = {**spec, "process": {"cwd": "/", **process}}
        try:
            profile = launcher.seccomp_profile(spec)
        except (KeyError, TypeError, AttributeError) as exc:
            raise IsolationError(f"invalid linux.seccomp in config.json: missing or bad {exc}") from None
        saved = (doc.get("cgroup") or {}).get("paths")
        cgroup = SavedCgroup(saved) if saved else driver._cgroup(doc)  # (where it is, whoever made it)
        plan = launcher.Plan(exec_spec, doc.get("rootfs") or "/", doc["bundle"], "", stdio or (0, 1, 2),
                             cgroup, {}, profile, {}, console, seccomp_cache=driver.context.run_home_dir)
        plan.pid_fd = target
        plan.netns = False  # (the container's loopback is up: the exec process sets nothing up)
        bounding = ((spec.get("process") or {}).get("capabilities") or {}).get("bounding")
        plan.filter_caps = list(bounding or [])  # the container's filter, as it was compiled for it
        flags = 0
        for entry in (spec.get("linux") or {}).get("namespaces") or []:
            if entry.get("type") in JOINED:
                flags |= ns.NAMESPACES[entry["type"]][0]
            elif entry.get("type") != "pid":  # (pid: forked into it)
                raise IsolationError(f"container {container_id} has a {entry.get('type')} namespace of its own, which "
                                     "the linux driver's exec does not join: exec refused",
                                     hint="use the oci driver (--runtime crun)")
        join.settle_all()
        launcher._preload(plan)
        plan.modules = _modules(exec_spec, plan.seccomp_program is None)
        if process.get("terminal"):
            import socket  # noqa: F401 (the child sends the pty master)
            import struct  # noqa: F401 (and sets its size)
            import termios  # noqa: F401
        return _fork(plan, target, flags, preserve_fds)
    finally:
        os.close(target)


def _refuse_ptrace(container_id: str, *processes: dict[str, Any]) -> None:
    """Refuse an exec where a process of the container may hold CAP_SYS_PTRACE (the container's
    own, or the exec process itself: ``--privileged``): ptrace ignores the exec process's being
    non-dumpable, and it runs the host's interpreter until execve (CVE-2019-5736). crun and runc
    exec from a sealed memfd copy of themselves instead."""
    for proc in processes:
        caps = proc.get("capabilities") or {}
        if any("CAP_SYS_PTRACE" in (caps.get(kind) or ()) for kind in ("bounding", "effective", "permitted")):
            raise IsolationError(f"container {container_id}: a process with CAP_SYS_PTRACE could take over the linux "
                                 "driver's exec process (CVE-2019-5736): exec refused",
                                 hint="use the oci driver (--runtime crun), whose runtime execs from a sealed copy of itself")


class SavedCgroup:
    """The container's cgroup directories as its state saved them: all :class:`.join.Birth` needs."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = dict(paths)

    def paths(self) -> dict[str, str]:
        return dict(self._paths)


def _modules(spec: dict[str, Any], compile_seccomp: bool) -> dict[str, Any]:
    """caps and seccomp for the exec process (imported now: it cannot import in the container);
    libseccomp is loaded only when the filter must be compiled (its program was not cached)."""
    if compile_seccomp:
        from . import _modules as full

        return full(spec)
    out: dict[str, Any] = {}
    if (spec.get("process") or {}).get("capabilities") is not None:
        from . import caps

        caps.last_cap()
        out["caps"] = caps
    if (spec.get("linux") or {}).get("seccomp") or (spec.get("process") or {}).get("noNewPrivileges"):
        from . import seccomp

        out["seccomp"] = seccomp
    return out


def _fork(plan: Any, target: int, flags: int, preserve_fds: int) -> ExecProcess:
    birth = join.Birth(plan.cgroup)
    fds: list[int] = []
    try:
        r, w = os.pipe2(os.O_CLOEXEC)
        fds += [r, w]
        join_r = join_w = -1
        if birth.v2_procs:
            join_r, join_w = os.pipe2(os.O_CLOEXEC)
            fds += [join_r, join_w]
        ns.prctl(PR_SET_DUMPABLE, 0)  # inherited by the child: not dumpable from its first instant
        pid = launcher._fork_in_pid_namespace(plan, birth.fork)
    except BaseException:
        ns.prctl(PR_SET_DUMPABLE, 1)
        for fd in fds:
            os.close(fd)
        birth.close()
        raise
    if pid == 0:  # pragma: no cover - the exec process
        _child(plan, birth, target, flags, preserve_fds, r, w, join_r, join_w)
    ns.prctl(PR_SET_DUMPABLE, 1)
    os.close(w)
    procs = birth.thread_procs()
    birth.close()
    if join_r >= 0:
        os.close(join_r)
    if join_w >= 0 and not procs:
        os.close(join_w)
    pidfd = os.pidfd_open(pid)  # our unreaped child: its pid cannot be reused meanwhile
    if procs:
        join.Join(pid, procs, join_w)
    try:
        report = b""
        while True:  # EOF: the program was exec'd (or the process died without a word)
            chunk = os.read(r, 65536)
            if not chunk:
                break
            report += chunk
    finally:
        os.close(r)
    join.settle(pid)
    if report:
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
        os.close(pidfd)
        code, _, message = report.decode(errors="replace").partition("\t")
        exit_code = int(code) if code.isdigit() else launcher.EXIT_SETUP
        if message.startswith("chdir "):
            hint = "check that the working directory (-w) is a directory in the container"
        elif exit_code in (launcher.EXIT_NOT_FOUND, launcher.EXIT_CANNOT_INVOKE):
            hint = "check that the command exists in the container and is executable"
        else:
            hint = "the container's settings are in its bundle's config.json"
        raise IsolationError(message, hint=hint, exit_code=exit_code)
    return ExecProcess(pid=pid, pidfd=pidfd)


def _child(plan: Any, birth: Any, target: int, flags: int, preserve_fds: int, r: int, w: int,
           join_r: int, join_w: int) -> None:  # pragma: no cover - runs in the exec process
    def die(message: str, code: int) -> None:
        try:
            os.write(report, f"{code}\t{message}".encode(errors="replace")[:REPORT_MAX])
        finally:
            os._exit(code)

    report = w
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGHUP, signal.SIGCHLD, signal.SIGWINCH):
            signal.signal(sig, signal.SIG_DFL)
        # Above the descriptors the program keeps (0-2 and the preserved ones): closed by its execve.
        report = fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 3 + preserve_fds)
        own_error = birth.join_self()
        thread = not birth.born_in_v2 and join_r >= 0
        birth.close()
        for fd in (r, w, join_w, -1 if thread else join_r):
            if fd >= 0:
                os.close(fd)
        join.Waiter(join_r if thread else -1, False, rfs.SetupError, own_error)()
        proc = plan.spec["process"]
        terminal = bool(proc.get("terminal"))
        # A session of its own, always: without it the process would keep the caller's controlling
        # terminal (open("/dev/tty") in the container, TIOCSTI into the host's shell). The caller
        # forwards the terminal's signals through the pidfd.
        os.setsid()
        if flags:
            ns.setns_fd(target, flags, "into the container's namespaces")
        os.close(target)
        if not (terminal and plan.console is not None):
            launcher._stdio(plan.stdio, terminal)
        else:
            import socket

            master, slave = rfs.open_pty("/")
            with socket.socket(fileno=os.dup(plan.console)) as sock:
                socket.send_fds(sock, [b"pty"], [master])
            os.close(master)
            size = proc.get("consoleSize") or {}
            if size.get("height") and size.get("width"):  # before the program runs, as runc does
                import struct
                import termios

                fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size["height"], size["width"], 0, 0))
            launcher._stdio((slave, slave, slave), True)
            os.close(slave)
        if plan.console is not None:
            os.close(plan.console)
        launcher._rlimits(proc.get("rlimits") or [])
        ns.close_fds_from(3 + preserve_fds, report)  # before chdir: no host descriptor to go through
        cwd = proc.get("cwd") or "/"
        try:
            launcher.chdir_inside(cwd)
        except OSError as exc:
            die(f"chdir {cwd}: {exc.strerror.lower() if exc.strerror else os.strerror(exc.errno or 0).lower()}",
                launcher.EXIT_NOT_FOUND if exc.errno == 2 else launcher.EXIT_CANNOT_INVOKE)
        launcher._become_user_process(plan, proc, die, (3 + preserve_fds, report))
    except BaseException as exc:
        die(launcher._describe(exc), launcher.EXIT_SETUP)
    os._exit(launcher.EXIT_SETUP)
