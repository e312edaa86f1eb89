"""Fork/exec machinery: the caller forks A, A enters the namespaces and forks B (the container's
PID 1), B builds the container and waits on the exec fifo, then becomes the user process.

Sync protocol, two CLOEXEC pipes:

* report pipe, children to parent, JSON lines: A sends ``{"pid": B}`` (B's pid in the caller's
  pid namespace) and exits; B sends ``{"ready": true}`` or ``{"error": "..."}``;
* join pipe, parent to B (only when there is a cgroup): on ``{"pid": B}`` the parent writes B's
  pid into every hierarchy's ``cgroup.procs`` (the limits were set on the directories before),
  then writes one byte. Meanwhile B builds its mounts and pivots (the first v1 migration waits
  for an RCU grace period, 7-15 ms, which this overlaps). B reads the byte before it unshares
  its cgroup namespace (so the namespace's root is the container's cgroup), before it reports
  ready, and so before seccomp and capabilities; on a cgroup2 host it reads it before mounting
  cgroup2. If the parent cannot move B, it kills B and reports the cgroup error (an error B had
  already sent wins: it is the cause); EOF instead of the byte makes B give up.

Seccomp: the parent compiles the filter (or reads it from the cache in the driver's run_home,
see seccomp_cache.py) before forking; B only loads the bytes. Children never return into the
caller's code: every path ends in ``os._exit``/``execve``.
"""
from __future__ import annotations

import json
import os
import signal
from typing import Any

from capsa.errors import IsolationError

from . import namespaces as ns
from . import rootfs as rfs

READY_TIMEOUT = 30.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IFF_UP, IFF_RUNNING = 0x1, 0x40
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
EXIT_SETUP, EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND = 125, 126, 127


class LaunchError(Exception):
    """The container could not be set up; ``pid`` is B's pid if it was forked (already reaped)."""


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
        self.unshare = 0
        self.join: list[tuple[str, int]] = []
        self.new_cgroupns = False
        self.netns = False
        for entry in linux.get("namespaces") or []:
            flag = ns.NAMESPACES[entry["type"]][0]
            if entry.get("path"):
                self.join.append((entry["path"], flag))
            elif flag == ns.CLONE_NEWCGROUP:
                self.new_cgroupns = True
            else:
                self.unshare |= flag
            if flag == ns.CLONE_NEWNET:
                self.netns = True


def _send(fd: int, msg: dict[str, Any]) -> None:
    try:
        os.write(fd, (json.dumps(msg) + "\n").encode())
    except OSError:
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno and not isinstance(exc.strerror, str):
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__


def launch(plan: Plan, timeout: float = READY_TIMEOUT) -> int:
    """Fork A (and through it B); move B into plan.cgroup; return B's pid once B is ready and
    waits on the exec fifo (see the module docstring).

    On failure B is killed and both children are reaped (the caller must be a child subreaper
    for B to be reparented to it) and LaunchError is raised.
    """
    import select
    import time

    _preload(plan)
    r, w = os.pipe2(os.O_CLOEXEC)
    join_r = join_w = -1
    try:
        if plan.cgroup is not None:
            join_r, join_w = os.pipe2(os.O_CLOEXEC)
        a = os.fork()
    except OSError:
        for fd in (r, w, join_r, join_w):
            if fd >= 0:
                os.close(fd)
        raise
    if a == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(r)
            if join_w >= 0:
                os.close(join_w)  # B must see EOF if the parent goes away
            _child_a(plan, w, join_r)
            code = 0
        except BaseException as exc:
            _send(w, {"error": _describe(exc)})
        finally:
            os._exit(code)
    os.close(w)
    if join_r >= 0:
        os.close(join_r)
    pid_b: int | None = None
    error: str | None = None
    join_error: str | None = None
    ready = eof = False
    buf = b""
    deadline = time.monotonic() + timeout
    poller = select.poll()
    poller.register(r, select.POLLIN)
    try:
        # After a failed join, read on to EOF: B is killed, and an error it sent before is the cause.
        while not eof and (pid_b is None or join_error is not None or not (ready or error is not None)):
            left = deadline - time.monotonic()
            if left <= 0:
                error = error or f"the container was not ready within {timeout:.0f}s"
                break
            if not poller.poll(left * 1000):
                continue
            chunk = os.read(r, 65536)
            if not chunk:
                eof = True
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if "pid" in msg:
                    pid_b = msg["pid"]
                    if join_w >= 0:
                        join_error = _join(plan, pid_b, join_w, error is None)
                        join_w = -1
                elif msg.get("ready"):
                    ready = True
                elif "error" in msg and error is None:
                    error = msg["error"]
    finally:
        os.close(r)
        if join_w >= 0:
            os.close(join_w)
    error = error or join_error
    if not ready and error is None:
        error = "the container's setup process exited without a word"
    if error is not None:
        try:
            os.kill(a, signal.SIGKILL)  # a no-op on the zombie of an A that already exited
        except ProcessLookupError:
            pass
    _reap(a)
    if error is not None:
        if pid_b is not None:
            kill_and_reap(pid_b)
        raise LaunchError(error)
    assert pid_b is not None
    return pid_b


def _join(plan: Plan, pid: int, join_w: int, wanted: bool) -> str | None:
    """Move B into plan.cgroup and tell it so (one byte on ``join_w``, which is closed here).
    On failure (or when not ``wanted``: B already failed) B is killed; returns the error."""
    problem = None
    try:
        if wanted:
            try:
                plan.cgroup.add(pid)
                os.write(join_w, b"j")
                return None
            except IsolationError as exc:
                problem = _describe(exc)
            except OSError:  # B is gone: the pipe is broken and B reported why (or EOF says it)
                return None
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return problem
    finally:
        os.close(join_w)


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
            pass  # B compiles it itself, and fails as it did before the cache, at exec time


def _reap(pid: int) -> int | None:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def kill_and_reap(pid: int) -> None:
    """SIGKILL a child of ours (B after A exited) and collect it: no zombie is left."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


# --- process A -------------------------------------------------------------------------------

def _child_a(plan: Plan, w: int, join_r: int) -> None:  # pragma: no cover - runs in the child
    for path, flag in plan.join:
        ns.setns(path, flag)
    if plan.unshare:
        ns.unshare(plan.unshare)
    b = os.fork()
    if b == 0:
        code = EXIT_SETUP
        try:
            _child_b(plan, w, _Joiner(plan, join_r))
        except BaseException as exc:
            _send(w, {"error": _describe(exc)})
        finally:
            os._exit(code)
    _send(w, {"pid": b})


# --- process B -------------------------------------------------------------------------------

class _Joiner:  # pragma: no cover - runs in the child
    """B's side of the join pipe: called (once or more) before what needs B in its cgroup."""

    def __init__(self, plan: Plan, join_r: int) -> None:
        self.fd = join_r
        self.new_cgroupns = plan.new_cgroupns
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        if self.fd >= 0:
            try:
                got = os.read(self.fd, 1)
            finally:
                os.close(self.fd)
                self.fd = -1
            if not got:
                raise rfs.SetupError("the container was not moved into its cgroup")
        if self.new_cgroupns:  # now in the container's cgroup: it becomes the namespace's root
            ns.unshare(ns.CLONE_NEWCGROUP)
        self.done = True


def _child_b(plan: Plan, w: int, joined: _Joiner) -> None:  # pragma: no cover - runs in the child
    """Build the container, wait to be in its cgroup, report ready, wait for start, then exec.
    Never returns normally after ready: failures from then on go to the container's stderr
    with an exit code."""
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
    _rlimits(proc.get("rlimits") or [])
    cwd = proc.get("cwd") or "/"
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise rfs.SetupError(f"working directory {cwd}: {os.strerror(exc.errno or 0)}") from None
    joined()  # as late as can be: the parent's cgroup migration overlapped all of the above
    _send(w, {"ready": True})
    os.close(w)
    # Blocks until start opens the fifo for reading.
    try:
        fd = os.open(f"/proc/self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(fd, b"0")
        os.close(fd)
        os.close(fifo)
    except OSError as exc:
        _die(f"exec fifo: {os.strerror(exc.errno or 0)}", EXIT_SETUP)
    try:
        _become_user_process(plan, proc)
    except BaseException as exc:
        _die(_describe(exc), EXIT_SETUP)


def _die(message: str, code: int) -> None:  # pragma: no cover - runs in the child
    try:
        os.write(2, f"capsa: {message}\n".encode())
    finally:
        os._exit(code)


def _stdio(stdio: tuple[int, int, int], terminal: bool) -> None:  # pragma: no cover
    import fcntl

    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for target, fd in enumerate(high):
        os.dup2(fd, target, inheritable=True)
        os.close(fd)
    if terminal:
        import termios

        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _loopback_up() -> None:  # pragma: no cover
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 0) as sock:
        got = fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack("16sH22x", got)[1]
        if flags & IFF_UP == 0:
            fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP | IFF_RUNNING))


def rlimit_value(value: int) -> int:
    import resource

    return resource.RLIM_INFINITY if value >= 2**63 - 1 else int(value)


def _rlimits(rlimits: list[dict[str, Any]]) -> None:  # pragma: no cover
    import resource

    for rl in rlimits:
        name = rl["type"]
        kind = getattr(resource, name, None)
        if not isinstance(kind, int):
            raise rfs.SetupError(f"unknown rlimit {name}")
        soft, hard = rlimit_value(rl["soft"]), rlimit_value(rl["hard"])
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError) as exc:
            current = resource.getrlimit(kind)[1]
            raise rfs.SetupError(f"rlimit {name} (soft {rl['soft']}, hard {rl['hard']}): {exc}; "
                                 f"the current hard limit is {current}") from None


def _become_user_process(plan: Plan, proc: dict[str, Any]) -> None:  # pragma: no cover
    """Switch user, apply no_new_privs/seccomp/capabilities, exec. Order:
    seccomp first when NNP is off (loading it needs CAP_SYS_ADMIN), last when it is on."""
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
    ns.prctl(ns.PR_SET_KEEPCAPS, 0)
    if uid != 0:
        ns.raise_effective_caps()
    if spec_caps is not None and caps is not None:
        caps.apply(spec_caps.get("bounding") or [], spec_caps.get("effective") or [],
                   spec_caps.get("permitted") or [], spec_caps.get("inheritable") or [],
                   spec_caps.get("ambient") or [])
    if nnp:
        seccomp.set_no_new_privs() if seccomp is not None else ns.prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
    path = _resolve(args[0], env)
    for sig in range(1, signal.NSIG):
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    ns.close_fds_from(3)
    if plan.seccomp_profile is not None and nnp:
        _seccomp(plan)
    try:
        os.execve(path, args, env)
    except OSError as exc:
        import errno

        if exc.errno == errno.ENOENT:
            _die(f"{args[0]}: no such file or directory", EXIT_NOT_FOUND)
        _die(f"{args[0]}: {os.strerror(exc.errno or 0).lower()}", EXIT_CANNOT_INVOKE)


def _seccomp(plan: Plan) -> None:  # pragma: no cover
    """Load the filter the parent prepared (or, without one, compile it here as before)."""
    from . import seccomp_cache

    seccomp_cache.install(plan.seccomp_program, plan.seccomp_profile or {}, plan.filter_caps)


def _resolve(name: str, env: dict[str, str]) -> str:  # pragma: no cover
    """args[0] looked up in the container's PATH (from process.env) inside the new root."""
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
        _die(f"{denied}: permission denied", EXIT_CANNOT_INVOKE)
    _die(f"executable file `{name}` not found in $PATH", EXIT_NOT_FOUND)
    return name


def seccomp_profile(spec: dict[str, Any]) -> dict[str, Any] | None:
    """linux.seccomp (OCI) in the Docker JSON shape seccomp.install takes (see seccomp.from_oci)."""
    oci = (spec.get("linux") or {}).get("seccomp")
    if not oci:
        return None
    from .seccomp import from_oci

    return from_oci(oci)
