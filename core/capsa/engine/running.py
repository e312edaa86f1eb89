"""Operations on running containers: ``pause``/``unpause`` (podman's), ``top`` and ``stats``,
over the records of a session. Not imported by the ``run``/``create`` path."""
from __future__ import annotations

from capsa.engine import containers as base
from capsa.engine import pslisting
from capsa.engine.session import container_records
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session


def targets(sess: Session, refs: list[str], all_: bool, latest: bool, filters: list[str],
            wanted: str) -> list[ContainerConfig]:
    """The containers ``pause`` (``wanted`` "running") or ``unpause`` ("paused") act on:
    ``refs``, the newest (``latest``), with ``all_`` every container in the ``wanted`` state
    that passes ps's ``filters``, with ``filters`` alone every container that passes them."""
    if sum(bool(x) for x in (refs, all_, latest)) > 1:
        raise UsageError("--all, --latest and containers given by name or id cannot be used together",
                         hint="use one of them")
    if filters and (refs or latest):
        raise UsageError("--filter takes no containers given by name or id", hint="capsa pause --filter KEY=VALUE")
    if not (refs or all_ or latest or filters):
        raise UsageError("you must provide at least one container name or id", hint="or use --all or --latest")
    if refs or latest:
        return base.find(sess, refs, latest=latest)
    rows = pslisting.listing(sess, True, [*filters, *([f"status={wanted}"] if all_ else [])])  # (as podman: --all
    # skips the containers in another state, --filter alone acts on every match and reports each error)
    wanted_ids = {row["Id"] for row in rows}
    return sorted((c for c in base.find(sess, None, all_=True) if c.id in wanted_ids), key=lambda c: c.created)


def pause(sess: Session, config: ContainerConfig) -> None:
    """Freeze the running container (see :mod:`capsa.container.pausing`)."""
    from capsa.container import pausing

    pausing.pause(sess, container_records(sess), config)


def unpause(sess: Session, config: ContainerConfig) -> None:
    """Thaw the paused container."""
    from capsa.container import pausing

    pausing.unpause(sess, container_records(sess), config)


# -- stats ----------------------------------------------------------------------------------------

def stats_targets(sess: Session, refs: list[str], all_: bool, latest: bool) -> list[ContainerConfig] | None:
    """The containers ``stats`` names (``refs``, or the newest), or None for "every running
    container" (no names, or ``--all``: a container that is not running has no counters, so
    podman leaves it out either way), looked up again at each reading."""
    if sum(bool(x) for x in (refs, all_, latest)) > 1:
        raise UsageError("--all, --latest and containers cannot be used together", hint="use one of them")
    if refs or latest:
        return base.find(sess, refs, latest=latest)
    return None


def stats_sample(sess: Session, configs: list[ContainerConfig] | None) -> list[dict[str, Any]]:
    """One reading of each container's counters (see :func:`capsa.container.usage.sample`);
    ``configs`` None: of every running or paused container. A container named that is not
    running: podman's error (exit 125)."""
    from capsa.container.records import ContainerNotFound
    from capsa.container.usage import sample

    records = container_records(sess)
    named = configs is not None
    out = []
    for config in configs if named else sorted(base.find(sess, None, all_=True), key=lambda c: c.created):
        try:
            reading = sample(sess, records, config)
        except ContainerNotFound:
            reading = None  # removed meanwhile
        if reading is None and named:
            raise UsageError(f"cannot get the stats of container {config.id}: it is not running: "
                             "container state improper", hint="start it first (capsa start)")
        if reading is not None:
            out.append(reading)
    return out


# -- top ------------------------------------------------------------------------------------------

def top_descriptors() -> list[str]:
    """The format descriptors ``top`` knows (``top --list-descriptors``), sorted."""
    from capsa.container.top import HEADERS

    return sorted(HEADERS)


def top(sess: Session, config: ContainerConfig, words: list[str]) -> list[list[str]] | str:
    """``top``: the header and rows of the container's processes for podman's descriptors
    ``words`` (see :mod:`capsa.container.top`); when ``words`` are not descriptors, podman runs
    ps(1) with them: here the host's ps on the container's processes, for output options only
    (its text). A container that is not running: podman's error (exit 125)."""
    from capsa.container import top as topmod
    from capsa.container.isodriver import isolation_driver
    from capsa.container.stopping import monitor_alive

    records = container_records(sess)
    descriptors = topmod.parse_descriptors(words)
    state = records.state(config.id)
    topmod.check_running(state.status, monitor_alive(records, config.id))
    pids = isolation_driver(sess, config).processes(config.id)
    if descriptors is None:
        return topmod.host_ps(words, pids)
    return topmod.table(pids, state.pid, descriptors)
