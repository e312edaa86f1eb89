"""More operations on existing containers: ``rename``, ``restart``, ``mount``, ``unmount`` and
``container prune`` (podman's), over the records of a session. Not imported by the ``run``/``create`` path."""
from __future__ import annotations

from capsa.engine import containers as base
from capsa.engine import pslisting
from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session

NAME_RULE = "[a-zA-Z0-9][a-zA-Z0-9_.-]*"


def rename(sess: Session, ref: str, new_name: str) -> ContainerConfig:
    """Give the container ``ref`` names the name ``new_name`` (running or not, as podman); its
    old name is free again. Bad input (unknown container, invalid or taken name): nothing changes."""
    from capsa.fastpath.names import is_safe_name

    if not is_safe_name(new_name):
        raise UsageError(f"names must match {NAME_RULE}: invalid argument {new_name!r}",
                         hint="capsa rename CONTAINER NEWNAME")
    records = container_records(sess)
    config = records.find(ref)
    store = open_store(sess)
    # the container's lock, then the store's (serialized with create and rm), as start takes them
    with records.lock(config.id).exclusive(), store.writing():
        config = records.config(config.id)  # (as it is now, under the locks)
        if records.name_taken(new_name):
            raise UsageError(f'the container name "{new_name}" is already in use by {records.find(new_name).id}',
                             hint="remove that container or choose another name")
        return records.rename(config, new_name)


def restart_targets(sess: Session, refs: list[str] | None, all_: bool, latest: bool, running: bool,
                    filters: list[str]) -> list[ContainerConfig]:
    """The containers ``restart`` acts on: ``refs``, every one (``all_``), the newest
    (``latest``), the running ones (``running``), narrowed by ``filters`` (ps's)."""
    if sum(bool(x) for x in (refs, all_, latest)) > 1:
        raise UsageError("--all, --latest and containers given by name or id cannot be used together",
                         hint="use one of them")
    if running and (refs or latest):
        raise UsageError("--running cannot be used with containers given by name or id or --latest",
                         hint="capsa restart --running")
    if filters and (refs or latest):
        raise UsageError("--filter takes no containers given by name or id", hint="capsa restart --filter KEY=VALUE")
    if not (refs or all_ or latest or running or filters):
        raise UsageError("you must provide at least one container name or id", hint="or use --all, --running or --latest")
    if refs or latest:
        return base.find(sess, refs, latest=latest)
    configs = base.find(sess, None, all_=True)
    if filters:
        wanted = {row["Id"] for row in pslisting.listing(sess, True, filters)}
        configs = [c for c in configs if c.id in wanted]
    if running:
        configs = [c for c in configs if base.is_running(sess, c)]
    return sorted(configs, key=lambda c: c.created)


def restart(sess: Session, config: ContainerConfig, timeout: int | None = None) -> str | None:
    """Stop the container if it runs (stop signal, SIGKILL after ``timeout``), then start it;
    a created or stopped one is just started. The restart policy's count is not bumped (a
    restart asked for is no restart of the policy's). A running ``--rm`` container is refused
    (stopping it removes it). Returns ``stop``'s warning, if any."""
    if base.is_paused(sess, config):
        raise UsageError("unable to restart a container in a paused or unknown state: container state improper",
                         hint=f"unpause {config.name} first (capsa unpause)")
    running = base.is_running(sess, config)
    if running and config.remove:
        raise UsageError(f"cannot restart container {config.id}: it was created with --rm, so stopping it removes it",
                         hint="stop it and run it again (capsa run --rm)")
    warning = base.stop(sess, config, timeout) if running else None
    base.start(sess, config)
    return warning


# -- mount / unmount ------------------------------------------------------------------------------
# See capsa.container.usermounts. Unmounting a running container leaves it mounted, as podman
# skips running containers. The container's lock comes before the store's, as in start.

def mount(sess: Session, config: ContainerConfig) -> str:
    """Mount the container's root filesystem (one more reference) and return where it is;
    a ``--rootfs`` container's is its directory."""
    import os

    from capsa.container import usermounts

    if config.rootfs:
        return os.path.realpath(config.rootfs)
    if not config.layer_id:
        raise UsageError(f"container {config.id[:12]} has no writable layer to mount", hint="see 'capsa inspect'")
    records, store = container_records(sess), open_store(sess)
    with records.lock(config.id).exclusive():
        return usermounts.mount(store, records, config)


def unmount(sess: Session, config: ContainerConfig, force: bool = False) -> bool:
    """Give back one reference ``mount`` took (``force``: every one); a running container stays
    mounted (False: skipped, as podman). True when the container was dealt with."""
    from capsa.container import usermounts

    if config.rootfs or not config.layer_id:
        return True
    records, store = container_records(sess), open_store(sess)
    with records.lock(config.id).exclusive():
        if base.is_running(sess, config):
            return False
        usermounts.unmount(store, records, config, force)
    return True


def mounted(sess: Session) -> list[tuple[ContainerConfig, str]]:
    """The mounted containers (by ``mount`` or because they run) and where, oldest first: read
    from their run dirs, without a lock and without mounting anything."""
    from capsa.container import usermounts

    records = container_records(sess)
    out = []
    for config in sorted(base.find(sess, None, all_=True), key=lambda c: c.created):
        if not config.layer_id or config.rootfs:
            continue
        if records.user_mounts(config.id) or base.is_running(sess, config):
            path = usermounts.mountpoint(records, config)
            if path:
                out.append((config, path))
    return out


def prune(sess: Session, keep: Any = None) -> list[str]:
    """Remove every container that is not running (and passes ``keep``, a test of its config,
    when given: ``--filter``); returns their ids."""
    from capsa import plugins
    from capsa.container import removal
    from capsa.container.stopping import ACTIVE, monitor_alive

    plugins.load_hook_plugins()
    store, records = open_store(sess), container_records(sess)
    gone = []
    for config in base.without_pod_infras(sess, records.all()):  # (an infra goes with its pod)
        try:
            status = records.state(config.id).status
        except CapsaError:
            continue  # (removed meanwhile)
        running = status in ACTIVE and monitor_alive(records, config.id)  # (as rm: an exited one whose monitor still tidies up is not)
        if not running and (keep is None or keep(config)):
            removal.remove(sess, store, records, config, force=False)
            gone.append(config.id)
    return gone
