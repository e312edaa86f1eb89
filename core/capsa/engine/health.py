"""Health checks (``run --health-cmd ...``, ``healthcheck run``), podman's way.

A container's check is ``ContainerConfig.extra["healthcheck"]`` (podman's ``Config.Healthcheck``:
``Test``, ``Interval``, ``Timeout``, ``Retries``, ``StartPeriod`` in nanoseconds), else its
image's ``Healthcheck``; ``{"Test": ["NONE"]}`` disables it. :func:`run_check` runs the test
once in the running container (through the isolation driver's ``exec``, as ``exec`` does) and
records the result in ``health.json`` of the container's run directory: ``Status``
(``starting`` until the first success or until ``Retries`` failures in a row after the start
period, then ``healthy``/``unhealthy``), ``FailingStreak`` and the last five ``Log`` entries.
The record belongs to one start of the container (it holds that start's ``StartedAt``): a
restarted container is ``starting`` again. On becoming unhealthy, ``--health-on-failure``
(``kill``, ``stop``, ``restart``) acts.

Periodic checks: podman starts a systemd timer per container; capsa has no systemd
dependency: :mod:`capsa.container.healthtimer` (a detached process per running container with
a check and an ``Interval``) runs ``capsa healthcheck run`` every ``Interval``.
"""
from __future__ import annotations

import os

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session

from capsa.container.health import HEALTHY, STARTING, UNHEALTHY, health_state, healthcheck_of

MAX_LOG = 5
MAX_OUTPUT = 4096


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def run_check(sess: Session, ref: str) -> str:
    """Run ``ref``'s check once and record it; the status after it (healthy, unhealthy or
    starting). UsageError: no such container (exit 125 as podman), no check, not running."""
    from capsa.engine.containers import container_records
    from capsa.errors import CapsaError

    records = container_records(sess)
    try:
        config = records.find(ref)
    except CapsaError as exc:
        raise UsageError(f"unable to look up {ref} to perform a health check: no container with name or ID "
                         f"\"{ref}\" found: no such container", hint="check the name with capsa ps -a") from exc
    check = healthcheck_of(config, _image_config(sess, config))
    if check is None:
        raise UsageError(f"container {config.id} has no defined healthcheck",
                         hint="create the container with --health-cmd")
    state = records.state(config.id)
    if state.status != "running":
        raise UsageError(f"container {config.id} is not running", hint=f"unpause it first (capsa unpause {config.name})"
                         if state.status == "paused" else f"start it first (capsa start {config.name})")
    start = _now()
    code, output = _exec(sess, records, config, check)
    entry = {"Start": start, "End": _now(), "ExitCode": code, "Output": output}
    return _record(sess, records, config, state.started_at, check, entry)


def _image_config(sess: Session, config: ContainerConfig) -> dict[str, Any] | None:
    if config.extra.get("healthcheck") is not None or not config.image_id:
        return None
    try:
        from capsa.engine.session import open_store

        store = open_store(sess)
        return store.config_of(store.image_by_id(config.image_id))  # type: ignore[no-any-return]
    except Exception:  # an image gone or unreadable: no check of its own
        return None


def _exec(sess: Session, records: Any, config: ContainerConfig, check: dict[str, Any]) -> tuple[int, str]:
    """Run the test in the container: (exit code, output); past ``Timeout``: killed, exit 1."""
    import select
    import signal
    import time

    from capsa.container import execsession
    from capsa.container.isodriver import isolation_driver
    from capsa.drivers.isolation import wait_exec
    from capsa.errors import IsolationError
    from capsa.fastpath.jsonio import loads

    test = list(check["Test"])
    command = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:] if test[0] == "CMD" else test
    with open(records.run_dir(config.id, "bundle", "config.json"), "rb") as fh:
        spec = loads(fh.read())
    process = execsession.process_for(config, spec, command, [], "", "", False, False)
    driver = isolation_driver(sess, config)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        proc = driver.exec(config.id, process, stdio=(null, w, w))
    except IsolationError as exc:
        os.close(r)
        return (exc.exit_code if exc.exit_code in (126, 127) else 1), str(exc)
    finally:
        os.close(null)
        os.close(w)
    timeout = (check.get("Timeout") or 30 * 10**9) / 1e9
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                signal.pidfd_send_signal(proc.pidfd, signal.SIGKILL)
                wait_exec(proc)
                return 1, f"Timed out after {check.get('Timeout', 0) // 10**9}s"
            data = os.read(r, 65536)
            if not data:
                break
            if sum(map(len, chunks)) < MAX_OUTPUT:
                chunks.append(data)
    finally:
        os.close(r)
    return wait_exec(proc), b"".join(chunks)[:MAX_OUTPUT].decode("utf-8", "replace")


def _record(sess: Session, records: Any, config: ContainerConfig, started_at: str, check: dict[str, Any],
            entry: dict[str, Any]) -> str:
    import datetime

    from capsa.humanize import parse_time

    from capsa.store.locks import FileLock

    with FileLock(records.run_dir(config.id, "health.lock")).exclusive():  # (its own: a stop may hold the container's)
        current = health_state(records, config, started_at, True)
        streak = 0 if entry["ExitCode"] == 0 else current["FailingStreak"] + 1
        status = current["Status"]
        if entry["ExitCode"] == 0:
            status = HEALTHY
        else:
            in_start = False
            if check.get("StartPeriod") and started_at:
                age = (datetime.datetime.now(datetime.timezone.utc) - parse_time(started_at)).total_seconds()
                in_start = age < check["StartPeriod"] / 1e9
            if in_start and status == STARTING:
                streak = 0  # (failures in the start period do not count, as podman's)
            elif streak >= (check.get("Retries") or 3):
                status = UNHEALTHY
        log = (current["Log"] or []) + [entry]
        doc = {"StartedAt": started_at, "Status": status, "FailingStreak": streak, "Log": log[-MAX_LOG:]}
        import json

        from capsa.fsutil import atomic_write

        atomic_write(records.run_dir(config.id, "health.json"), json.dumps(doc).encode(), durable=False)
    if status == UNHEALTHY and current["Status"] != UNHEALTHY:
        _on_failure(sess, config)
    return status


def _on_failure(sess: Session, config: ContainerConfig) -> None:
    """``--health-on-failure``: none (the default), kill, stop or restart."""
    action = config.extra.get("health_on_failure") or "none"
    if action == "none":
        return
    from capsa.engine import containers

    if action == "kill":
        containers.kill(sess, [config], "SIGKILL")
    elif action == "stop":
        containers.stop(sess, config)
    elif action == "restart":
        from capsa.engine import container_ops

        container_ops.restart(sess, config)
