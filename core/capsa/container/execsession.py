"""Exec sessions: the process ``exec`` runs in a container, its stdio, its record, its waiter.

The OCI process (:func:`process_for`) is the container's own (its bundle's ``process``) with
exec's changes: the command, ``-e``/``--env-file`` over the container's environment, ``-u``
(resolved in the container's /etc/passwd, with the capabilities podman gives that user), ``-w``,
``-t`` and ``--privileged`` (every capability, as podman's exec).

Three ways to run it, all tracked by a pidfd of the process (the caller's child):

* attached without a terminal (:func:`attached`): the caller is the process's parent, no other
  process is made. Its stdio are pipes: the caller's own descriptor when it already is a pipe
  (or a socket, or /dev/null), else a pipe the caller relays (a host terminal or file never
  enters the container: a terminal would let it inject input with TIOCSTI, a file could be
  reopened for writing through /proc/self/fd). Without ``-i`` stdin is /dev/null;
* with ``-t``, or ``-d``: a small **waiter** (:func:`in_waiter`, a child of the caller in a
  session of its own) starts the process and is its parent: it holds the pidfd, removes the
  session's record when the process exits and reports its exit code to the caller while one is
  attached (with ``-d`` the exit code is not kept). With ``-t`` it sends the
  pty master to the caller (which relays it, :mod:`capsa.container.exectty`) and keeps it, so
  detaching (the detach keys) leaves the process running; with ``-d`` it has no one to talk to.

Records: ``<run dir>/exec/<id>.json`` (``id``, ``pid``, ``command``, ``tty``, ``detached``,
``started``: the process's start time, so that a reused pid is not taken for it) while the
session runs; ``inspect`` lists their ids as ``ExecIDs``. The monitor removes the folder at the
end of each run of the container (its exec processes die with it).
"""
from __future__ import annotations

import os
import stat

from capsa.errors import EXIT_ENGINE, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords
    from capsa.drivers.isolation import ExecProcess

    Start = Callable[[tuple[int, int, int], "int | None"], ExecProcess]

NOT_RUNNING = "can only create exec sessions on running containers: container state improper"  # podman's words


def process_for(config: ContainerConfig, spec: dict[str, Any], command: list[str], env: list[str], user: str,
                workdir: str, tty: bool, privileged: bool) -> dict[str, Any]:
    """The OCI process of an exec session in the container of ``config``, whose bundle's
    config.json is ``spec`` (see the module docstring; ``command`` is not empty: the engine
    checked it). Bad input raises UsageError."""
    base = dict(spec.get("process") or {})
    process: dict[str, Any] = {**base, "args": list(command), "terminal": tty}
    environment = dict(item.partition("=")[::2] for item in base.get("env") or [])
    given = dict(item.partition("=")[::2] for item in env)
    if user:
        from capsa.container.userinfo import resolve_user

        who = resolve_user((spec.get("root") or {}).get("path") or "/", user)
        process["user"] = {**(base.get("user") or {}), "uid": who.uid, "gid": who.gid,
                           "additionalGids": list(who.additional_gids)}
        if not who.additional_gids:
            process["user"].pop("additionalGids")
        if who.home:
            environment["HOME"] = who.home
    uid = int((process.get("user") or {}).get("uid", 0))
    if privileged or user:
        from capsa.security.caps import process_caps

        caps = process_caps(config.cap_add, config.cap_drop, privileged or config.privileged, uid)
        if privileged:  # every capability capsa itself holds (none can be given that it lacks)
            ours = _own_bounding()
            caps = {key: [c for c in names if c in ours] for key, names in caps.items()}
        process["capabilities"] = caps
    environment.update(given)
    if tty:
        environment.setdefault("TERM", "xterm")
        from capsa.container.terminal import window_size

        size = window_size(0, 1, 2)
        if size is not None:
            process["consoleSize"] = {"height": size[0], "width": size[1]}
    process["env"] = [f"{k}={v}" for k, v in environment.items()]
    if workdir:
        if not workdir.startswith("/"):
            raise UsageError(f"workdir {workdir!r} is not an absolute path", hint="use -w /some/dir")
        process["cwd"] = os.path.normpath(workdir)
    return process


def _own_bounding() -> set[str]:
    from capsa.security.caps import names

    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("CapBnd:"):
                return set(names(int(line.split()[1], 16)))
    return set()


# -- records ----------------------------------------------------------------------------------------

def new_id() -> str:
    return os.urandom(32).hex()


def record(records: ContainerRecords, container_id: str, exec_id: str, info: dict[str, Any]) -> None:
    """Write the session's record; ``info["pid"]``'s start time goes with it (a pid reused later
    is not the session's)."""
    from capsa.fastpath.jsonio import dumps

    folder = records.run_dir(container_id, "exec")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{exec_id}.json"), "w") as fh:
        fh.write(dumps({"id": exec_id, **info, "started": start_time(int(info.get("pid") or 0))}))


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/PID/stat), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rpartition(b")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def forget(records: ContainerRecords, container_id: str, exec_id: str) -> None:
    try:
        os.unlink(records.run_dir(container_id, "exec", f"{exec_id}.json"))
    except OSError:
        pass


def session_ids(records: ContainerRecords, container_id: str) -> list[str]:
    """The ids of the container's exec sessions that run (podman's ``ExecIDs``)."""
    from capsa.fastpath.jsonio import loads

    folder = records.run_dir(container_id, "exec")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in sorted(names):
        try:
            with open(os.path.join(folder, name), "rb") as fh:
                doc = loads(fh.read())
            pid, started = int(doc.get("pid") or 0), doc.get("started")
        except (OSError, ValueError, AttributeError, TypeError):
            continue
        # (a waiter killed leaves its record: the process must be alive, and the same one)
        if name.endswith(".json") and pid > 0 and started is not None and start_time(pid) == started:
            found.append(name[:-5])
    return found


# -- attached, without a terminal ------------------------------------------------------------------

def _passable(fd: int) -> bool:
    """Whether the caller's ``fd`` may be handed to the container as it is: a pipe, a socket or
    /dev/null (see the module docstring)."""
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        return True
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def attached(records: ContainerRecords, container_id: str, exec_id: str, command: list[str], start: Start,
             interactive: bool) -> int:
    """Run the session in the foreground without a terminal; its exit code."""
    import _signal as signal  # (the signal module would build its enums: milliseconds on exec's path)

    from capsa.drivers.isolation import wait_exec

    theirs: list[int] = []
    relays: list[tuple[int, int]] = []  # (read from, write to)
    stdio = []
    null = -1
    try:
        for fd in (0, 1, 2):
            if fd == 0 and not interactive:
                null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
                stdio.append(null)
            elif _passable(fd):
                stdio.append(fd)
            else:
                r, w = os.pipe2(os.O_CLOEXEC)
                stdio.append(r if fd == 0 else w)
                theirs.append(r if fd == 0 else w)
                relays.append((fd, w) if fd == 0 else (r, fd))
        proc = start((stdio[0], stdio[1], stdio[2]), None)
    except BaseException:
        for r, w in relays:
            for end in (r, w):
                if end > 2:
                    os.close(end)
        raise
    finally:
        for fd in theirs + ([null] if null >= 0 else []):
            os.close(fd)
    record(records, container_id, exec_id, {"pid": proc.pid, "command": command, "tty": False, "detached": False})
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

    def forward(signum: int, _frame: object) -> None:
        try:
            signal.pidfd_send_signal(proc.pidfd, signum)
        except OSError:
            pass

    previous = {s: signal.signal(s, forward) for s in forwarded}
    try:
        if relays:
            from capsa.container.execrelay import relay

            relay(relays, proc.pidfd)
        return wait_exec(proc)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        forget(records, container_id, exec_id)


# -- the waiter (-t, -d) ----------------------------------------------------------------------------

def in_waiter(records: ContainerRecords, container_id: str, exec_id: str, command: list[str], start: Start,
              tty: bool, detach: bool, preserve_fds: int = 0) -> tuple[int, int]:
    """Fork the waiter, which starts the session and is its parent (see the module docstring).
    It keeps none of the descriptors the caller inherited but ``preserve_fds`` (3 and up, passed
    on to the process, then closed). Returns (a socket to the waiter, the pty master or -1) once the process runs; raises the
    start's error. The waiter sends ``exit N`` on the socket when the process exits."""
    import socket

    from capsa.errors import CapsaError

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the waiter
        code = EXIT_ENGINE
        try:
            ours.close()
            _close_inherited(set(range(3, 3 + preserve_fds)) | {theirs.fileno()})
            code = _waiter(records, container_id, exec_id, command, start, tty, detach, theirs)
            for fd in range(3, 3 + preserve_fds):  # (the process has them now)
                try:
                    os.close(fd)
                except OSError:
                    pass
        finally:
            os._exit(code)
    theirs.close()
    fds: list[int] = []
    try:
        message, fds, _, _ = socket.recv_fds(ours, 65536, 1)
    except OSError:
        message = b""
    head, _, rest = message.decode(errors="replace").partition(" ")
    if head != "ok":
        ours.close()
        for fd in fds:
            os.close(fd)
        os.waitpid(pid, 0)
        code, _, text = rest.partition(" ")
        message_text, _, hint = text.partition("\n")  # the message, then its hint
        raise CapsaError(message_text or "the exec session's waiter exited without a word", hint,
                         exit_code=int(code) if code.isdigit() else EXIT_ENGINE)
    _reap_later(pid)
    return ours.detach(), (fds[0] if fds else -1)


def _reap_later(pid: int) -> None:
    """The waiter outlives the caller when it detaches; while the caller lives it is reaped
    after its last word (:func:`waiter_exit`)."""
    _waiters.append(pid)


_waiters: list[int] = []


def waiter_exit(sock: int, got: bytes = b"") -> int:
    """Block until the waiter reports the process's exit code (``got``: what it said already).
    A waiter that went away without a word (killed) raises CapsaError, exit 125: the session's
    exit code is lost (its process may still run)."""
    from capsa.errors import CapsaError

    buf = got
    while True:
        try:
            chunk = os.read(sock, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
    os.close(sock)
    waiters = list(_waiters)
    statuses = []
    for pid in waiters:
        try:
            statuses.append(os.waitpid(pid, 0)[1])
        except ChildProcessError:
            pass
    _waiters.clear()
    text = buf.decode(errors="replace").strip()
    if text.startswith("exit ") and text[5:].lstrip("-").isdigit():
        return int(text[5:])
    how = ", ".join(f"{os.waitstatus_to_exitcode(s)}" for s in statuses) or "unknown"
    raise CapsaError(f"the exec session's waiter (pid {', '.join(map(str, waiters)) or '?'}) went away without "
                     f"reporting its exit code (waiter exit status {how})",
                     "its process may still run in the container (capsa inspect, capsa top)", exit_code=EXIT_ENGINE)


def _close_inherited(keep: set[int]) -> None:  # pragma: no cover - runs in the waiter
    """Close the descriptors above 2 this process inherited across an exec (those without
    FD_CLOEXEC: capsa's own have it) but ``keep``: a pipe given to the CLI must see EOF when the
    CLI exits, not when a detached session ends."""
    import fcntl

    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2 or fd in keep:
            continue
        try:
            if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                os.close(fd)
        except OSError:  # (the listing's own descriptor, closed meanwhile)
            pass


def _waiter(records: ContainerRecords, container_id: str, exec_id: str, command: list[str], start: Start,
            tty: bool, detach: bool, sock: Any) -> int:  # pragma: no cover - runs in the waiter
    import select
    import signal
    import socket

    from capsa.drivers.isolation import wait_exec
    from capsa.errors import CapsaError

    os.setsid()  # out of the terminal's session: its hangup or ^C is not the waiter's
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(s, signal.SIG_IGN if s == signal.SIGPIPE else signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    for fd in (0, 1, 2):  # the caller's stdio is not held: whoever reads its output sees EOF when it exits
        os.dup2(null, fd)
    console = None
    try:
        if tty:
            console_ours, console_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            console = console_theirs.fileno()
        proc = start((null, null, null), console)  # (with a terminal, the pty is its stdio)
    except CapsaError as exc:
        sock.sendall(f"err {exc.exit_code} {exc.message}\n{exc.hint}".encode(errors="replace"))
        return exc.exit_code
    except BaseException as exc:
        sock.sendall(f"err {EXIT_ENGINE} {type(exc).__name__}: {exc}\n".encode(errors="replace"))
        return EXIT_ENGINE
    finally:
        os.close(null)
    master = -1
    if tty:
        console_theirs.close()
        _, fds, _, _ = socket.recv_fds(console_ours, 16, 1)
        console_ours.close()
        master = fds[0]
    record(records, container_id, exec_id, {"pid": proc.pid, "command": command, "tty": tty, "detached": detach})
    try:
        if master >= 0:
            socket.send_fds(sock, [b"ok " + exec_id.encode()], [master])
        else:
            sock.sendall(b"ok " + exec_id.encode())
    except OSError:
        pass
    if detach:
        sock.close()
        sock = None
    # Until the process exits: while the caller is attached it reads the pty; once it left
    # (EOF on the socket: detached, or gone), the waiter drains the pty so the process never blocks.
    poller = select.poll()
    poller.register(proc.pidfd, select.POLLIN)
    if sock is not None:
        poller.register(sock.fileno(), select.POLLIN)
    elif master >= 0:
        poller.register(master, select.POLLIN)
    done = False
    while not done:
        for fd, _ in poller.poll():
            if fd == proc.pidfd:
                done = True
            elif sock is not None and fd == sock.fileno():
                try:
                    left = not sock.recv(4096)
                except OSError:
                    left = True
                if left:
                    poller.unregister(fd)
                    sock.close()
                    sock = None
                    if master >= 0:
                        poller.register(master, select.POLLIN)
            elif fd == master:
                try:
                    os.read(master, 65536)
                except OSError:
                    poller.unregister(master)
    code = wait_exec(proc)
    forget(records, container_id, exec_id)
    if sock is not None:
        try:
            sock.sendall(f"exit {code}".encode())
        except OSError:
            pass
        sock.close()
    if master >= 0:
        os.close(master)
    return 0
