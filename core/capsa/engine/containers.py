"""Operations on containers: create and run (from a checked ContainerConfig), start, stop, kill,
remove, wait and prune, over the records of a session. The per-container mechanism is
:mod:`capsa.container.lifecycle` (the monitor hand-over, the removal of layer and records) and
:mod:`capsa.container.stopping` (the stop protocol, kill, the waits on a monitor).

Imported by the ``run``/``create`` path: module-level imports stay few and cheap (see
tests/test_startup.py); everything else is imported where it is used.
"""
from __future__ import annotations

import os

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, MonitorLost, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords
    from capsa.engine.session import Session
    from capsa.store.store import Store


def find(sess: Session, refs: list[str] | None, all_: bool = False, latest: bool = False) -> list[ContainerConfig]:
    """The containers ``refs`` name (every one with ``all_``, the newest with ``latest``)."""
    records = container_records(sess)
    if all_:
        return records.all()
    if latest:
        return sorted(records.all(), key=lambda c: c.created)[-1:]
    if not refs:
        raise UsageError("give at least one container name or id", hint="or use --all")
    return [records.find(ref) for ref in refs]


def read_cidfiles(paths: list[str]) -> list[str]:
    """The container ids in the ``--cidfile`` files ``paths`` (``run --cidfile`` wrote them)."""
    from capsa.fsutil import read_id_files

    return read_id_files(paths, lambda path, exc: UsageError(f"reading CIDFile {path}: {exc.strerror}",
                                                             hint="give a file 'run --cidfile' wrote"))


def exists(sess: Session, ref: str, external: bool = False) -> bool:
    """Whether ``ref`` names a container; a build's RUN container (podman's "external"
    buildah containers) only with ``external``."""
    try:
        config = container_records(sess).find(ref)
    except CapsaError:
        return False
    return external or not config.extra.get("builder")


# -- create and run -------------------------------------------------------------------------------

def create(sess: Session, config: ContainerConfig, store: Store | None = None) -> ContainerConfig:
    """Record the container ``config`` describes (its writable layer made); nothing runs."""
    from capsa import plugins
    from capsa.container import lifecycle
    from capsa.container.isodriver import session_isolation

    plugins.load_hook_plugins()  # (nothing is imported when none is installed)
    records = container_records(sess)
    config.extra.setdefault("isolation", session_isolation(sess))  # its driver for life
    return _create_on_network(sess, config, lambda: lifecycle.create(store or open_store(sess), records, config))


def _create_on_network(sess: Session, config: ContainerConfig, create: Any) -> ContainerConfig:
    """``create()`` (recording ``config``) while the user network it is on, if any, still
    exists and cannot be removed (:func:`capsa.engine.networks.keeping`): ``network rm`` either
    sees the container as a user or ran before (then: NetworkNotFound, exit 125, nothing made).
    The default network costs nothing (contextlib stays off the create path)."""
    if config.pod and not config.extra.get("infra"):  # (a member: while its pod exists)
        from capsa.engine.podjoin import recording_member

        create = recording_member(sess, config, create)
    definition = config.extra.get("network_definition")
    if not definition:
        return create()  # type: ignore[no-any-return]
    from capsa.engine.networks import keeping

    with keeping(sess, definition):
        return create()  # type: ignore[no-any-return]


def network_driver_name(sess: Session, flag: str | None) -> str:
    """The network driver (= network mode) of a new container: ``--network none|host``, else
    the one capsa.toml selects (see :func:`capsa.container.lifecycle.network_driver_name`)."""
    from capsa.container import lifecycle

    return lifecycle.network_driver_name(sess.config, flag)


def network_mode(sess: Session, flag: str | None, starting: bool) -> tuple[str, dict[str, Any] | None]:
    """A new container's network mode and, on a user network, the network definition to record
    (``extra["network_definition"]``: what its driver receives as ``Attachment.network``).
    ``none``, ``host`` and the selected driver cost nothing more than before; ``bridge``,
    ``container:NAME`` and a network's name are checked (an unknown one: exit 125). When
    ``starting`` (``run``), a mode whose driver cannot attach yet is refused before anything
    is made."""
    selected = sess.config.driver("network")
    if not flag or flag in ("none", "host", "private", selected):
        return network_driver_name(sess, flag), None
    from capsa.engine.networks import check_available, resolve_for_container
    from capsa.errors import UsageError
    from capsa.network.definitions import NetworkNotFound

    try:
        mode, definition = resolve_for_container(sess, flag)
    except NetworkNotFound:  # not a network: another installed network driver, by its name?
        try:
            return network_driver_name(sess, flag), None
        except UsageError as exc:
            raise UsageError(f"unable to find network with name or ID {flag}: network not found",  # podman's words
                             hint=f"{exc.hint}, or a network's name (capsa network ls)") from None
    if starting:
        check_available(flag, mode)
        if mode.startswith("container:"):
            check_joinable(sess, mode[len("container:"):])
    return mode, definition


def network_options(sess: Session, config: ContainerConfig, o: dict[str, Any], definition: dict[str, Any] | None) -> None:
    """``--ip``, ``--add-host``, ``--dns*``, ``--network-alias`` checked and recorded
    (:func:`capsa.container.netopts.apply`); bad input: exit 125 before anything is made."""
    from capsa.container import netopts

    options = {} if config.network.startswith("container:") else sess.config.driver_options("network", config.network)
    netopts.apply(config, o, definition, options)


def check_joinable(sess: Session, target_id: str) -> None:
    """``run --network container:NAME``: NAME must run (its namespace is joined); else exit 125."""
    from capsa.container.lifecycle import joined_namespace

    joined_namespace(container_records(sess), target_id, None)


def prepare_run(sess: Session, network: str | None = None) -> None:
    """Load the hook plugins and pre-fork the container's monitor, which loads its drivers while
    the caller checks its flags and :func:`run` makes the container (done once per process).
    ``network``: the ``--network`` flag, so that the monitor warms up that driver."""
    from capsa import plugins
    from capsa.container import lifecycle, monitor_fork

    plugins.load_hook_plugins()
    drivers = lifecycle.monitor_drivers(sess)
    if network and network.startswith("container:"):
        drivers["network"] = "host"  # (a joining container's network driver sets nothing up)
    elif network and network not in ("none", "host", "private"):
        try:
            drivers["network"] = lifecycle.network_driver_name(sess.config, network)
        except Exception:  # a bad flag is reported where the container is made
            pass
    elif network in ("none", "host"):
        drivers["network"] = network
    monitor_fork.prefork(drivers)


def run(sess: Session, config: ContainerConfig, attach: bool, stdin: bool, detach_keys: bytes | None = None,
        sig_proxy: bool = True) -> int | None:
    """``run``: create the container and start it; attached, relay its stdio and return its exit
    code (None when the user detached). When the start fails, the start's error is raised with
    exit code 126 (127 stays), as podman's ``run``; the container stays, exited (126), with the
    reason in its state's ``error`` (``inspect``'s ``State.Error``); with ``--rm`` it is removed."""
    from capsa.container import lifecycle
    from capsa.container.isodriver import session_isolation
    from capsa.errors import EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND, DriverError

    prepare_run(sess)
    if config.extra.get("requires"):
        start_required(sess, config)
    store = open_store(sess)
    records = container_records(sess)
    config.extra.setdefault("isolation", session_isolation(sess))  # its driver for life
    infra_started = _pod_infra_begun(sess, store, config) if config.pod else None
    try:
        config = _create_on_network(sess, config, lambda: lifecycle.create(store, records, config))
    except BaseException:
        if infra_started is not None:  # (it was handed to its monitor: see it through)
            try:
                infra_started()
            except CapsaError:
                pass
        raise
    before_go = None
    if infra_started is not None and infra_started.namespaces():
        before_go = infra_started  # the member is made (joining the infra) while the infra starts
    elif infra_started is not None:
        infra_started()  # (raises why it did not start)
    elif config.pod:
        _pod_infra_first(sess, config)
    try:
        try:
            return lifecycle.start(sess, records, config, attach_output=attach, stdin=stdin, store=store,
                                   detach_keys=detach_keys, sig_proxy=sig_proxy, before_go=before_go)
        finally:
            if before_go is not None:
                before_go()  # (once: nothing when the member's start called it)
    except MonitorLost:  # (it started: no start failure to record)
        raise
    except CapsaError as exc:
        if config.remove:
            _discard(sess, store, records, config)
        else:
            record_start_failure(records, config, exc)
        if not isinstance(exc, DriverError) and exc.exit_code != EXIT_NOT_FOUND:
            exc.exit_code = EXIT_CANNOT_INVOKE  # as podman's run: the command could not be invoked
        raise


def record_start_failure(records: ContainerRecords, config: ContainerConfig, exc: CapsaError) -> None:
    """Keep a container whose start failed as podman does: exited (126), ``error`` the reason.
    One that runs (``start`` of a running container fails too) is left alone."""
    from capsa.container.records import ContainerNotFound
    from capsa.container.stopping import ACTIVE, monitor_alive
    from capsa.errors import EXIT_CANNOT_INVOKE
    from capsa.store.records import now_rfc3339

    try:
        with records.lock(config.id).exclusive():
            state = records.state(config.id)
            if state.status in ACTIVE and monitor_alive(records, config.id):
                return
            state.status, state.exit_code, state.pid, state.error = "exited", EXIT_CANNOT_INVOKE, 0, exc.message
            state.finished_at = now_rfc3339()
            records.set_state(config.id, state)
    except ContainerNotFound:
        pass  # removed meanwhile (its monitor's --rm)


def _discard(sess: Session, store: Store, records: ContainerRecords, config: ContainerConfig) -> None:
    """Undo a container whose start failed (``run --rm`` leaves nothing behind); a failure to undo it
    is reported beside the start error, not instead of it."""
    import sys

    from capsa.container import removal
    from capsa.container.records import ContainerNotFound

    try:
        removal.remove(sess, store, records, config, force=True, timeout=0)
    except ContainerNotFound:
        pass  # its monitor removed it already (run --rm)
    except CapsaError as exc:
        print(f"Warning: removing the container that failed to start: {exc.message}", file=sys.stderr)


# -- start, stop, kill, wait ----------------------------------------------------------------------

def publish(sess: Session, config: ContainerConfig, specs: list[str], publish_all: bool) -> str:
    """``-p`` and ``-P`` for a new container: the mappings parsed, their host ports checked
    free (or picked) and recorded (``extra["ports"]``; -P's exposed ports are added at create,
    once the image is known). Returns podman's warning when the network mode has no
    namespace of its own to publish to (none, host, container:NAME): nothing is recorded."""
    from capsa.container import ports

    mappings = ports.parse(specs)
    if config.network in ("none", "host") or config.network.startswith("container:"):
        return ports.DISCARDED
    config.extra["ports"] = ports.reserve(mappings, published_ports(sess))
    if publish_all:
        config.extra["publish_all"] = True
    return ""


def port_lines(config: ContainerConfig, private: str = "") -> list[str]:
    """``port``'s lines for ``config`` (``private``: one container port, ``80`` or ``80/udp``)."""
    from capsa.container.ports import port_lines as lines

    return lines(list(config.extra.get("ports") or []), private)


def published_ports(sess: Session) -> list[tuple[str, int, str]]:
    """(host ip, host port, protocol) published by running containers (a new one must not
    take them)."""
    from capsa.container.ports import running_claims

    return running_claims(container_records(sess))


def is_running(sess: Session, config: ContainerConfig) -> bool:
    """Whether a monitor is in charge of the container (running, paused, stopping, restarting)."""
    from capsa.container.stopping import ACTIVE, monitor_alive

    records = container_records(sess)
    state = records.state(config.id)
    return state.status in ACTIVE and monitor_alive(records, config.id)


def is_paused(sess: Session, config: ContainerConfig) -> bool:
    """Whether the container is paused (frozen: see capsa.container.pausing) and its monitor alive."""
    from capsa.container.stopping import monitor_alive

    records = container_records(sess)
    return records.state(config.id).status == "paused" and monitor_alive(records, config.id)


def start(sess: Session, config: ContainerConfig, attach: bool = False, stdin: bool = False,
          detach_keys: bytes | None = None, sig_proxy: bool = True) -> int | None:
    """Start a created or stopped container; attached, return its exit code (see :func:`run`)."""
    from capsa import plugins
    from capsa.container import lifecycle
    from capsa.errors import EXIT_CANNOT_INVOKE, EXIT_ENGINE, EXIT_NOT_FOUND

    plugins.load_hook_plugins()
    records = container_records(sess)
    if config.pod:
        _pod_infra_first(sess, config)
    if config.extra.get("requires"):
        start_required(sess, config)
    try:
        return lifecycle.start(sess, records, config, attach_output=attach, stdin=stdin, store=open_store(sess),
                               detach_keys=detach_keys, sig_proxy=sig_proxy)
    except MonitorLost:
        raise
    except CapsaError as exc:
        if not config.remove:
            record_start_failure(records, config, exc)
        if exc.exit_code in (EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND):  # its command: run's 126/127 are start's 125
            shown = config.id if attach else f'"{config.id}"'  # (podman's words, with and without -a)
            exc.message = f"unable to start container {shown}: {exc.message}"
            exc.args = (exc.message,)
            exc.exit_code = EXIT_ENGINE
        raise


def start_required(sess: Session, config: ContainerConfig) -> None:
    """``--requires``: the containers ``config`` requires are started first (those not running)."""
    records = container_records(sess)
    for ref in config.extra.get("requires") or []:
        other = records.find(ref)
        if not is_running(sess, other):
            start(sess, other)


def _pod_infra_first(sess: Session, config: ContainerConfig) -> None:
    """A pod member's start: its pod's infra container first, unless it runs."""
    from capsa.engine.podjoin import infra_first

    infra_first(sess, config)()


def _pod_infra_begun(sess: Session, store: Store, config: ContainerConfig) -> Any:
    from capsa.engine.podjoin import infra_begun

    return infra_begun(sess, store, config)


def without_pod_infras(sess: Session, configs: list[ContainerConfig]) -> list[ContainerConfig]:
    """``configs`` but the infra containers of pods that exist (``rm -a``, ``prune``: they go
    with their pod)."""
    from capsa.engine.podjoin import without_pod_infras as without

    return without(sess, configs)


def stop_signal(sess: Session, config: ContainerConfig) -> str:
    """The signal ``stop`` sends first: the container's, else its image's, else SIGTERM."""
    if config.stop_signal:
        return config.stop_signal
    if config.image_id:
        store = open_store(sess)
        with store.reading():
            try:
                image_config = store.config_of(store.image_by_id(config.image_id))
                return (image_config.get("config") or {}).get("StopSignal", "") or "SIGTERM"
            except CapsaError:
                pass
    return "SIGTERM"


def stop(sess: Session, config: ContainerConfig, timeout: int | None = None) -> str | None:
    """The stop signal, then SIGKILL after ``timeout`` seconds (default: the container's).
    Returns podman's warning when SIGKILL had to follow (``StopSignal SIGTERM failed to stop
    container NAME in 10 seconds, resorting to SIGKILL``), else None; the caller shows it."""
    from capsa import plugins
    from capsa.container import stopping

    plugins.load_hook_plugins()
    seconds = config.stop_timeout if timeout is None else timeout
    signal = stop_signal(sess, config)  # (a paused container is refused, under its lock: rm -f and kill act on it)
    if stopping.stop(sess, container_records(sess), config, seconds, signal, paused_too=False) and seconds > 0:
        from capsa.signals import signal_name

        return (f"StopSignal {signal_name(signal)} failed to stop container {config.name} "
                f"in {seconds} seconds, resorting to SIGKILL")
    return None


def check_signal(signal: str) -> None:
    """UsageError unless ``signal`` is a signal name or number (0 is not one)."""
    from capsa.signals import signal_number

    if signal_number(signal) == 0:  # (a probe, not a signal: podman refuses it)
        raise UsageError(f"invalid signal: {signal}", hint="give a signal name or number, e.g. SIGTERM or 15")


def kill(sess: Session, configs: list[ContainerConfig], signal: str) -> None:
    """Send ``signal`` to each container (all must be running)."""
    from capsa.container import stopping

    check_signal(signal)  # a bad signal fails before any is sent
    records = container_records(sess)
    for config in configs:
        stopping.kill(sess, records, config, signal)


def running_only(sess: Session, configs: list[ContainerConfig]) -> list[ContainerConfig]:
    records = container_records(sess)
    return [c for c in configs if records.state(c.id).status in ("running", "paused")]  # (kill -a: paused too, as podman)


def poll_interval(text: str) -> float:
    """``wait --interval``: a Go duration in seconds (a plain number is milliseconds)."""
    from capsa.build.durations import parse_duration

    try:
        return parse_duration(text if not text.isdigit() else f"{text}ms") / 1e9
    except ValueError as exc:
        raise UsageError(f"invalid --interval: {exc}", hint="a duration: 250ms, 1s, ...") from None


def wait(sess: Session, config: ContainerConfig, conditions: list[str] | None = None, interval: float = 0.25) -> int:
    """Block until the container stops (or, with ``conditions``, until its status is one of
    them: ``stopped`` is any status but running, paused and stopping); its exit code (-1 when
    it went away unrecorded)."""
    from capsa.container.stopping import wait_exited

    records = container_records(sess)
    if not conditions or conditions == ["stopped"]:
        state = wait_exited(records, config)
        return state.exit_code if state is not None else -1
    import time

    from capsa.container.views import effective_status

    while True:
        try:
            state = effective_status(records, config)
        except CapsaError:
            return -1
        status = state.status
        if status in conditions or ("stopped" in conditions and status not in ("running", "paused", "stopping")):
            return state.exit_code if status == "exited" else -1  # (as podman: no exit code yet)
        time.sleep(interval)


# -- remove ---------------------------------------------------------------------------------------

def remove(sess: Session, configs: list[ContainerConfig], force: bool, volumes: bool, timeout: int = 0) -> list[str]:
    """``rm``: each container (a running one needs ``force``: stop signal, SIGKILL after
    ``timeout``), and with ``volumes`` its anonymous volumes; returns the ids removed."""
    from capsa import plugins
    from capsa.container import removal

    plugins.load_hook_plugins()
    store, records = open_store(sess), container_records(sess)
    configs = _dependents_first(records, configs)
    removed = []
    for config in configs:
        if records.state(config.id).status == "unknown":  # unreadable state.json: set it right first
            from capsa.container.recovery import settle_state
            from capsa.engine.leftovers import monitors

            settle_state(records, config.id, monitors(records).get(config.id))
        removal.remove(sess, store, records, config, force, timeout)
        if volumes:
            removal.remove_anonymous_volumes(sess.config.root, config)
        removed.append(config.id)
    return removed


def _dependents_first(records: ContainerRecords, configs: list[ContainerConfig]) -> list[ContainerConfig]:
    """``configs`` with the containers that joined another's network namespace (``--network
    container:ID``) before it; one whose dependents are not all being removed is refused (podman's
    words, exit 125) before anything is removed."""
    ids = {c.id for c in configs}
    for config in configs:
        if config.extra.get("infra") and config.pod:
            from capsa.engine.podjoin import refuse_infra

            refuse_infra(records, config)
    dependents: dict[str, list[ContainerConfig]] = {}
    for other in records.all():
        if other.network.startswith("container:"):
            dependents.setdefault(other.network[len("container:"):], []).append(other)
    for config in configs:
        kept = [d for d in dependents.get(config.id, []) if d.id not in ids]
        if kept:
            raise UsageError(f"container {config.id} has dependent containers which must be removed before it: "
                             f"{', '.join(d.id for d in kept)}: container already exists",
                             hint=f"remove {', '.join(d.name for d in kept)} first (capsa rm)")
    joined = [c for c in configs if c.network.startswith("container:")]
    return joined + [c for c in configs if not c.network.startswith("container:")]
