"""The periodic health check of a running container: capsa's stand-in for podman's systemd timer.

:func:`spawn` (called when a container with a check ``Interval`` has started) starts a small
detached process (``python -m capsa.container.healthtimer``, its own session, stdio on
/dev/null) that runs ``capsa healthcheck run ID`` every ``Interval`` with the store flags of the
command that started the container. One timer per container: it holds an flock on
``health-timer.lock`` in the container's run directory (a second one waits up to 3 seconds for
it, as the timer of the run before a quick stop + start may be ending, then exits). It looks at
the container's state.json and monitor lock every second and ends within a second of the
container stopping (exited), being removed or losing its monitor, or when the check reports an
error three times in a row (exit 125); the next start spawns a new one.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords
    from capsa.engine.session import Session


def spawn(sess: Session, records: ContainerRecords, config: ContainerConfig) -> None:
    """Start the timer of ``config`` (when its check has an Interval); one that finds another
    timer running for the container exits at once."""
    import subprocess

    from capsa.container.health import healthcheck_of

    check = healthcheck_of(config)
    interval = (check or {}).get("Interval") or 0
    if interval <= 0:  # (no check, a disabled one: --health-cmd none keeps its Interval, or no Interval)
        return
    abspath = os.path.abspath  # (it runs in /)
    store_flags = ["--root", abspath(sess.config.root), "--runroot", abspath(sess.config.runroot)]
    subprocess.Popen([sys.executable, "-m", "capsa.container.healthtimer", abspath(records.run_dir(config.id)),
                      abspath(records.dir(config.id, "state.json")), config.id, str(interval), *store_flags], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True, cwd="/")


def main(argv: list[str]) -> int:
    """``RUN_DIR STATE_FILE ID INTERVAL_NS [GLOBAL FLAGS...]``: the timer's loop."""
    import fcntl
    import subprocess
    import time

    run_dir, state_file, container_id, interval = argv[0], argv[1], argv[2], int(argv[3]) / 1e9
    try:
        lock = os.open(os.path.join(run_dir, "health-timer.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return 0  # (the container is gone)
    give_up = time.monotonic() + 3  # (the timer of the run before a quick stop + start may be ending)
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > give_up or not _status(state_file, run_dir):
                return 0  # another timer has it (or the container is gone)
            time.sleep(0.1)
    errors = 0
    while errors < 3:
        due = time.monotonic() + interval
        while time.monotonic() < due and _status(state_file, run_dir):
            time.sleep(min(1.0, max(0.0, due - time.monotonic())))
        status = _status(state_file, run_dir)
        if not status:
            break
        if status != "running":  # (paused, restarting...: no check this time, as it would be refused)
            continue
        r = subprocess.run([sys.executable, "-m", "capsa", *argv[4:], "healthcheck", "run", container_id],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        errors = errors + 1 if r.returncode not in (0, 1) else 0
    return 0


def _status(state_file: str, run_dir: str) -> str:
    """The container's status while it is (still) up (running, paused, stopping or restarting
    in its state.json, and its monitor alive: a killed monitor leaves the state as it was, and
    capsa counts such a container exited); "" once it is not."""
    import json

    from capsa.container.monitor_lock import is_alive

    try:
        with open(state_file, "rb") as fh:
            status = json.loads(fh.read()).get("status")
    except (OSError, ValueError, AttributeError):
        return ""
    return status if status in ("running", "paused", "stopping", "restarting") and is_alive(run_dir) else ""

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
