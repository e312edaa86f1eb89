"""``run --pid|--ipc|--uts|--cgroupns container:NAME``: the named container, by id, in the record."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session


def resolve_namespace_targets(sess: Session, config: ContainerConfig) -> None:
    """Replace each ``container:NAME`` of ``config.namespaces`` by ``container:ID``; an unknown
    container raises (exit 125) before anything is made. (Whether it runs is checked at start.)"""
    from capsa.engine.containers import container_records
    from capsa.errors import CapsaError, UsageError

    records = container_records(sess)
    for kind, mode in list(config.namespaces.items()):
        if not mode.startswith("container:"):
            continue
        ref = mode[len("container:"):]
        try:
            target = records.find(ref)
        except CapsaError:
            raise UsageError(f"looking up container to share {kind} namespace with: no container with name or ID "
                             f"\"{ref}\" found: no such container",
                             hint=f"start the container whose {kind} namespace this one joins first") from None
        config.namespaces[kind] = f"container:{target.id}"
