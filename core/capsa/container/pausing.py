"""``pause`` and ``unpause``: freezing a running container through its isolation driver (the
cgroup freezer) and recording it: the record's status is ``paused`` (``inspect``'s
``State.Status``/``State.Paused``, ``ps``'s ``Paused``) until ``unpause`` makes it ``running``
again. The monitor is not involved: it goes on waiting for the container's exit (a paused
container does not exit unless killed) and records it over ``paused`` as over ``running``.

The container's lock is held across the driver call and the record, as the monitor holds it
when it records an exit: a pause either sees the exit or is seen by it.
"""
from __future__ import annotations

from capsa.errors import CapsaError, IsolationError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords
    from capsa.engine.session import Session

IMPROPER = "container state improper"  # podman's ErrCtrStateInvalid


def _status(records: ContainerRecords, config: ContainerConfig) -> str:
    """The recorded status; a container whose monitor is gone is not running, whatever its record says."""
    from capsa.container.views import effective_status

    return effective_status(records, config).status


def frozen(iso: object, container_id: str) -> bool | None:
    """What the kernel says (through the driver): whether the container's cgroup is frozen;
    None when the driver cannot tell."""
    try:
        return iso.state(container_id).status == "paused"  # type: ignore[attr-defined]
    except IsolationError:
        return None


def _record(records: ContainerRecords, config: ContainerConfig, status: str) -> None:
    state = records.state(config.id)
    state.status = status
    records.set_state(config.id, state)


def pause(sess: Session, records: ContainerRecords, config: ContainerConfig) -> None:
    """Freeze the running container ``config``; podman's errors (exit 125) in any other state.
    The kernel's freezer decides, not the record alone: a container frozen already (a pause
    killed between freezing and recording) is only recorded paused, and one recorded paused
    whose cgroup is thawed (an unpause killed half-way) is frozen again."""
    from capsa.container.isodriver import isolation_driver

    with records.lock(config.id).exclusive():
        status = _status(records, config)
        if status not in ("running", "paused"):
            raise UsageError(f'"{status}" is not running, can\'t pause: {IMPROPER}', hint="start it first")
        iso = isolation_driver(sess, config)
        is_frozen = frozen(iso, config.id)
        if status == "paused" and is_frozen is not False:
            raise UsageError(f'"{config.id}" is already paused: {IMPROPER}', hint="capsa unpause it first")
        if records.state(config.id).stop_requested:  # (podman's "stopping" state: a stop or rm -f is under way,
            # and its SIGKILL would be held by a v1 freezer until a thaw nobody does)
            raise UsageError(f'"stopping" is not running, can\'t pause: {IMPROPER}', hint="the container is being stopped")
        if not is_frozen:
            try:
                iso.pause(config.id)
            except IsolationError as exc:
                raise CapsaError(f"pausing container {config.id}: {exc.message}", hint=exc.hint) from None
        _record(records, config, "paused")


def unpause(sess: Session, records: ContainerRecords, config: ContainerConfig) -> None:
    """Thaw the paused container ``config``; podman's error (exit 125) when it is not paused.
    As :func:`pause`, the kernel's freezer decides: a frozen container recorded running is
    thawed, and one recorded paused but thawed already is only recorded running."""
    from capsa.container.isodriver import isolation_driver

    with records.lock(config.id).exclusive():
        status = _status(records, config)
        iso = isolation_driver(sess, config) if status in ("running", "paused") else None
        is_frozen = frozen(iso, config.id) if iso is not None else None
        if iso is None or (status != "paused" and not is_frozen):
            raise UsageError(f'"{config.id}" is not paused, can\'t unpause: {IMPROPER}', hint="see 'capsa ps -a'")
        if is_frozen is not False:
            try:
                iso.resume(config.id)
            except IsolationError as exc:
                raise CapsaError(f"unpausing container {config.id}: {exc.message}", hint=exc.hint) from None
        _record(records, config, "running")


def thaw_after_signal(iso: object, records: ContainerRecords, config: ContainerConfig) -> None:
    """After a signal that must take effect (SIGKILL, ``rm -f``'s stop) was sent to a paused
    container: thaw it, as podman does, since a task frozen by the v1 freezer handles no signal
    until it is thawed (cgroup v2 kills frozen tasks at once; thawing then is harmless). The
    record says ``running`` again unless the monitor recorded the exit meanwhile."""
    try:
        iso.resume(config.id)  # type: ignore[attr-defined]
    except IsolationError:
        return  # exited already, or not frozen
    try:
        with records.lock(config.id).exclusive():
            state = records.state(config.id)
            if state.status == "paused":
                state.status = "running"
                records.set_state(config.id, state)
    except CapsaError:
        pass  # removed meanwhile (its monitor's --rm)
