"""Stopping a container and waiting on it: the stop protocol (the stop signal, then SIGKILL),
``kill``, signal names and numbers, and the waits on a container's monitor (whether it is
alive, until the container exited, until the monitor finished its teardown).

Off the ``run``/``create`` path (see tests/test_startup.py): :mod:`capsa.container.lifecycle`
imports it only where it stops or waits, and it imports lifecycle (a container's isolation
driver) only where it signals."""
from __future__ import annotations

import os
import time

from capsa.errors import CapsaError, IsolationError, MonitorLost, UsageError
from capsa.signals import signal_number

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords, ContainerState
    from capsa.engine.session import Session

ACTIVE = ("running", "stopping", "paused", "restarting")  # a monitor is (still) in charge


def monitor_alive(records: ContainerRecords, container_id: str) -> bool:
    """Whether the container's monitor is alive: it holds the container's monitor lock (see
    :mod:`capsa.container.monitor_lock`)."""
    from capsa.container.monitor_lock import is_alive

    return is_alive(records.run_dir(container_id))


def wait_exited(records: ContainerRecords, config: ContainerConfig, timeout: float | None = None) -> ContainerState | None:
    """Poll until the container is no longer running; None when ``timeout`` passes first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            state = records.state(config.id)
        except CapsaError:
            return None
        if state.status not in ACTIVE or not monitor_alive(records, config.id):
            return state
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def wait_monitor_gone(records: ContainerRecords, config: ContainerConfig, timeout: float = 30.0) -> None:
    """Return once the container's monitor has finished its teardown (unmounts, --rm) and
    exited: after a ``--rm`` container's records are gone its monitor still tidies its
    network (a bridge after its last container), which is watched through a pidfd opened
    while the monitor was known alive."""
    import select

    deadline = time.monotonic() + timeout
    pidfd = -1
    try:
        while time.monotonic() < deadline:
            try:
                state = records.state(config.id)
            except CapsaError:
                break
            if not monitor_alive(records, config.id):  # (its lock released, or gone with the records)
                break
            if pidfd < 0 and state.monitor_pid:
                try:
                    pidfd = os.pidfd_open(state.monitor_pid)
                except OSError:
                    pidfd = -2  # (gone already, or not ours to watch)
            if not os.path.exists(records.dir(config.id)):
                break
            time.sleep(0.005)
        if pidfd >= 0:
            select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def kill(sess: Session, records: ContainerRecords, config: ContainerConfig, sig: str | int) -> None:
    """Send ``sig`` to the container's process through its isolation driver (it must be running)."""
    from capsa.container.isodriver import isolation_driver

    state = records.state(config.id)
    if state.status not in ("running", "paused", "stopping"):
        raise UsageError(f"can only kill running containers. {config.id} is in state {state.status}: "
                         "container state improper",
                         hint="see 'capsa ps -a'")
    iso = isolation_driver(sess, config)
    iso.kill(config.id, signal_number(sig))
    if state.status == "paused" and signal_number(sig) == 9:  # (other signals wait for unpause, as podman's)
        from capsa.container.pausing import thaw_after_signal

        thaw_after_signal(iso, records, config)


def stop(sess: Session, records: ContainerRecords, config: ContainerConfig, timeout: int, stop_signal: str,
         paused_too: bool = True) -> bool:
    """The stop signal, then SIGKILL after ``timeout`` seconds; returns once the monitor is done
    (exited, torn down), True when SIGKILL had to follow a stop signal that did not stop it (the
    caller warns, as podman). A container between two runs of its restart policy stays stopped.
    Without ``paused_too`` (``stop``; ``rm -f`` stops a paused container) a paused one is
    podman's error, told under the container's lock that ``pause`` takes too."""
    from capsa.container.isodriver import isolation_driver

    state = request_stop(records, config.id, ACTIVE, paused_too)
    if state is None:
        return False
    iso = isolation_driver(sess, config)
    number = signal_number(stop_signal)
    try:
        iso.kill(config.id, number)
    except IsolationError:
        _signal_recorded(state, number)  # not running right now, or its runtime state unreadable
    if state.status == "paused":  # (rm -f: as podman, killed then thawed, or it would not die)
        from capsa.container.pausing import thaw_after_signal

        thaw_after_signal(iso, records, config)
    resorted = False
    if wait_exited(records, config, timeout) is None:
        try:
            iso.kill(config.id, 9)
            resorted = number != 9
        except IsolationError:
            _signal_recorded(state, 9)
        from capsa.container.pausing import thaw_after_signal

        thaw_after_signal(iso, records, config)  # whatever the record said: frozen since (a pause racing
        # this stop, or one killed half-way), a v1-frozen task would never handle the SIGKILL
        wait_exited(records, config)
    wait_monitor_gone(records, config)
    return resorted


def request_stop(records: ContainerRecords, container_id: str, live: tuple[str, ...] = ACTIVE,
                 paused_too: bool = True) -> ContainerState | None:
    """Under the container's lock, mark a stop requested (its monitor then does not restart it,
    and ``inspect`` shows it ``stopping``) when its status is one of ``live`` and its monitor is
    alive; the state as it was, else None (nothing to stop). Without ``paused_too`` a paused
    container is podman's error. The one place ``stop``, ``pod rm -f`` and a pod's exit policy
    take that step; each then signals the container its own way."""
    with records.lock(container_id).exclusive():
        state = records.state(container_id)
        if state.status not in live or not monitor_alive(records, container_id):
            return None
        if state.status == "paused" and not paused_too:  # (podman's words)
            raise UsageError(f"can only stop created or running containers. {container_id} is in state paused: "
                             "container state improper", hint="unpause it first (capsa unpause), or kill it")
        state.stop_requested = True
        records.set_state(container_id, state)
    return state


def _signal_recorded(state: ContainerState, sig: int) -> None:
    """Signal the container's process by the pid its record holds, when the runtime could not
    (not running right now, between restarts or just exited; or its runtime state is
    unreadable): only if that process descends from the container's living monitor, so that a
    reused pid is never signalled."""
    pid = state.pid
    for _ in range(8):  # the monitor, then the runtime's helpers, above the container's init
        if pid <= 1:
            return
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                pid = int(fh.read().rpartition(b")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            return
        if pid == state.monitor_pid:
            try:
                os.kill(state.pid, sig)
            except OSError:
                pass
            return


def attached_exit(records: ContainerRecords, config: ContainerConfig, outcome: object) -> int | None:
    """The exit code an attached session (:class:`capsa.container.attach.Outcome`) ends with,
    for ``run``, ``start -a`` and ``attach`` alike: None when the user detached; the code the
    monitor sent. A connection that ended without one is always an error (MonitorLost), never
    an exit code read elsewhere: output may be missing. Either the monitor dropped this client
    (it did not take the container's output), or the monitor died."""
    if getattr(outcome, "detached", False):
        return None
    code = getattr(outcome, "code", None)
    if code is not None:
        return int(code)
    wait_monitor_gone(records, config, timeout=1)  # (one that died closes its sockets before its lock)
    try:
        state = records.state(config.id)
    except CapsaError:  # (--rm, and gone)
        state = None
    dropped = monitor_alive(records, config.id) or (state is not None and state.status == "exited"
                                                     and not state.error)
    if dropped:
        recorded = f" (it exited with {state.exit_code})" if state is not None and state.status == "exited" else ""
        raise MonitorLost(f"the container's monitor dropped this client: it did not take the container's output{recorded}",
                          hint=f"part of the output is missing here: 'capsa logs {config.name}' has all of it")
    if state is None:  # (removed: --rm, or rm -f meanwhile)
        raise MonitorLost("the connection to the container's monitor ended without the container's exit code, "
                          "and the container is gone", hint="part of its output may be missing here")
    raise MonitorLost("the container's monitor went away without recording the container's exit code",
                      hint="see monitor.log in the container's runroot directory, and 'capsa ps -a'")

