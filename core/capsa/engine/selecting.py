"""Which containers a command acts on, one way for all of them: containers named (as typed, or
read from ``--cidfile`` files), every one (``--all``), the newest (``--latest``) or those that
pass ps's ``--filter``; with podman's words for the combinations it refuses. Each target comes
with the label podman prints for it once done: the name or id as the user typed it, else the
full id. Used by start, stop, kill, rm, wait and the other container commands.
"""
from __future__ import annotations

from capsa.engine.session import container_records
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session


def latest(sess: Session) -> list[ContainerConfig]:
    """The newest container (``--latest``), or none."""
    return sorted(container_records(sess).all(), key=lambda c: c.created)[-1:]


def select(sess: Session, refs: Sequence[str] = (), *, all_: bool = False, latest_: bool = False,
           filters: Sequence[str] = (), cidfiles: Sequence[str] = (), ignore: bool = False,
           not_found_exit: int | None = None) -> list[tuple[ContainerConfig, str]]:
    """The targets of a command and the label of each. A name that matches nothing raises
    (ContainerNotFound, before anything is done, as podman; exit code ``not_found_exit`` when
    given, else 125), or is skipped with ``ignore``.
    ``all_`` with ``filters``: the containers passing them; ``filters`` alone: the same."""
    from capsa.container.records import ContainerNotFound
    from capsa.engine.containers import read_cidfiles

    names = list(refs)
    if all_ and names:
        raise UsageError("no arguments are needed with --all", hint="leave out the names, or --all")
    if latest_ and (names or all_):
        raise UsageError("--latest and containers cannot be used together", hint="use one of them")
    if filters and names:
        raise UsageError("--filter takes no arguments", hint="leave out the names, or --filter")
    ids = read_cidfiles(list(cidfiles)) if cidfiles else []  # (a missing file: an error, -i or not)
    if latest_:
        return [(c, c.id) for c in latest(sess)]
    if all_ or filters:
        configs = sorted(container_records(sess).all(), key=lambda c: c.created)
        if filters:
            from capsa.engine.pslisting import listing

            wanted = {row["Id"] for row in listing(sess, True, list(filters))}
            configs = [c for c in configs if c.id in wanted]
        return [(c, c.id) for c in configs]
    if not names and not ids:
        if cidfiles:
            return []
        raise UsageError("you must provide at least one name or id", hint="or use --all or --latest")
    records = container_records(sess)
    found = []
    for ref in names + ids:
        try:
            found.append((records.find(ref), ref))
        except ContainerNotFound as exc:
            if not ignore:
                if not_found_exit is not None:
                    exc.exit_code = not_found_exit
                raise
    return found


def prune_filter(filters: Sequence[str]) -> Callable[[ContainerConfig], bool]:
    """``container prune --filter``'s test of a container: ``system prune``'s filters
    (``label=KEY[=VALUE]``, ``label!=KEY[=VALUE]``, ``until=TIME``: created before it) on its
    labels and creation time; each given as KEY=VALUE. A bad filter raises."""
    from capsa.engine.system import prune_filter as labels_and_time

    hint = "container prune takes label=, label!= and until="
    for spec in filters:
        if "=" not in spec:
            raise UsageError(f"{spec} is an invalid filter", hint=hint)
    test = labels_and_time(list(filters), hint)
    return lambda config: test(config.labels, config.created)


def with_dependents(sess: Session, targets: list[tuple[ContainerConfig, str]]) -> list[tuple[ContainerConfig, str]]:
    """``rm --depend``: ``targets`` and, recursively, the containers that joined one of their
    namespaces (``--network container:ID``), labelled by their full id."""
    records = container_records(sess)
    everyone = records.all()
    out = list(targets)
    seen = {c.id for c, _ in out}
    i = 0
    while i < len(out):
        for other in everyone:
            if other.id not in seen and other.network == f"container:{out[i][0].id}":
                seen.add(other.id)
                out.append((other, other.id))
        i += 1
    return out
