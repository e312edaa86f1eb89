"""``exec`` with the runtime: ``RUNTIME exec --detach --process process.json --pid-file F ID``,
as podman's conmon calls it (crun and runc alike: they join the container's namespaces, cgroup,
capabilities, seccomp filter and no_new_privs, and keep themselves out of reach of the container
while they do, CVE-2019-5736). ``--detach``: the runtime exits once the program was exec'd
(its errors, such as a missing command, come back in its log: exit codes 127 and 126); the
process is reparented to the caller, a child subreaper for the time of the call (as it was
after it), and tracked by a pidfd from then on.
With a terminal the runtime sends the pty master through ``--console-socket``, passed on to the
caller's ``console``."""
from __future__ import annotations

import os

from capsa.drivers.isolation import ExecProcess
from capsa.errors import IsolationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def exec_process(driver: Any, container_id: str, process: dict[str, Any], stdio: tuple[int, int, int] | None,
                 console: int | None, preserve_fds: int) -> ExecProcess:
    """The ``oci`` driver's :meth:`~capsa.drivers.isolation.IsolationDriver.exec`."""
    import subprocess
    import tempfile
    from json import dumps

    from capsa.linux import set_child_subreaper

    from . import TIMEOUT, runtime_error
    from . import console as consolemod

    status = driver._status(container_id)
    if status != "running":
        raise IsolationError(f"container {container_id} is {status}: cannot exec in it",
                             hint="unpause it first" if status == "paused" else "only a running container runs exec sessions")
    os.makedirs(driver.state_root, mode=0o700, exist_ok=True)
    listener = None
    with tempfile.TemporaryDirectory(prefix="exec-", dir=driver.state_root) as work:
        spec = os.path.join(work, "process.json")
        with open(spec, "w") as fh:
            fh.write(dumps({"cwd": "/", **process}))
        pid_file, log = os.path.join(work, "pid"), os.path.join(work, "log")
        logarg = f"--log=file:{log}" if driver.runtime_name.startswith("crun") else f"--log={log}"
        argv = [driver.runtime_path, "--root", driver.state_root, logarg, *driver.options["runtime_flags"], "exec", "--detach",
                "--process", spec, "--pid-file", pid_file]
        if preserve_fds:
            argv += ["--preserve-fds", str(preserve_fds)]
        try:
            if process.get("terminal"):
                if console is None:
                    raise IsolationError("a terminal exec needs a console socket", hint="pass console")
                listener = consolemod.Listener()
                argv += ["--console-socket", listener.path]
            argv.append(container_id)
            was_subreaper = is_child_subreaper()
            set_child_subreaper()  # the process is reparented to us when the runtime exits
            before = own_children()
            fds = stdio or (0, 1, 2)
            try:
                done = subprocess.run(argv, stdin=fds[0], stdout=fds[1], stderr=fds[2], timeout=TIMEOUT,
                                      pass_fds=tuple(range(3, 3 + preserve_fds)))
            except subprocess.TimeoutExpired:
                raise IsolationError(f"{driver.runtime_name} exec did not finish in {TIMEOUT:.0f} s") from None
            except OSError as exc:
                raise IsolationError(f"cannot run {driver.runtime_path}: {exc.strerror}") from None
            if done.returncode != 0:
                reap_new_children(before)
                with open(log, errors="replace") as fh:
                    raise runtime_error(driver.runtime_name, "exec", fh.read())
            with open(pid_file) as fh:
                pid = int(fh.read().strip())
            pidfd = os.pidfd_open(pid)  # our child now (reparented), unreaped: the pid is still its own
            if listener is not None:
                try:
                    listener.forward(console)  # type: ignore[arg-type]
                except BaseException:
                    os.close(pidfd)
                    raise
        finally:
            if listener is not None:
                listener.close()
            if "was_subreaper" in locals() and not was_subreaper:  # (ours now, or reaped: no longer needed)
                set_child_subreaper(False)
    return ExecProcess(pid=pid, pidfd=pidfd)


def is_child_subreaper() -> bool:
    """prctl(PR_GET_CHILD_SUBREAPER) of the caller."""
    import ctypes

    from capsa.linux import libc

    value = ctypes.c_int(0)
    libc().prctl(37, ctypes.byref(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    return bool(value.value)


def own_children() -> set[int]:
    """The pids of this process's children (of each of its threads)."""
    found: set[int] = set()
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as fh:
                found.update(int(pid) for pid in fh.read().split())
    except OSError:
        pass
    return found


def reap_new_children(before: set[int], wait: float = 2.0) -> None:
    """Reap the runtime's helpers left to us (we are a subreaper) by a failed exec: one that
    entered the container's pid namespace keeps the container's PID 1 from dying until reaped."""
    import select

    for pid in own_children() - before:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            if select.select([pidfd], [], [], wait)[0]:
                os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
        except ChildProcessError:
            pass
        finally:
            os.close(pidfd)
