"""The per-container monitor (conmon's role), named ``capsa-monitor``.

Forked (double, into a session of its own) by ``capsa start``/``run`` (see
:mod:`capsa.container.zygote`), so it outlives the CLI. It mounts the container's layer and
writes its bundle, creates and starts the container through the isolation driver, holds the
container's stdio (pipes, or a pty with ``-t``), writes its output to the k8s-file log and to
attached clients, waits for its exit on a pidfd, records the exit code and times, carries out
the restart policy, tears down the runtime and the mounted layer, and honours ``--rm`` —
whether or not the CLI that started it is still there.
"""
from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import time

from capsa.container import attach
from capsa.container.logwriter import timestamp
from capsa.container.procname import name_process
from capsa.container.records import ContainerRecords
from capsa.container.relay import Relay, close_quietly
from capsa.jsonio import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PR_SET_CHILD_SUBREAPER = 36
HANDOFF_AFTER = float(os.environ.get("CAPSA_MONITOR_HANDOFF", "1.0"))  # seconds; see waiter.py
TRACE = bool(os.environ.get("CAPSA_TRACE"))
_T0 = time.monotonic()


def trace(what: str) -> None:
    """With CAPSA_TRACE set, note in monitor.log how long each phase took."""
    if TRACE:
        os.write(2, f"{(time.monotonic() - _T0) * 1000:8.1f} ms  {what}\n".encode())


def _set_subreaper() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class Monitor:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.id: str = cfg["id"]
        self.records = ContainerRecords(cfg["root"], cfg["runroot"])
        self.run_dir = self.records.run_dir(self.id)
        self.msg_fd: int | None = cfg.get("msg_fd")
        self.go_fd: int | None = cfg.get("go_fd")
        self._drivers: dict[str, Any] = {}

    # -- talking to the CLI that started us ---------------------------------------------------

    def tell(self, **event: Any) -> None:
        if self.msg_fd is None:
            return
        try:
            os.write(self.msg_fd, (dumps(event) + "\n").encode())
        except OSError:
            self.msg_fd = None  # the CLI is gone: carry on alone

    def wait_go(self) -> None:
        """Block until the CLI says go (it attached), or went away, or 60 s passed."""
        if self.go_fd is None:
            return
        sel = selectors.DefaultSelector()
        sel.register(self.go_fd, selectors.EVENT_READ)
        sel.select(timeout=60)
        sel.close()
        os.close(self.go_fd)
        self.go_fd = None

    # -- drivers --------------------------------------------------------------------------------

    def driver(self, kind: str) -> Any:
        """The configured driver of ``kind``, loaded once."""
        if kind not in self._drivers:
            from capsa.drivers import load_driver

            spec = self.cfg[kind]
            self._drivers[kind] = load_driver(kind, spec["name"], spec["options"], root=self.cfg["root"],
                                              runroot=self.cfg["runroot"])
        return self._drivers[kind]

    @property
    def iso(self) -> Any:
        return self.driver("isolation")

    # -- the container's stdio ----------------------------------------------------------------

    def make_stdio(self) -> tuple[tuple[int, int, int], dict[str, int], list[int]]:
        """(fds for the container, our ends by role, fds to close after create). With a tty the
        runtime allocates the pty in the container and sends us its master (see run_once)."""
        if self.cfg["tty"]:
            ours_sock, theirs_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self._console = ours_sock
            null = os.open(os.devnull, os.O_RDWR)
            return (null, null, null), {}, [null, theirs_sock.detach()]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if self.cfg["interactive"]:
            in_r, in_w = os.pipe()
        else:
            in_r, in_w = os.open(os.devnull, os.O_RDONLY), -1
        ours = {"out": out_r, "err": err_r}
        if in_w >= 0:
            ours["in"] = in_w
        return (in_r, out_w, err_w), ours, [in_r, out_w, err_w]

    # -- one run of the container -------------------------------------------------------------

    def run_once(self, first: bool, restarts: int = 0) -> int:
        if not first and self.records.state(self.id).stop_requested:
            return self.records.state(self.id).exit_code  # stopped between two runs
        trace("creating")  # (the CLI wrote the bundle and mounted the layer, which is ours to unmount)
        stdio, ours, theirs = self.make_stdio()
        try:
            if self.cfg["tty"]:
                state = self.iso.create(self.id, self.cfg["bundle"], stdio=stdio, console=theirs[1])
            else:
                state = self.iso.create(self.id, self.cfg["bundle"], stdio=stdio)
        except Exception as exc:
            for fd in [*theirs, *ours.values()]:
                _close(fd)
            raise exc
        for fd in theirs:
            _close(fd)
        if self.cfg["tty"]:
            with self._console:
                _, fds, _, _ = socket.recv_fds(self._console, 16, 1)
            master = fds[0]
            ours = {"out": master, "in": master}
        trace("created")
        pid = int(state.pid)
        pidfd = os.pidfd_open(pid)
        if first:
            self.tell(event="created", pid=pid)
            self.wait_go()
            self.relay.accept_waiting()  # whoever attached before "go" sees the very first output
        trace("go")
        self.iso.start(self.id)
        trace("started")
        self.records.update_state(self.id, status="running", pid=pid, monitor_pid=os.getpid(),
                                  started_at=timestamp(), error="")
        if first:
            self.tell(event="started", pid=pid)
            if not _has_exited(pidfd):  # (one that is done already is torn down at once)
                _load_for_teardown(self.cfg["storage"]["name"])  # while the container runs, not before it
        code = self.relay.pump(pidfd, ours, handoff_after=HANDOFF_AFTER)
        if code is None:  # still running: a lean waiter watches it from here (never returns)
            self.hand_off(pidfd, ours, restarts)
        os.close(pidfd)
        for fd in set(ours.values()):
            _close(fd)
        return code  # type: ignore[return-value]

    def hand_off(self, pidfd: int, ours: dict[str, int], restarts: int) -> None:
        """Exec the lean waiter (:mod:`capsa.container.waiter`) for the rest of this run; it
        execs the monitor again when the container exits. Does not return."""
        for fd in (self.msg_fd, self.go_fd):
            if fd is not None:
                _close(fd)
        self.msg_fd = self.go_fd = None
        for fd in (pidfd, *ours.values()):
            os.set_inheritable(fd, True)
        cfg = {k: v for k, v in self.cfg.items() if k not in ("msg_fd", "go_fd")}
        state = {"log": str(self.records.log_path(self.id)), "tty": bool(self.cfg["tty"]), "pidfd": pidfd,
                 "ours": ours, "relay": self.relay.handoff_fds(), "resume": {"cfg": cfg, "restarts": restarts}}
        trace("handing over to the waiter")
        os.execv(sys.executable, [sys.executable, "-I", "-m", "capsa.container.waiter", dumps(state)])

    # -- the whole life -----------------------------------------------------------------------

    def should_restart(self, code: int, restarts: int) -> bool:
        policy, limit = self.cfg["restart_policy"], self.cfg["restart_max"]
        if policy == "always":
            return True
        if policy == "on-failure" and code != 0:
            return limit <= 0 or restarts < limit
        return False

    def main(self, resume: dict[str, Any] | None = None) -> int:
        """Run the container (and its restarts) to the end; ``resume`` continues after a run
        the waiter watched: its exit code, the restarts so far and the relay's descriptors."""
        log = str(self.records.log_path(self.id))
        if resume is None:
            _set_subreaper()
            self.relay = Relay(log, attach.listen(os.path.join(self.run_dir, "attach")), bool(self.cfg["tty"]))
            self.tell(event="listening")  # clients may attach from now on: see lifecycle.start
            code, restarts, first = None, 0, True
        else:
            self.relay = Relay.adopt(log, bool(self.cfg["tty"]), resume["relay"])
            code, restarts, first = int(resume["code"]), int(resume["restarts"]), False
        self.listener = self.relay.listener
        try:
            while True:
                try:
                    if code is None:
                        code = self.run_once(first, restarts)
                except Exception as exc:  # the container could not be created or started
                    message = getattr(exc, "message", str(exc))
                    self.records.update_state(self.id, status="stopping", exit_code=125, error=message,
                                              finished_at=timestamp())
                    self.tell(event="error", message=message, hint=getattr(exc, "hint", ""))
                    code = 125
                    break
                trace("exited")
                state = self._runtime_state()
                with self.records.lock(self.id).exclusive():  # decided together with `stop`
                    current = self.records.state(self.id)
                    again = not current.stop_requested and self.should_restart(code, restarts)
                    # "exited" is written only once teardown is done (below): until then the
                    # container is "stopping" (or "restarting"), so rm/prune/wait wait for us.
                    current.status = "restarting" if again else "stopping"
                    current.exit_code, current.finished_at, current.pid = code, timestamp(), 0
                    current.oom_killed = state.get("io.capsa.oom-killed") == "true"
                    current.restart_count = restarts + 1 if again else restarts
                    self.records.set_state(self.id, current)
                self._delete_runtime()
                self._poststop(code)  # (after the exit is recorded: the hooks see it)
                first = False
                if not again:
                    break
                restarts += 1
                code = None
        finally:
            self._delete_runtime()
            self.listener.close()
            try:
                self.teardown()
            finally:
                # Attached clients hear the exit code once everything is cleaned up (and with
                # --rm, removed), so that `run` returns to a settled store, as podman's does.
                self.relay.broadcast(attach.EXIT, str(code if code is not None else 255).encode())
                for client in list(self.relay.clients):
                    self.relay.drop(client)
        return 0

    def _poststop(self, code: int) -> None:
        """The ``capsa_container_poststop`` hooks, with the container's ``inspect`` view. A hook
        that raises only warns: in monitor.log, and on the stderr of the attached clients."""
        from capsa import plugins

        if not plugins.wants("capsa_container_poststop"):
            return
        from capsa.container.views import container_document
        from capsa.store.store import Store

        try:
            store = Store(self.cfg["root"], self.cfg["runroot"], self.driver("storage"))
            view = container_document(self.records, self.records.config(self.id), store)
        except Exception as exc:
            self._warn(f"capsa_container_poststop: the container's view could not be read: {exc}")
            return
        plugins.call_each_warning("capsa_container_poststop", warn=self._warn, container=view, exit_code=code)

    def _warn(self, message: str) -> None:
        line = f"Warning: {message}\n"
        sys.stderr.write(line)
        sys.stderr.flush()
        self.relay.broadcast(attach.STDERR, line.encode())

    def _runtime_state(self) -> dict[str, Any]:
        try:
            return dict(self.iso.state(self.id).annotations)
        except Exception:
            return {}

    def _delete_runtime(self) -> None:
        try:
            self.iso.delete(self.id, force=True)
        except Exception as exc:
            self.records.update_state(self.id, error=f"runtime cleanup: {exc}")

    def teardown(self) -> None:
        """Unmount the container's layer, drop volatile files, and honour --rm."""
        import shutil

        trace("teardown")
        layer = self.cfg.get("layer_id")
        if layer:
            try:
                self.driver("storage").unmount(layer)
            except Exception as exc:
                self.records.update_state(self.id, error=f"unmount: {exc}")
        if self.cfg["remove"]:
            from capsa.container.lifecycle import remove_records

            remove_records(self.cfg, self.driver("storage"))
        else:
            shutil.rmtree(os.path.join(self.run_dir, "bundle"), ignore_errors=True)
            self.records.update_state(self.id, status="exited")


_close = close_quietly


def _preload(drivers: dict[str, str]) -> None:
    """Import what creating the container needs while the CLI is still making it and writing
    its bundle: the isolation driver (the storage driver is needed at teardown only)."""
    import capsa.drivers  # noqa: F401

    _import_driver("isolation", drivers.get("isolation"))


def _has_exited(pidfd: int) -> bool:
    """Whether the process of ``pidfd`` has exited (a pidfd polls readable then)."""
    import select

    return bool(select.select([pidfd], [], [], 0)[0])


def _load_for_teardown(storage_driver: str) -> None:
    """Import what teardown needs (the storage driver, the store for --rm, shutil), once the
    container runs: the monitor is idle then, and not before, when the container waits for it."""
    import shutil  # noqa: F401

    import capsa.store.store  # noqa: F401

    _import_driver("storage", storage_driver)


def _import_driver(kind: str, name: str | None) -> None:
    """Import the module of driver ``name`` of ``kind`` (a failure is reported where it is used)."""
    import capsa.entrypoints as entrypoints

    for entry in entrypoints.load_index():
        if entry.name == name and entrypoints.DRIVER_GROUPS.get(kind) == entry.group:
            try:
                entrypoints.import_entry(entry)
            except Exception:  # loading reports it properly later
                pass


def _read_config(fd: int) -> dict[str, Any] | None:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return loads(b"".join(chunks)) if chunks else None  # type: ignore[no-any-return]


def main(argv: list[str]) -> int:
    """``--resume STATE``: the monitor again, exec'd by the waiter when the container exited."""
    name_process()
    resume = loads(argv[2])
    from capsa import plugins

    plugins.load_hook_plugins()  # a new interpreter: the poststop hooks are loaded again
    code = Monitor(resume["cfg"]).main(resume)
    trace("done")
    return code


def serve(config_fd: int, msg_fd: int, go_fd: int, drivers: dict[str, str]) -> int:
    """A new monitor, forked by :mod:`capsa.container.zygote` with these pipes: load what
    running a container needs, wait for the container on ``config_fd``, see it to its end."""
    name_process()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    for s in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(s, signal.SIG_IGN)
    _preload(drivers)
    trace("preloaded")
    cfg = _read_config(config_fd)
    trace("configured")
    if cfg is None:  # the CLI did not need us after all
        return 0
    cfg.update(msg_fd=msg_fd, go_fd=go_fd)
    run_dir = ContainerRecords.run_dir_of(cfg["runroot"], cfg["id"])
    os.makedirs(run_dir, exist_ok=True)
    err = os.open(os.path.join(run_dir, "monitor.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    os.dup2(err, 2)
    os.close(err)
    code = Monitor(cfg).main()
    trace("done")
    return code


if __name__ == "__main__":
    _code = main(sys.argv)
    os._exit(_code)  # no interpreter teardown: the container's CLI waits on our exit; nothing is buffered
