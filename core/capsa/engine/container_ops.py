"""More operations on existing containers: ``rename`` and ``restart`` (podman's), over the
records of a session. Not imported by the ``run``/``create`` path."""
from __future__ import annotations

from capsa.engine import containers as base
from capsa.engine.session import container_records, open_store
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
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
    with store.writing(), records.lock(config.id).exclusive():  # (serialized with create and rm)
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
        wanted = {row["Id"] for row in base.listing(sess, True, filters)}
        configs = [c for c in configs if c.id in wanted]
    if running:
        configs = [c for c in configs if base.is_running(sess, c)]
    return sorted(configs, key=lambda c: c.created)


def restart(sess: Session, config: ContainerConfig, timeout: int | None = None) -> str | None:
    """Stop the container if it runs (stop signal, SIGKILL after ``timeout``), then start it;
    a created or stopped one is just started. The restart policy's count is not bumped (a
    restart asked for is no restart of the policy's). Returns ``stop``'s warning, if any."""
    warning = base.stop(sess, config, timeout) if base.is_running(sess, config) else None
    base.start(sess, config)
    return warning
