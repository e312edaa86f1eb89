"""Operations on named volumes: create, list (with podman's filters), inspect, remove (``rm``,
with ``--force`` removing the containers that use them first) and prune."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, UsageError

if TYPE_CHECKING:
    from capsa.container.volumes import VolumeStore
    from capsa.engine.session import Session


def volume_store(sess: Session) -> VolumeStore:
    """The session's named volumes (under its root)."""
    from capsa.container.volumes import VolumeStore

    return VolumeStore(sess.config.root)


def users(sess: Session) -> dict[str, list[str]]:
    """Volume name -> names of the containers that mount it."""
    found: dict[str, list[str]] = {}
    for config in container_records(sess).all():
        for m in config.mounts:
            if m.type == "volume":
                found.setdefault(m.source, []).append(config.name)
    return found


def create(sess: Session, name: str | None, labels: dict[str, str], options: dict[str, str],
           exist_ok: bool) -> dict[str, Any]:
    """Create a volume (a random name when ``name`` is None); returns its record."""
    return volume_store(sess).create(name, labels, options, exist_ok=exist_ok)


def list_volumes(sess: Session, filters: list[str]) -> list[dict[str, Any]]:
    """The volumes' records that pass every ``name=``, ``label=`` and ``dangling=`` filter."""
    records = volume_store(sess).all()
    used = users(sess)
    for spec in filters:
        key, _, value = spec.partition("=")
        if key == "name":
            records = [r for r in records if value in r["Name"]]
        elif key == "label":
            lk, lsep, lv = value.partition("=")
            records = [r for r in records if lk in r["Labels"] and (not lsep or r["Labels"][lk] == lv)]
        elif key == "dangling":
            records = [r for r in records if (r["Name"] not in used) == (value == "true")]
        else:
            raise UsageError(f"invalid filter key {key!r}", hint="supported: name, label, dangling")
    return records


def inspect(sess: Session, names: list[str]) -> list[dict[str, Any]]:
    """The records of the volumes ``names`` (VolumeNotFound for an unknown one)."""
    store = volume_store(sess)
    return [store.record(n) for n in names]


def remove(sess: Session, names: list[str], force: bool, all_volumes: bool) -> list[str]:
    """``volume rm``: every volume is checked before any goes; one in use needs ``force``, which
    removes (SIGKILL first) the containers using it, as podman does. Returns the names removed."""
    store = volume_store(sess)
    used = users(sess)
    targets = [r["Name"] for r in store.all()] if all_volumes else list(names)
    if not targets and not all_volumes:
        raise UsageError("give at least one volume name", hint="or use --all")
    for name in targets:
        store.record(name)
        if used.get(name) and not force:
            raise CapsaError(f"volume {name} is being used by the following container(s): {', '.join(used[name])}",
                             hint="remove the containers first, or use --force", exit_code=2)
    if force and any(used.get(n) for n in targets):
        _remove_users(sess, set(targets))
    for name in targets:
        store.remove(name)
    return targets


def _remove_users(sess: Session, names: set[str]) -> None:
    """Stop (SIGKILL) and remove the containers that mount any of the volumes ``names``."""
    from capsa.container import removal

    store, records = open_store(sess), container_records(sess)
    for config in records.all():
        if any(m.type == "volume" and m.source in names for m in config.mounts):
            removal.remove(sess, store, records, config, force=True, timeout=0)


def prune(sess: Session) -> list[str]:
    """Remove every volume no container uses; returns their names."""
    store = volume_store(sess)
    used = users(sess)
    gone = [r["Name"] for r in store.all() if r["Name"] not in used]
    for name in gone:
        store.remove(name)
    return gone
