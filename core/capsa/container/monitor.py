"""The per-container monitor (conmon's role).

Forked (double, into a session of its own) by ``capsa start``/``run`` (see
:mod:`capsa.container.monitor_fork`), so it outlives the CLI. It holds the container's monitor
lock for its whole life (:mod:`capsa.container.monitor_lock`: that lock is how everything else
knows it is alive), creates the container through the isolation driver, attaches it to its
network driver, starts it, holds its stdio (pipes, or a pty with ``-t``), writes its output to
the k8s-file log and to attached clients, waits for its exit on a pidfd, records the exit code
and times, carries out the restart policy, and asks the container layer to tear down (runtime,
network, mounted layer, ``--rm``: :mod:`capsa.container.teardown`) — whether or not the CLI
that started it is still there. A container still running after a second is watched by the
lean monitor (:mod:`capsa.container.lean_monitor`, the same process after an exec).
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
from capsa.container.monitor_network import MonitorNetwork
from capsa.container.monitor_preload import load_for_teardown, preload
from capsa.container import monitor_lock
from capsa.container.records import ContainerRecords
from capsa.container.relay import Relay, close_quietly
from capsa.fastpath.jsonio import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HANDOFF_AFTER = float(os.environ.get("CAPSA_MONITOR_HANDOFF", "1.0"))  # seconds; see lean_monitor.py
TRACE = bool(os.environ.get("CAPSA_TRACE"))
_T0 = time.monotonic()


def trace(what: str) -> None:
    """With CAPSA_TRACE set, note in monitor.log how long each phase took."""
    if TRACE:
        os.write(2, f"{(time.monotonic() - _T0) * 1000:8.1f} ms  {what}\n".encode())


def _set_subreaper() -> None:
    from capsa.linux import set_child_subreaper

    set_child_subreaper()


class Monitor(MonitorNetwork):
    def __init__(self, cfg: dict[str, Any], lock_fd: int) -> None:
        self.cfg = cfg
        self.lock_fd = lock_fd  # the monitor lock: kept (and passed across our execs) to the end
        self.id: str = cfg["id"]
        self.records = ContainerRecords(cfg["root"], cfg["runroot"])
        self.run_dir = self.records.run_dir(self.id)
        self.msg_fd: int | None = cfg.get("msg_fd")
        self.go_fd: int | None = cfg.get("go_fd")
        self._drivers: dict[str, Any] = {}
        self.network: Any = None  # this run's NetworkHandle (capsa.container.netattach) until detached
        self.connected: Any = None  # this run's connected networks (netconnect.RunConnections), if any

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
        try:
            abort = os.read(self.go_fd, 1) == b"!"  # (the CLI's "do not start": see lifecycle.start's before_go)
        except OSError:
            abort = False
        os.close(self.go_fd)
        self.go_fd = None
        if abort:
            from capsa.errors import IsolationError

            raise IsolationError("the start was called off: what the container joins could not start",
                                 hint="see the error of the pod's infra container")

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
        if not first:
            from capsa.container.netattach import rejoin

            rejoin(self.records, self.id, self.cfg["bundle"])
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
            if self.relay.size:  # (a restart: the new pty gets the size the clients' terminal has)
                from capsa.container.terminal import set_window_size

                set_window_size(master, *self.relay.size)
        trace("created")
        pid = int(state.pid)
        if first and self.cfg.get("early_pid"):  # (a pod's infra: its members may join it from now on)
            self.tell(event="namespaces", pid=pid)
        try:
            network = self.attach_network(pid)
            connected = self.attach_connected(pid)
        except Exception:
            for fd in set(ours.values()):
                _close(fd)
            raise
        trace("network added")
        pidfd = os.pidfd_open(pid)
        if first:
            self.tell(event="created", pid=pid)
            self.wait_go()
            self.relay.accept_waiting()  # whoever attached before "go" sees the very first output
            self.relay.settle(ours, pidfd)  # (a -t client's window size, before the process starts)
        trace("go")
        self.iso.start(self.id)
        trace("started")
        with self.records.lock(self.id).exclusive():
            current = self.records.state(self.id)
            current.status, current.pid, current.monitor_pid, current.started_at, current.error = (
                "running", pid, os.getpid(), timestamp(), "")
            current.exit_code = 0  # (as podman: a running container has no exit code of a previous run)
            if self.network is not None and self.records.config(self.id).extra.get("first_network_detached"):
                self._detach_first()  # (a `network disconnect` of it landed while we started)
                network = {}
            current.extra["network"] = network  # what the network driver's add set up
            if self.connected is not None:  # (and what a `network connect` recorded meanwhile)
                current.extra["connected_results"] = self.connected.catch_up(pid, connected)
            self.records.set_state(self.id, current)
        if first and self.cfg.get("pidfiles"):
            _write_pidfiles(self.cfg["pidfiles"], pid, self.id)
        if first:
            self.tell(event="started", pid=pid)
            if (self.cfg.get("layer_id") or self.cfg["remove"]) and not _has_exited(pidfd):  # (one that is done
                # already is torn down at once; one on --rootfs, a pod's infra, needs no storage driver)
                load_for_teardown(self.cfg["storage"]["name"])  # while the container runs, not before it
        self.kill_at = time.monotonic() + self.cfg["timeout"] if self.cfg.get("timeout") else None  # run --timeout
        code = self.relay.pump(pidfd, ours, handoff_after=HANDOFF_AFTER, kill_at=self.kill_at)
        if code is None:  # still running: the lean monitor watches it from here (never returns)
            self.hand_off(pidfd, ours, restarts)
        os.close(pidfd)
        for fd in set(ours.values()):
            _close(fd)
        return code  # type: ignore[return-value]

    def hand_off(self, pidfd: int, ours: dict[str, int], restarts: int) -> None:
        """Exec the lean monitor (:mod:`capsa.container.lean_monitor`) for the rest of this run;
        it execs the monitor again when the container exits. Its state goes in a memfd, not in
        argv. Does not return."""
        for fd in (self.msg_fd, self.go_fd):
            if fd is not None:
                _close(fd)
        self.msg_fd = self.go_fd = None
        for fd in (pidfd, self.lock_fd, *ours.values()):
            os.set_inheritable(fd, True)
        cfg = {k: v for k, v in self.cfg.items() if k not in ("msg_fd", "go_fd")}
        resume = {"cfg": cfg, "restarts": restarts, "lock_fd": self.lock_fd,
                  "network": self.network.to_data() if self.network is not None else None,
                  "connected": self.connected.to_data() if self.connected is not None else None}
        state = {"log": str(self.records.log_path(self.id)), "tty": bool(self.cfg["tty"]), "pidfd": pidfd,
                 "ours": ours, "relay": self.relay.handoff_fds(), "resume": resume, "kill_at": self.kill_at}
        trace("handing over to the lean monitor")
        from capsa.container.lean_monitor import exec_module

        exec_module("capsa.container.lean_monitor", dumps(state).encode())

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
        the lean monitor watched: its exit code, the restarts so far and the relay's descriptors."""
        log = str(self.records.log_path(self.id))
        if resume is None:
            _set_subreaper()
            self.relay = Relay(log, attach.listen(os.path.join(self.run_dir, "attach")), bool(self.cfg["tty"]))
            self.tell(event="listening")  # clients may attach from now on: see lifecycle.start
            code, restarts, first = None, 0, True
        else:
            self.relay = Relay.adopt(log, bool(self.cfg["tty"]), resume["relay"])
            code, restarts, first = int(resume["code"]), int(resume["restarts"]), False
            if resume.get("network"):
                from capsa.container.netattach import NetworkHandle

                self.network = NetworkHandle.from_data(resume["network"])
            if resume.get("connected") is not None:
                self._connections().adopt(resume["connected"])
        self.listener = self.relay.listener
        try:
            while True:
                try:
                    if code is None:
                        code = self.run_once(first, restarts)
                except Exception as exc:  # the container could not be created or started
                    message = getattr(exc, "message", str(exc))
                    code = getattr(exc, "exit_code", 125)  # 126/127: the command (podman's codes)
                    self.records.update_state(self.id, status="stopping", exit_code=code, error=message,
                                              finished_at=timestamp())
                    from capsa.errors import DriverError

                    self.tell(event="error", message=message, hint=getattr(exc, "hint", ""), code=code,
                              driver=isinstance(exc, DriverError))  # a driver that cannot load: 125
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
                self._end_run()
                self._poststop(code)  # (after the exit is recorded: the hooks see it)
                first = False
                if not again:
                    break
                restarts += 1
                code = None
        finally:
            self._end_run()  # (after a failed start too: delete follows every add)
            self.relay.accept_waiting()  # (a client that connected as it exited hears the exit code too)
            self.listener.close()
            try:
                self.teardown()
            finally:
                # Attached clients hear the exit code once everything is cleaned up (and with
                # --rm, removed), so that `run` returns to a settled store, as podman's does.
                try:
                    self.relay.finish(code if code is not None else 255)
                finally:
                    self._tidy_network()
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

    def _end_run(self) -> None:
        """The end of one run (:func:`capsa.container.teardown.end_run`): network, runtime."""
        from capsa.container.teardown import end_run

        try:
            iso = self.iso
        except Exception:  # it could not be loaded (the start failed for it): it made nothing
            iso = None
        problems = end_run(iso, self.id, self.detach_network)
        import shutil

        shutil.rmtree(os.path.join(self.run_dir, "exec"), ignore_errors=True)  # its exec sessions died with it
        if problems:
            self.records.update_state(self.id, error="; ".join(problems))

    def _runtime_state(self) -> dict[str, Any]:
        try:
            return dict(self.iso.state(self.id).annotations)
        except Exception:
            return {}

    def teardown(self) -> None:
        """Unmount the container's layer, release its volumes, drop volatile files, and honour --rm."""
        import shutil

        from capsa.container.teardown import release_layer

        trace("teardown")
        try:
            pod = self.records.config(self.id).pod
        except Exception:
            pod = ""
        problems = release_layer(self.driver("storage"), self.cfg.get("layer_id")) if self.cfg.get("layer_id") else []
        if self.cfg.get("volumes"):  # (their filesystems: the last user unmounts them)
            from capsa.container.volumes import release_volumes
            problems += release_volumes(self.cfg["root"], self.records, self.id, self.cfg["volumes"])
        if problems:
            self.records.update_state(self.id, error="; ".join(problems))
        if self.cfg["remove"]:
            from capsa.container.removal import remove_records

            remove_records(self.cfg, self.driver("storage"))
        else:
            shutil.rmtree(os.path.join(self.run_dir, "bundle"), ignore_errors=True)
            self.records.update_state(self.id, status="exited")
        if pod:  # (its pod's --exit-policy stop: the last member's exit stops the infra)
            from capsa.pod.exitpolicy import after_member_exit

            try:
                after_member_exit(self.records, pod, self.id, self.iso, self.cfg["isolation"])
            except Exception as exc:  # noqa: BLE001 - best effort: the member's own end is done
                trace(f"exit policy: {exc}")


_close = close_quietly


def _write_pidfiles(paths: dict[str, str], pid: int, cid: str) -> None:
    """``--pidfile`` gets the container process's pid, ``--conmon-pidfile`` the monitor's
    (podman's conmon), ``--cidfile`` the container's id, once the container started."""
    for kind, path in paths.items():
        try:
            with open(path, "w") as fh:
                fh.write(str(pid) if kind == "pidfile" else str(os.getpid()) if kind == "conmon_pidfile" else cid)
        except OSError:
            pass  # (the caller checked the directory: nothing to report to from here)


def _has_exited(pidfd: int) -> bool:
    """Whether the process of ``pidfd`` has exited (a pidfd polls readable then)."""
    import select

    return bool(select.select([pidfd], [], [], 0)[0])


def _read_config(fd: int) -> dict[str, Any] | None:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return loads(b"".join(chunks)) if chunks else None  # type: ignore[no-any-return]


def main(argv: list[str]) -> int:
    """``python -m capsa.container.monitor FD``: the monitor again, exec'd by the lean monitor
    when the container exited; its state is in memfd ``FD``."""
    monitor_lock.name_process()
    from capsa.container.lean_monitor import read_state

    resume = read_state(int(argv[1]))
    lock_fd = int(resume["lock_fd"])
    os.set_inheritable(lock_fd, False)  # (a restarted container must not inherit it)
    from capsa import plugins

    plugins.load_hook_plugins()  # a new interpreter: the poststop hooks are loaded again
    code = Monitor(resume["cfg"], lock_fd).main(resume)
    trace("done")
    return code


def serve(config_fd: int, msg_fd: int, go_fd: int, drivers: dict[str, str]) -> int:
    """A new monitor, forked by :mod:`capsa.container.monitor_fork` with these pipes: load what
    running a container needs, wait for the container on ``config_fd``, take its monitor lock,
    see it to its end."""
    monitor_lock.name_process()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    for s in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(s, signal.SIG_IGN)
    preload(drivers, ("isolation",))
    if not _has_exited(config_fd):  # (select: a pipe is readable once the CLI wrote to it, or gave up)
        # the network driver warms up only while the CLI is still busy: once the container's
        # configuration waits, creating it comes first (a pod's infra reports its namespaces
        # then, so that its members join it while the network driver loads: pyroute2, ~0.1 s)
        preload(drivers, ("network",))
    _t_pre = time.monotonic()
    cfg = _read_config(config_fd)
    _t_cfg = time.monotonic()
    if cfg is None:  # the CLI did not need us after all
        return 0
    cfg.update(msg_fd=msg_fd, go_fd=go_fd)
    run_dir = ContainerRecords.run_dir_of(cfg["runroot"], cfg["id"])
    os.makedirs(run_dir, exist_ok=True)
    err = os.open(os.path.join(run_dir, "monitor.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    os.dup2(err, 2)
    os.close(err)
    if TRACE:
        os.write(2, f"{(_t_pre - _T0) * 1000:8.1f} ms  preloaded\n{(_t_cfg - _T0) * 1000:8.1f} ms  configured\n".encode())
    lock_fd = monitor_lock.hold(run_dir)  # (waits for a previous monitor of it to finish)
    code = Monitor(cfg, lock_fd).main()
    trace("done")
    return code


if __name__ == "__main__":
    _code = main(sys.argv)
    os._exit(_code)  # no interpreter teardown: the container's CLI waits on our exit; nothing is buffered
