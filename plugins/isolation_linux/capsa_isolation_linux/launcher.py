"""Fork/exec machinery. The caller forks **the container process**: the container's PID 1,
straight into the container's pid namespace. It enters the other namespaces, builds the
container, waits on the exec fifo, then execs the user's program (and so becomes it). There is
no intermediate process: the caller switches its own pid_for_children around the fork (unshare
or setns, then setns back), so the container process is its child.

Sync protocol (all descriptors CLOEXEC):

* report pipe, container process to caller: one JSON line, ``{"ready": true}`` or
  ``{"error": "..."}``; launch() returns at ready, and on an error (or EOF, or the timeout)
  kills and reaps the container process;
* cgroups (join.py): the container process is born in its v2 directory (clone3 with
  CLONE_INTO_CGROUP) and its first act is to move itself into each v1 hierarchy (``tasks``), so
  no process migration waits for an RCU grace period. Where clone3 cannot, the join pipe
  (caller to container process) carries the outcome of a thread of the caller that writes the
  container process's pid into the v2 ``cgroup.procs`` (descriptors opened before the fork; the
  limits were set before): ``j``, or ``E`` and the error; the container process builds its
  mounts, pivots and reports ready meanwhile. **So when create returns, the container process
  may still be joining its cgroup.** It reads the outcome (and its own) only after ``start``
  opened the exec fifo, and before it unshares its cgroup namespace (so the namespace's root is
  the container's cgroup), loads seccomp, drops capabilities and execs: the user process never
  runs outside its cgroup. On a cgroup2 host with a cgroup namespace it reads it earlier, before
  it mounts cgroup2 (the mount shows the mounter's cgroup namespace); a failure then is a
  create error on the report pipe;
* exec fifo, container process to ``start``: the container process opens it for writing (which
  blocks until start opens it for reading), then writes ``0`` and goes on to exec, or ``E`` and
  why it stops there (a failed join) and exits 125 without exec'ing; start raises that error.

Seccomp: the parent compiles the filter (or reads it from the cache in the driver's run_home,
see seccomp_cache.py) before forking; the container process only loads the bytes. Children
never return into the caller's code: every path ends in ``os._exit``/``execve``.
"""
from __future__ import annotations

import os
import _signal as signal  # (not the signal module: its enums cost milliseconds on the run and exec paths)
from collections.abc import Callable

from capsa.errors import IsolationError
from capsa.fastpath.jsonio import dumps, loads

from . import namespaces as ns
from . import rootfs as rfs
from .procsetup import _loopback_up, _rlimits, _stdio, chdir_inside, rlimit_value  # noqa: F401 (execute uses them)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

READY_TIMEOUT = 30.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXIT_SETUP, EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND = 125, 126, 127
FIFO_ERROR_MAX = 3000  # bytes of an error the container process sends start on the exec fifo (< PIPE_BUF: one write)


class LaunchError(Exception):
    """The container could not be set up; ``code``: 127/126 when its command cannot be found or
    invoked (crun's create-time check), else None."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class CommandError(Exception):
    """The container's command cannot be run: ``code`` 127 (not found) or 126 (not executable)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


NOT_FOUND_MESSAGE = "executable file `{}` not found in $PATH: No such file or directory: " \
    "OCI runtime attempted to invoke a command that was not found"
DENIED_MESSAGE = "open executable: Permission denied: OCI permission denied"


class Plan:
    """Everything the children need, computed by the parent before forking."""

    def __init__(self, spec: dict[str, Any], rootfs: str, bundle: str, fifo: str,
                 stdio: tuple[int, int, int], cgroup: Any, cgroup_mount: dict[str, Any],
                 seccomp_profile: dict[str, Any] | None, modules: dict[str, Any], console: int | None = None,
                 seccomp_cache: str | None = None) -> None:
        self.spec = spec
        self.console = console  # a unix socket to send the container's pty master through
        self.rootfs = rootfs
        self.bundle = bundle
        self.fifo = fifo
        self.stdio = stdio
        self.cgroup = cgroup
        self.cgroup_mount = cgroup_mount
        self.seccomp_profile = seccomp_profile
        self.seccomp_cache = seccomp_cache  # directory of compiled filters (None: compile each time)
        self.seccomp_program: Any = None  # seccomp_cache.Program, made by launch() before forking
        self.modules = modules  # caps, seccomp: imported by the parent, before pivot_root
        linux = spec.get("linux") or {}
        spec_caps = (spec.get("process") or {}).get("capabilities")
        # The filter's includes/excludes (if any) follow the container's capabilities, not ours.
        self.filter_caps: list[str] | None = (spec_caps.get("bounding") or []) if spec_caps is not None else None
        self.unshare = 0  # what the container process unshares itself (not pid: it is forked into that one)
        self.join: list[tuple[str, int]] = []  # what the container process joins itself, in order
        self.new_pid, self.pid_path = False, None  # The container process's pid namespace: new, or the one at a path
        self.pid_fd = -1  # or the one of a pidfd's process (exec.py: a process entering a running container)
        self.new_cgroupns = False
        self.netns = False
        for entry in linux.get("namespaces") or []:
            flag = ns.NAMESPACES[entry["type"]][0]
            if flag == ns.CLONE_NEWPID:
                self.new_pid, self.pid_path = not entry.get("path"), entry.get("path") or None
            elif entry.get("path"):
                self.join.append((entry["path"], flag))
            elif flag == ns.CLONE_NEWCGROUP:
                self.new_cgroupns = True
            else:
                self.unshare |= flag
            if flag == ns.CLONE_NEWNET:
                self.netns = True


def _send(fd: int, msg: dict[str, Any]) -> None:
    try:
        os.write(fd, (dumps(msg) + "\n").encode())
    except OSError:
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno and not isinstance(exc.strerror, str):
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__


def launch(plan: Plan, timeout: float = READY_TIMEOUT) -> int:
    """Fork the container process (the caller's child) in the container's pid namespace, start
    moving it into plan.cgroup (join.py), and return its pid once it is ready and waits on the
    exec fifo.

    The join may still be under way on return (see the module docstring). On failure the container process is
    killed and reaped, its join is over, and LaunchError is raised.
    """
    import select
    import time

    from . import join

    join.settle_all()  # no join thread may run across the fork
    _preload(plan)
    birth = join.Birth(plan.cgroup) if plan.cgroup is not None else None
    fds: list[int] = []
    try:
        r, w = os.pipe2(os.O_CLOEXEC)
        fds += [r, w]
        join_r = join_w = -1
        if birth is not None and birth.v2_procs:  # in case the container process cannot be born in its v2 directory
            join_r, join_w = os.pipe2(os.O_CLOEXEC)
            fds += [join_r, join_w]
        b = _fork_in_pid_namespace(plan, birth.fork if birth is not None else os.fork)
    except BaseException:
        for fd in fds:
            os.close(fd)
        if birth is not None:
            birth.close()
        raise
    if b == 0:  # pragma: no cover - runs in the child
        code = EXIT_SETUP
        try:
            own_error = birth.join_self() if birth is not None else None
            thread = birth is not None and not birth.born_in_v2 and join_r >= 0
            if birth is not None:
                birth.close()
            for fd in (r, join_w, -1 if thread else join_r):
                if fd >= 0:
                    os.close(fd)
            for path, flag in plan.join:
                ns.setns(path, flag)
            if plan.unshare:
                ns.unshare(plan.unshare)
            waiter = join.Waiter(join_r if thread else -1, plan.new_cgroupns, rfs.SetupError, own_error)
            _container_process(plan, w, waiter)
        except BaseException as exc:
            _send(w, {"error": _describe(exc), "code": getattr(exc, "code", None)})
        finally:
            os._exit(code)
    os.close(w)
    procs = birth.thread_procs() if birth is not None else []
    if birth is not None:
        birth.close()
    if join_r >= 0:
        os.close(join_r)
    if join_w >= 0 and not procs:
        os.close(join_w)
    error = "the container's setup process exited without a word"
    code = None
    try:
        if procs:
            join.Join(b, procs, join_w)  # owns procs and join_w from here
        deadline = time.monotonic() + timeout
        poller = select.poll()
        poller.register(r, select.POLLIN)
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                error = f"the container was not ready within {timeout:.0f}s"
                break
            if poller.poll(left * 1000):
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                buf += chunk
        if b"\n" in buf:  # The container process's one message: ready, or why not
            try:
                msg = loads(buf.split(b"\n", 1)[0])
            except ValueError:
                msg = {}
            if msg.get("ready"):
                error = ""
                return b
            error = str(msg.get("error") or error)
            code = msg.get("code") if isinstance(msg.get("code"), int) else None
    finally:
        os.close(r)
        if error:
            kill_and_reap(b)  # (settles the join)
    raise LaunchError(error, code)


def _fork_in_pid_namespace(plan: Plan, fork: Callable[[], int] = os.fork) -> int:
    """``fork()`` with the child in plan's pid namespace (a new one, or the one at a path): the
    caller's pid_for_children is switched for the fork, then back. The container process is thus the caller's own
    child from the start: no intermediate process to fork, wait for and reap. A ``fork`` that
    raises join.NotBorn forked nothing: then again with os.fork (and a fresh namespace)."""
    from .join import NotBorn

    try:
        return _fork_in_pid_namespace_with(plan, fork)
    except NotBorn:
        return _fork_in_pid_namespace_with(plan, os.fork)


def _fork_in_pid_namespace_with(plan: Plan, fork: Callable[[], int]) -> int:
    if plan.pid_path is None and not plan.new_pid and plan.pid_fd < 0:
        return fork()
    try:
        saved = os.open("/proc/self/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:  # kernels before 4.12: pid_for_children is then our own
        saved = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    pid = -1
    try:
        if plan.pid_fd >= 0:
            ns.setns_fd(plan.pid_fd, ns.CLONE_NEWPID)
        elif plan.pid_path is not None:
            ns.setns(plan.pid_path, ns.CLONE_NEWPID)
        else:
            ns.unshare(ns.CLONE_NEWPID)
        pid = fork()
    finally:
        if pid != 0:  # the caller (the container process stays in its namespace)
            try:
                ns.setns_fd(saved, ns.CLONE_NEWPID)
            except OSError:
                if pid > 0:
                    kill_and_reap(pid)
                raise
            finally:
                os.close(saved)
        else:
            os.close(saved)
    return pid


def _preload(plan: Plan) -> None:
    """Import now what the children use: after pivot_root the host's modules are out of reach,
    and importing once in the parent is cheaper than in every child."""
    import errno  # noqa: F401
    import fcntl  # noqa: F401
    import resource  # noqa: F401

    if plan.netns:
        import socket  # noqa: F401
        import struct  # noqa: F401
    if (plan.spec.get("process") or {}).get("terminal"):
        import termios  # noqa: F401
    ns.libc()
    if plan.seccomp_profile is not None and plan.seccomp_program is None:
        from . import seccomp_cache

        try:
            plan.seccomp_program = seccomp_cache.program(plan.seccomp_profile, plan.filter_caps, plan.seccomp_cache)
        except (IsolationError, OSError):
            pass  # The container process compiles it itself, and fails as it did before the cache, at exec time


def _reap(pid: int) -> int | None:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def kill_and_reap(pid: int) -> None:
    """SIGKILL the container process ``pid``, a child of ours, let its join (if any) end, and
    collect it: no zombie is left."""
    from . import join

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    join.settle(pid)
    _reap(pid)


# --- the container process: it builds the container, then execs the user's program -------------

def _container_process(plan: Plan, w: int, joined: Callable[[], None]) -> None:  # pragma: no cover - runs in it
    """Build the container, report ready, wait for start, wait to be in its cgroup, then exec.
    Never returns normally after ready: a failed join goes to ``start`` through the exec fifo,
    later failures to the container's stderr with an exit code."""
    spec, proc = plan.spec, plan.spec.get("process") or {}
    linux = spec.get("linux") or {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    os.setsid()
    terminal = bool(proc.get("terminal"))
    if not (terminal and plan.console is not None):
        _stdio(plan.stdio, terminal)
    os.umask(0)
    rfs.prepare(spec, plan.rootfs, plan.bundle, plan.cgroup_mount, joined)
    if terminal and plan.console is not None:  # the pty lives in the container's own devpts
        import socket

        master, slave = rfs.open_pty(plan.rootfs)
        with socket.socket(fileno=os.dup(plan.console)) as sock:
            socket.send_fds(sock, [b"pty"], [master])
        os.close(master)
        _stdio((slave, slave, slave), True)
        os.close(slave)
    if terminal:
        rfs.console(plan.rootfs)
    if spec.get("hostname"):
        ns.sethostname(spec["hostname"])
    if "oomScoreAdj" in proc:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write(str(proc["oomScoreAdj"]))
    if plan.netns:
        _loopback_up()
    fifo = os.open(plan.fifo, os.O_PATH | os.O_CLOEXEC)
    rfs.pivot(plan.rootfs)
    # After pivot_root, as runc does: before it, an image whose /proc is a symlink could point
    # the writes at host files. /proc/sys becomes read-only in finalize.
    rfs.write_sysctls("/", linux.get("sysctl") or {})
    rfs.finalize(spec)
    rlimits = proc.get("rlimits") or []
    _rlimits([rl for rl in rlimits if rl.get("type") != "RLIMIT_NOFILE"])
    cwd = proc.get("cwd") or "/"
    try:
        chdir_inside(cwd)
    except OSError as exc:
        raise rfs.SetupError(f"working directory {cwd}: {os.strerror(exc.errno or 0)}") from None
    _check_command(proc)
    if (linux.get("personality") or {}).get("domain"):
        ns.set_personality(linux["personality"]["domain"])
    _send(w, {"ready": True})
    os.close(w)
    try:  # blocks until start opens the fifo for reading
        fd = os.open(f"/proc/self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC)
        os.close(fifo)
    except OSError as exc:
        _die(f"exec fifo: {os.strerror(exc.errno or 0)}", EXIT_SETUP)
    try:
        # RLIMIT_NOFILE last: opening the exec fifo above needs a descriptor (as crun's, whose
        # init holds fewer, ``--ulimit nofile=10:20`` works); a failure is start's to report
        _rlimits([rl for rl in rlimits if rl.get("type") == "RLIMIT_NOFILE"])
        joined()  # as late as can be: the join ran alongside all of the above
        reply = b"0"
    except BaseException as exc:
        reply = b"E" + _describe(exc).encode(errors="replace")[:FIFO_ERROR_MAX]
    try:
        os.write(fd, reply)  # start reads "0", or "E" and why we stop here
        os.close(fd)
    except OSError as exc:
        _die(f"exec fifo: {os.strerror(exc.errno or 0)}", EXIT_SETUP)
    if reply != b"0":
        os._exit(EXIT_SETUP)
    try:
        _become_user_process(plan, proc)
    except BaseException as exc:
        _die(_describe(exc), EXIT_SETUP)


def _check_command(proc: dict[str, Any]) -> None:  # pragma: no cover - runs in the child
    """As crun's create: the command must be found (else CommandError 127) and be an executable
    file (else 126), checked in the new root before the container is reported ready, so that
    ``run`` (even ``run -d``) fails with podman's message and code instead of a started
    container that exits at once."""
    args = proc.get("args") or []
    if not args:
        return
    name = args[0]
    if "/" in name:
        candidates = [name]
    else:
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in proc.get("env") or [])
        candidates = [os.path.join(folder or ".", name) for folder in env.get("PATH", "").split(":") if "PATH" in env]
    found = [c for c in candidates if os.path.exists(c)]
    if not found:
        raise CommandError(NOT_FOUND_MESSAGE.format(name), EXIT_NOT_FOUND)
    if not any(os.path.isfile(c) and os.stat(c).st_mode & 0o111 for c in found):
        raise CommandError(DENIED_MESSAGE, EXIT_CANNOT_INVOKE)


def _die(message: str, code: int) -> None:  # pragma: no cover - runs in the child
    try:
        os.write(2, f"capsa: {message}\n".encode())
    finally:
        os._exit(code)


def _become_user_process(plan: Plan, proc: dict[str, Any], die: Callable[[str, int], None] | None = None,
                         keep_fds: tuple[int, int] = (3, -1)) -> None:  # pragma: no cover
    """Switch user, apply no_new_privs/seccomp/capabilities, exec. Order:
    seccomp first when NNP is off (loading it needs CAP_SYS_ADMIN), last when it is on.
    ``die(message, code)`` reports a program that cannot be run (default: on stderr, then exit);
    ``keep_fds``: (the first descriptor closed, one descriptor above it kept open or -1)."""
    die = die or _die
    caps, seccomp = plan.modules.get("caps"), plan.modules.get("seccomp")
    user = proc.get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    nnp = bool(proc.get("noNewPrivileges"))
    os.umask(int(user["umask"]) if user.get("umask") is not None else 0o022)
    env = dict(item.split("=", 1) if "=" in item else (item, "") for item in proc.get("env") or [])
    args = proc.get("args") or []
    spec_caps = proc.get("capabilities")
    if plan.seccomp_profile is not None and not nnp:
        _seccomp(plan)
    ns.prctl(ns.PR_SET_KEEPCAPS, 1)
    groups = [int(g) for g in user.get("additionalGids") or []]
    os.setgroups(list(dict.fromkeys(groups + [gid])))
    os.setgid(gid)
    os.setuid(uid)
    ns.prctl(4, 0)  # PR_SET_DUMPABLE: a change of user resets it to fs.suid_dumpable (1: dumpable again)
    ns.prctl(ns.PR_SET_KEEPCAPS, 0)
    if uid != 0:
        ns.raise_effective_caps()
    if spec_caps is not None and caps is not None:
        caps.apply(spec_caps.get("bounding") or [], spec_caps.get("effective") or [],
                   spec_caps.get("permitted") or [], spec_caps.get("inheritable") or [],
                   spec_caps.get("ambient") or [])
    if nnp:
        seccomp.set_no_new_privs() if seccomp is not None else ns.prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
    path = _resolve(args[0], env, die)
    for sig in range(1, signal.NSIG):
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    ns.close_fds_from(keep_fds[0], keep_fds[1])
    if plan.seccomp_profile is not None and nnp:
        _seccomp(plan)
    try:
        os.execve(path, args, env)
    except OSError as exc:
        import errno

        if exc.errno == errno.ENOENT:
            die(f"{args[0]}: no such file or directory", EXIT_NOT_FOUND)
        die(f"{args[0]}: {os.strerror(exc.errno or 0).lower()}", EXIT_CANNOT_INVOKE)


def _seccomp(plan: Plan) -> None:  # pragma: no cover
    """Load the filter the parent prepared (or, without one, compile it here as before)."""
    from . import seccomp_cache

    seccomp_cache.install(plan.seccomp_program, plan.seccomp_profile or {}, plan.filter_caps)


def _resolve(name: str, env: dict[str, str], die: Callable[[str, int], None] | None = None) -> str:  # pragma: no cover
    """args[0] looked up in the container's PATH (from process.env) inside the new root."""
    die = die or _die
    if "/" in name:
        return name
    denied = None
    for folder in env.get("PATH", DEFAULT_PATH).split(":"):
        candidate = os.path.join(folder or ".", name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = denied or candidate
    if denied:
        die(f"{denied}: permission denied", EXIT_CANNOT_INVOKE)
    die(f"executable file `{name}` not found in $PATH", EXIT_NOT_FOUND)
    return name


def seccomp_profile(spec: dict[str, Any]) -> dict[str, Any] | None:
    """linux.seccomp (OCI) in the Docker JSON shape seccomp.install takes (see seccomp.from_oci)."""
    oci = (spec.get("linux") or {}).get("seccomp")
    if not oci:
        return None
    from .seccomp import from_oci

    return from_oci(oci)
