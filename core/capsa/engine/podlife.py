"""A pod's life: ``pod start``, ``stop``, ``restart``, ``kill``, ``pause``, ``unpause``,
``prune``, and what ``pod ps``, ``inspect``, ``top`` and ``logs`` show, over the records of a
session (podman 4.3's rules).

A pod acts through its containers, with the container operations of capsa.engine.containers
and capsa.container: the infra starts first (its members join its namespaces) and stops last.
Each action goes on through the pod's containers when one fails and returns the failures as
podman words them (``stopping container ID: ...``); the caller prints the pod's id when there
was none, else the errors (exit 125). Only the containers in the state an action applies to
are touched, as podman 4.3: stop and pause act on running ones (a paused container stays
paused through ``pod stop``), kill on running and paused ones, start on the others.
"""
from __future__ import annotations

from capsa.engine.pods import check_targets, read_id_files  # (shared with pod rm)
from capsa.pod.records import PodNotFound  # (the pod commands catch it)
from capsa.engine.session import container_records, pod_records
from capsa.errors import CapsaError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerState
    from capsa.engine.session import Session
    from capsa.pod.model import PodConfig

    Members = list[tuple[ContainerConfig, ContainerState]]

UP = ("running", "paused", "stopping", "restarting")  # a container start leaves alone


# -- finding pods ---------------------------------------------------------------------------------

def latest(sess: Session) -> PodConfig:
    """The pod created last; podman's error when there is none."""
    from capsa.pod.records import PodNotFound

    pods = pod_records(sess).all()
    if not pods:
        raise PodNotFound("no such pod", hint="create one first (capsa pod create)")
    return max(pods, key=lambda p: p.created)


def targets(sess: Session, refs: list[str], all_: bool = False, latest_: bool = False,
            ignore: bool = False) -> list[PodConfig]:
    """The pods named (every one with ``all_``, the newest with ``latest_``), all looked up
    before any is acted on: an unknown one is podman's error, or skipped with ``ignore``."""
    from capsa.pod.records import PodNotFound

    records = pod_records(sess)
    if all_:
        return records.all()
    if latest_:
        return [latest(sess)]
    found = []
    for ref in refs:
        try:
            found.append(records.find(ref))
        except PodNotFound:
            if not ignore:
                raise
    return found


def pod_ids(sess: Session, refs: list[str]) -> set[str]:
    """The ids of the pods ``refs`` name (name, id or unique id prefix); unknown ones left out,
    as podman's ``ps --filter pod=``."""
    from capsa.pod.records import PodNotFound

    records, ids = pod_records(sess), set()
    for ref in refs:
        try:
            ids.add(records.find(ref).id)
        except PodNotFound:
            continue
    return ids


def members(sess: Session, pod: PodConfig) -> Members:
    """The pod's containers (infra first, then by creation) with their states (a container whose
    monitor died unrecorded: exited)."""
    from capsa.container.records import ContainerNotFound
    from capsa.container.views import effective_status

    records = container_records(sess)
    out = []
    for config in pod_records(sess).members(records, pod.id):
        try:
            out.append((config, effective_status(records, config)))
        except ContainerNotFound:
            continue  # removed meanwhile
    return out


def status(sess: Session, pod: PodConfig) -> str:
    """The pod's status (see :mod:`capsa.pod.status`)."""
    from capsa.pod.status import pod_status

    return pod_status([s.status for _, s in members(sess, pod)])


def _is_infra(config: ContainerConfig) -> bool:
    return bool(config.extra.get("infra"))


def _still_up(records: Any, config: ContainerConfig) -> bool:
    """Whether the container still runs (or is paused)."""
    from capsa.container.views import effective_status

    try:
        return effective_status(records, config).status in ("running", "paused")
    except CapsaError:
        return False


# -- start, stop, restart -------------------------------------------------------------------------

def start(sess: Session, pod: PodConfig, verb: str = "starting") -> list[str]:
    """Start the pod's containers that are not up, the infra first: when it cannot start (or
    its command fails at once), its members are not tried (podman's dependency error for
    each). Returns the failures."""
    from capsa.engine import containers as base

    records = container_records(sess)
    errors: list[str] = []
    infra: ContainerConfig | None = None
    infra_failed = False

    def dependency(config: ContainerConfig) -> str:
        return (f"{verb} container {config.id}: a dependency of container {config.id} failed to start: "
                "container state improper")

    for config, state in members(sess, pod):
        infra = config if _is_infra(config) else infra
        if state.status in UP:
            continue
        if infra_failed and not _is_infra(config):
            errors.append(dependency(config))
            continue
        try:
            if _is_infra(config):  # (under the pod's lock, as run --pod starts it: never twice at once)
                from capsa.engine.pods import ensure_infra

                ensure_infra(sess, pod)
            else:
                base.start(sess, config)
        except CapsaError as exc:
            if _still_up(records, config):  # (started meanwhile by another command: run --pod, start)
                continue
            if not _is_infra(config) and infra is not None and not _still_up(records, infra):
                errors += [f"{verb} container {infra.id}: {_exit_reason(sess, infra)}", dependency(config)]
            else:
                errors.append(f"{verb} container {config.id}: {exc.message}")
            infra_failed = infra_failed or _is_infra(config) or (infra is not None and not _still_up(records, infra))
    return errors


def _exit_reason(sess: Session, config: ContainerConfig) -> str:
    """Why a container that was just started is not running: its recorded error or exit code."""
    state = container_records(sess).state(config.id)
    if state.error:
        return state.error
    return f"the infra container exited at once (exit code {state.exit_code}): container state improper"


def stop(sess: Session, pod: PodConfig, timeout: int | None = None, verb: str = "stopping") -> tuple[list[str], list[str]]:
    """Stop the pod's running containers: the members at once (each its stop signal, SIGKILL
    after ``timeout`` seconds, default its own), then the infra. Returns (failures, warnings:
    podman's ``StopSignal ... resorting to SIGKILL``)."""
    running = [c for c, s in members(sess, pod) if s.status in ("running", "restarting")]
    errors: list[str] = []
    warnings: list[str] = []
    for group in ([c for c in running if not _is_infra(c)], [c for c in running if _is_infra(c)]):
        for error, warning in _stop_all(sess, group, timeout, verb):
            errors += [error] if error else []
            warnings += [warning] if warning else []
    return errors, warnings


def _stop_all(sess: Session, configs: list[ContainerConfig], timeout: int | None,
              verb: str) -> list[tuple[str | None, str | None]]:
    """Stop ``configs`` in parallel threads (one stop signal timeout for all, as podman)."""
    from capsa import plugins
    from capsa.container import stopping
    from capsa.container.isodriver import isolation_driver
    from capsa.engine.containers import stop_signal
    from capsa.signals import signal_name

    if not configs:
        return []
    plugins.load_hook_plugins()
    records = container_records(sess)
    jobs = []
    for config in configs:  # (what needs the store or loads a driver is done here, not in the threads)
        isolation_driver(sess, config)
        jobs.append((config, stop_signal(sess, config), config.stop_timeout if timeout is None else timeout))

    def one(job: tuple[ContainerConfig, str, int]) -> tuple[str | None, str | None]:
        config, signal, seconds = job
        try:
            resorted = stopping.stop(sess, records, config, seconds, signal, paused_too=False)
        except CapsaError as exc:
            return f"{verb} container {config.id}: {exc.message}", None
        if resorted and seconds > 0:  # (-t 0 asks for SIGKILL at once: no warning, as podman)
            return None, (f"StopSignal {signal_name(signal)} failed to stop container {config.name} "
                          f"in {seconds} seconds, resorting to SIGKILL")
        return None, None

    if len(jobs) == 1:
        return [one(jobs[0])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
        return list(pool.map(one, jobs))


def restart(sess: Session, pod: PodConfig) -> tuple[list[str], list[str]]:
    """Stop the pod's running containers, then start them all (infra first)."""
    errors, warnings = stop(sess, pod, verb="restarting")
    return errors + start(sess, pod, verb="restarting"), warnings


# -- kill, pause, unpause -------------------------------------------------------------------------

def kill(sess: Session, pod: PodConfig, signal: str) -> list[str]:
    """Send ``signal`` to the pod's running and paused containers, the infra last."""
    from capsa.container import stopping

    records = container_records(sess)
    errors = []
    alive = [c for c, s in members(sess, pod) if s.status in ("running", "paused")]
    for config in [c for c in alive if not _is_infra(c)] + [c for c in alive if _is_infra(c)]:
        try:
            stopping.kill(sess, records, config, signal)
        except CapsaError as exc:
            if _still_up(records, config):  # (not one that exited meanwhile: an earlier signal, its pod's)
                errors.append(f"killing container {config.id}: {exc.message}")
    return errors


def pause(sess: Session, pod: PodConfig) -> list[str]:
    """Freeze the pod's running containers, the infra last."""
    from capsa.container import pausing

    records = container_records(sess)
    errors = []
    running = [c for c, s in members(sess, pod) if s.status == "running"]
    for config in [c for c in running if not _is_infra(c)] + [c for c in running if _is_infra(c)]:
        try:
            pausing.pause(sess, records, config)
        except CapsaError as exc:
            errors.append(f"pausing container {config.id}: {exc.message}")
    return errors


def unpause(sess: Session, pod: PodConfig) -> list[str] | None:
    """Thaw the pod's paused containers, the infra first; None (nothing done, nothing printed,
    as podman) when none is paused. (podman 4.3 asks for a Paused or Degraded pod instead, which
    leaves a pod whose paused containers sit beside exited ones - Stopped - paused for good.)"""
    from capsa.container import pausing

    paused = [c for c, s in members(sess, pod) if s.status == "paused"]
    if not paused:
        return None
    records = container_records(sess)
    errors = []
    for config in paused:
        try:
            pausing.unpause(sess, records, config)
        except CapsaError as exc:
            errors.append(f"unpausing container {config.id}: {exc.message}")
    return errors


# -- prune ----------------------------------------------------------------------------------------

def prune(sess: Session) -> list[tuple[str, str | None]]:
    """Remove every pod whose status is Exited or Stopped (podman's rule: not a Created one,
    nor an empty one) with its containers; (pod id, error or None) for each."""
    from capsa.engine import pods as podops
    from capsa.pod.status import EXITED, STOPPED

    out: list[tuple[str, str | None]] = []
    for pod in pod_records(sess).all():
        if status(sess, pod) not in (EXITED, STOPPED):
            continue
        try:
            podops.remove(sess, pod, force=False, timeout=None)
        except CapsaError as exc:
            out.append((pod.id, exc.message))
            continue
        out.append((pod.id, None))
    return out


# -- what pod ps and pod inspect show -------------------------------------------------------------

def infra_networks(sess: Session, pod: PodConfig, found: Members) -> list[str]:
    """The names of the networks the pod's infra is on ([] without an infra, or on host/none)."""
    from capsa.engine.networks import networks_of

    infra = next((c for c, _ in found if c.id == pod.infra_id), None)
    return networks_of(infra) if infra is not None else []


def listing(sess: Session, filters: list[str], latest_: bool = False, sort: str = "created") -> list[dict[str, Any]]:
    """``pod ps``: podman's report of each pod (see :func:`capsa.pod.views.ps_report`) that
    passes ``filters`` (podman's keys), sorted by ``sort``."""
    from capsa.pod import views

    wanted = views.parse_filters(filters)
    views.sort_reports([], sort)  # (a bad --sort is an error before anything is read)
    pods = [latest(sess)] if latest_ else pod_records(sess).all()
    reports = []
    for pod in pods:
        found = members(sess, pod)
        report = views.ps_report(pod, found, infra_networks(sess, pod, found))
        if latest_ or views.matches(report, wanted, lambda values: _network_names(sess, values)):
            reports.append(report)
    return views.sort_reports(reports, sort)


def _network_names(sess: Session, values: list[str]) -> list[str]:
    """The names of the networks ``values`` name (name, id or id prefix); unknown ones left out."""
    from capsa.engine.networks import network_records
    from capsa.network.definitions import NetworkNotFound

    records = network_records(sess)
    every = records.all()
    names = []
    for value in values:
        try:
            names.append(records.find(value, every).name)
        except NetworkNotFound:
            continue
    return names


def inspect(sess: Session, pod: PodConfig) -> dict[str, Any]:
    """``pod inspect``'s document (see :func:`capsa.pod.views.inspect_doc`)."""
    from capsa.pod.views import inspect_doc

    found = members(sess, pod)
    infra = next((c for c, _ in found if c.id == pod.infra_id), None)
    return inspect_doc(pod, found, infra, infra_networks(sess, pod, found))


def documents(sess: Session, refs: list[str], latest_: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """The inspect documents of ``refs`` (or of the newest pod) and the refs not found."""
    from capsa.pod.records import PodNotFound

    if latest_:
        return [inspect(sess, latest(sess))], []
    docs, missing = [], []
    records = pod_records(sess)
    for ref in refs:
        try:
            docs.append(inspect(sess, records.find(ref)))
        except PodNotFound:
            missing.append(ref)
    return docs, missing


# -- top and logs ---------------------------------------------------------------------------------

def top(sess: Session, pod: PodConfig, words: list[str]) -> list[list[str]]:
    """``pod top``: the header and the processes of each running container of the pod for
    podman's descriptors ``words`` (no ps(1) fallback, as podman's pod top); [] when none runs."""
    from capsa.container import top as topmod
    from capsa.container.isodriver import isolation_driver

    descriptors = topmod.parse_descriptors(words)
    if descriptors is None:
        bad = next(p for w in words for p in w.split(",") if p and topmod.AIX.get(p, p) not in topmod.HEADERS)
        raise UsageError(f"'{bad}': unknown descriptor", hint="see 'capsa top --list-descriptors'")
    rows: list[list[str]] = []
    for config, state in members(sess, pod):
        if state.status != "running":
            continue
        pids = isolation_driver(sess, config).processes(config.id)
        table = topmod.table(pids, state.pid, descriptors)
        rows += table if not rows else table[1:]
    return rows


def logs(sess: Session, pod: PodConfig, ref: str, container: str = "", since: str | None = None,
         until: str | None = None, tail: int = -1, follow: bool = False, timestamps: bool = False,
         names: bool = False) -> Iterator[tuple[str, bytes]]:
    """``pod logs``: the output of the pod's containers (or of ``container``, a member's name or
    id), each line after its container's short id (``names``: its name) when there are several,
    as podman; the records of all merged in time order. ``since``/``until``: as ``logs``' ones;
    ``tail`` lines of each container. A container not in the pod: podman's error, before
    anything is read."""
    from capsa.container.records import ContainerNotFound
    from capsa.engine.logs import since_cutoff

    found = [c for c, _ in members(sess, pod)]
    if container:
        found = [c for c in found if container in (c.id, c.name)]
        if not found:
            raise ContainerNotFound(f"container {container} is not in pod {ref}: no such container",
                                    hint=f"see 'capsa pod ps --ctr-names --filter id={pod.id[:12]}'")
    start_at = since_cutoff(since) if since else None
    end_at = since_cutoff(until) if until else None
    prefixes = {c.id: (c.name if names else c.id[:12]) + " " for c in found} if len(found) > 1 else {}
    return _merged(sess, found, prefixes, start_at, end_at, tail, follow, timestamps)


def _merged(sess: Session, found: list[ContainerConfig], prefixes: dict[str, str], start_at: str | None,
            end_at: str | None, tail: int, follow: bool, timestamps: bool) -> Iterator[tuple[str, bytes]]:
    import datetime
    import os
    import time

    from capsa.container import logs as logmod
    from capsa.container.stopping import ACTIVE
    from capsa.container.views import effective_status
    from capsa.engine.logs import FOLLOW_POLL, last_lines

    records = container_records(sess)
    offsets: dict[str, int] = {}
    at_line_start = {c.id: True for c in found}

    def read(config: ContainerConfig, first: bool) -> list[tuple[str, str, Any]]:
        more, offsets[config.id] = logmod.read_records(str(records.log_path(config.id)), offsets.get(config.id, 0))
        more = [r for r in more if (start_at is None or r.time >= start_at) and (end_at is None or r.time <= end_at)]
        if first and tail >= 0:
            more = last_lines(more, tail)
        return [(r.time, config.id, r) for r in more]

    def render(batch: list[tuple[str, str, Any]]) -> Iterator[tuple[str, bytes]]:
        for _, cid, record in sorted(batch, key=lambda item: item[0]):
            for stream, data in logmod.render([record], timestamps):
                if prefixes and at_line_start[cid]:
                    data = prefixes[cid].encode() + data
                at_line_start[cid] = not record.partial
                yield stream, data

    yield from render([item for c in found for item in read(c, True)])
    def up(config: ContainerConfig) -> bool:
        try:
            return effective_status(records, config).status in ACTIVE
        except CapsaError:
            return False  # removed meanwhile

    while follow:
        running = [c for c in found if up(c)]
        time.sleep(FOLLOW_POLL)
        batch = [item for c in found if os.path.exists(records.dir(c.id)) for item in read(c, False)]
        yield from render(batch)
        if end_at is not None and datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") > end_at[:26]:
            break
        if not running and not batch:
            break


def ps_rows(reports: list[dict[str, Any]], no_trunc: bool) -> list[dict[str, Any]]:
    """``pod ps``'s rows (podman's keys, for tables, templates and json) of :func:`listing`'s reports."""
    from capsa.pod.views import ps_row

    return [ps_row(r, no_trunc) for r in reports]


def check_signal(signal: str) -> None:
    """A signal's name or number as ``pod kill -s`` takes it; ValueError when it is none."""
    from capsa.signals import signal_number

    signal_number(signal)
