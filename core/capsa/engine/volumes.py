"""Operations on named volumes: create, list (with podman's filters), inspect, remove (``rm``,
with ``--force`` removing the containers that use them first), prune, and the mounts of volumes
with options (``volume mount``/``unmount``). Export and import are in
:mod:`capsa.engine.volumeio`."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from capsa.container.volumes import VolumeStore
    from capsa.engine.session import Session

LIST_FILTERS = ("dangling", "driver", "label", "name", "opt", "scope", "until")
PRUNE_FILTERS = LIST_FILTERS  # (podman 4.3 takes the same; not label!= its man page names)


def volume_store(sess: Session) -> VolumeStore:
    """The session's named volumes (under its root)."""
    from capsa.container.volumes import VolumeStore

    return VolumeStore(sess.config.root)


def users(sess: Session, ids: bool = False) -> dict[str, list[str]]:
    """Volume name -> names (``ids``: full ids) of the containers that mount it."""
    found: dict[str, list[str]] = {}
    for config in container_records(sess).all():
        for m in config.mounts:
            if m.type == "volume":
                found.setdefault(m.source, []).append(config.id if ids else config.name)
    return found


def not_found(name: str, exit_code: int = 1) -> CapsaError:
    """podman's error for an unknown volume in ``volume rm`` (exit 1), ``mount``/``unmount`` (125)."""
    return CapsaError(f'no volume with name "{name}" found: no such volume', hint="see 'capsa volume ls'",
                      exit_code=exit_code)


def view(store: VolumeStore, record: dict[str, Any]) -> dict[str, Any]:
    """A volume as podman's ``volume ls --format json`` and ``volume inspect`` show it."""
    return {**record, "MountCount": store.mount_count(record["Name"]), "NeedsCopyUp": True, "NeedsChown": True}


def create(sess: Session, name: str | None, labels: dict[str, str], options: dict[str, str],
           exist_ok: bool, driver: str = "local") -> dict[str, Any]:
    """Create a volume (a random name when ``name`` is None); returns its record. Only podman's
    ``local`` driver exists (no volume plugins)."""
    if driver != "local":
        shown = name or "<random>"
        raise UsageError(f"volume {shown} uses volume plugin {driver} but it could not be retrieved: no volume plugin "
                         f"with name {driver} available: required plugin missing",
                         hint="capsa has the local volume driver only (--driver local)")
    return volume_store(sess).create(name, labels, options, exist_ok=exist_ok)


def _label_match(spec: str, labels: dict[str, str]) -> bool:
    key, sep, value = spec.partition("=")
    return key in labels and (not sep or labels[key] == value)


def parse_filters(specs: list[str], allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """``KEY=VALUE`` filters grouped by key (podman: the values of one key are OR-ed, keys AND-ed)."""
    from capsa.pod.views import until_cutoff

    out: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or key not in allowed:
            raise UsageError(f'"{key}" is an invalid volume filter', hint=f"supported: {', '.join(allowed)}")
        if key == "dangling" and value.lower() not in ("true", "1", "false", "0"):
            raise UsageError(f'"{value}" is not a valid value for the "dangling" filter - must be true or false',
                             hint="use dangling=true or dangling=false")
        if key == "until":
            until_cutoff(value)
        if key == "name":
            try:
                re.compile(value)
            except re.error as exc:
                raise UsageError(f"invalid name filter {value!r}: {exc}", hint="name= takes a regular expression") from None
        out.setdefault(key, []).append(value)
    return out


def _matcher(key: str, values: list[str], used: dict[str, list[str]]) -> Callable[[dict[str, Any]], bool]:
    from capsa.humanize import parse_time
    from capsa.pod.views import until_cutoff

    if key == "name":
        return lambda r: any(re.search(v, r["Name"]) for v in values)
    if key == "label":
        return lambda r: all(_label_match(v, r["Labels"]) for v in values)
    if key == "label!":
        return lambda r: not any(_label_match(v, r["Labels"]) for v in values)
    if key == "driver":
        return lambda r: r["Driver"] in values
    if key == "scope":
        return lambda r: r["Scope"] in values
    if key == "opt":
        return lambda r: any(_label_match(v, r["Options"]) for v in values)
    if key == "dangling":
        return lambda r: any((r["Name"] not in used) == (v.lower() in ("true", "1")) for v in values)
    cutoff = min(until_cutoff(v) for v in values)
    return lambda r: parse_time(r["CreatedAt"]).timestamp() < cutoff


def select(sess: Session, records: list[dict[str, Any]], filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The records that pass every filter."""
    used = users(sess) if "dangling" in filters else {}
    for key, values in filters.items():
        test = _matcher(key, values, used)
        records = [r for r in records if test(r)]
    return records


def list_volumes(sess: Session, filters: list[str]) -> list[dict[str, Any]]:
    """The volumes (as :func:`view` shows them) that pass every filter of ``volume ls``."""
    parsed = parse_filters(filters, LIST_FILTERS)
    store = volume_store(sess)
    return [view(store, r) for r in select(sess, store.all(), parsed)]


def inspect(sess: Session, names: list[str], all_volumes: bool) -> tuple[list[dict[str, Any]], str | None]:
    """The volumes ``names`` (or all), and the first unknown name (podman prints the known ones
    first, then fails)."""
    if all_volumes == bool(names):
        raise UsageError("provide one or more volume names or use --all", hint="e.g. capsa volume inspect NAME")
    store = volume_store(sess)
    if all_volumes:
        return [view(store, r) for r in store.all()], None
    found = []
    for name in names:
        try:
            found.append(view(store, store.record(name)))
        except CapsaError:
            return found, name
    return found, None


def remove(sess: Session, names: list[str], force: bool, all_volumes: bool, timeout: int | None = None,
           ) -> tuple[list[str], CapsaError | None]:
    """``volume rm``: the volumes named (or all) are removed in turn; one in use needs ``force``,
    which removes (stopping them with ``timeout``, default 10 s as podman's) the containers using
    it. Returns the names removed and the first error (an unknown volume: exit 1; one in use:
    exit 2), after which the others are still removed, as podman does."""
    if all_volumes == bool(names):
        raise UsageError("choose either one or more volumes or all", hint="give volume names, or --all")
    if timeout is not None and not force:
        raise UsageError("--force option must be specified to use the --time option", hint="add --force")
    store = volume_store(sess)
    targets = [r["Name"] for r in store.all()] if all_volumes else list(names)
    removed: list[str] = []
    error: CapsaError | None = None
    used = users(sess, ids=True)
    for name in targets:
        try:
            store.record(name)
        except CapsaError:
            error = error or not_found(name)
            continue
        using = used.get(name)
        if using and not force:
            error = error or CapsaError(
                f"volume {name} is being used by the following container(s): {', '.join(using)}: volume is being used",
                hint="remove the containers first, or use --force", exit_code=2)
            continue
        if using:
            _remove_users(sess, name, 10 if timeout is None else timeout)
        store.remove(name)
        removed.append(name)
    return removed, error


def _remove_users(sess: Session, name: str, timeout: int) -> None:
    """Stop and remove the containers that mount the volume ``name``."""
    from capsa.container import removal

    store, records = open_store(sess), container_records(sess)
    for config in records.all():
        if any(m.type == "volume" and m.source == name for m in config.mounts):
            removal.remove(sess, store, records, config, force=True, timeout=timeout)


def prunable(sess: Session, filters: list[str] | None = None) -> list[str]:
    """The volumes no container uses that pass the filters (those of ``volume ls``)."""
    parsed = parse_filters(list(filters or []), PRUNE_FILTERS)
    used = users(sess)
    return [r["Name"] for r in select(sess, volume_store(sess).all(), parsed) if r["Name"] not in used]


def prune(sess: Session, filters: list[str] | None = None, sizes: dict[str, int] | None = None) -> list[str]:
    """Remove every volume :func:`prunable` names; returns their names (``sizes``, when given,
    gets each one's bytes, measured before it goes)."""
    store = volume_store(sess)
    gone = prunable(sess, filters)
    for name in gone:
        if sizes is not None:
            from capsa.fsutil import tree_size

            sizes[name] = tree_size(store.dir / name / "_data")
        store.remove(name)
    return gone


def mount(sess: Session, name: str) -> str:
    """``volume mount``: mount the volume's filesystem (when it has options) and count it; its
    mount point."""
    store = volume_store(sess)
    try:
        store.record(name)
    except CapsaError:
        raise not_found(name, 125) from None
    return str(store.mount(name))


def unmount(sess: Session, name: str) -> None:
    """``volume unmount``: drop one mount of the volume (the last unmounts it)."""
    store = volume_store(sess)
    try:
        store.record(name)
    except CapsaError:
        raise not_found(name, 125) from None
    store.unmount(name)
