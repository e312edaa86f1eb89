"""``system check``'s first part: record files that cannot be read (torn, empty, garbage, of
another shape), found and with ``repair`` set right before anything else is looked at.

The store's index files and the images and layers that stand on them
(:mod:`capsa.store.integrity`), containers whose state or config cannot be read and the name
index (:mod:`capsa.container.recovery`), volume records and the network definitions. What each repair does is listed in
docs/storage.md ("Durability and recovery").
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capsa.container.records import ContainerRecords
    from capsa.engine.leftovers import Finding
    from capsa.engine.session import Session
    from capsa.store.store import Store


def check_records(sess: Session, store: Store, records: ContainerRecords, repair: bool) -> tuple[list[Finding], bool]:
    """Findings about unreadable records (repaired with ``repair``), and whether the store's
    index is readable now (when it is not, the rest of the check cannot look at the store)."""
    from capsa.container import recovery
    from capsa.container.volumes import VolumeStore
    from capsa.engine.leftovers import Finding, monitors
    from capsa.store.integrity import index_problems

    findings: list[Finding] = []
    index_ok = True
    if store.exists():
        with store.reading():  # no create or rm is half-way while the lock is held
            problems = index_problems(store)
        if problems and repair:
            with store.repairing():
                pass
        findings += [Finding(kind, what, repaired=repair) for kind, what in problems]
        index_ok = repair or not problems
    configs = records.all()
    unknown = recovery.unknown_states(records, configs)
    if unknown:
        running = monitors(records)
        for container_id, what in unknown:
            if repair:
                recovery.settle_state(records, container_id, running.get(container_id))
            findings.append(Finding("container", what, repaired=repair))
    unreadable = recovery.unreadable_configs(configs)
    for config, what in unreadable:
        findings.append(Finding("container", what, repaired=repair))
    if repair and unreadable:
        _remove_unreadable(sess, store, records, [config for config, _ in unreadable])
        configs = records.all()
    if store.exists():
        with store.reading():  # create links a name before its record appears, under the lock
            names = recovery.name_index_problems(records, records.all())
    else:
        names = recovery.name_index_problems(records, configs)
    findings += [Finding("container", what, repaired=repair) for what in names]
    if repair and names:
        if store.exists():
            with store.writing():  # as create and rm, which write the index under the store lock
                recovery.repair_name_index(records, records.all())
        else:
            recovery.repair_name_index(records, configs)
    volumes = VolumeStore(sess.config.root)
    for name in volumes.unreadable():
        findings.append(Finding("volume", f"volume {name} has an unreadable volume.json", repaired=repair))
        if repair:
            volumes.repair(name)
    from capsa.engine.networks import network_records

    networks = network_records(sess)
    corrupt = networks.file.is_corrupt()
    if corrupt is not None:  # (the user networks are lost: moved aside as networks.json.corrupt)
        findings.append(Finding("network", f"{corrupt.message} (the repair moves it aside: its user networks are lost)", repaired=repair))
        if repair:
            with networks.lock.exclusive():
                networks.file.quarantine()
    return findings, index_ok


def _remove_unreadable(sess: Session, store: Store, records: ContainerRecords, doomed: list[Any]) -> None:
    """Remove containers whose config cannot be read, stopping them first (as ``rm -f``); their
    writable layer, which no record names any more, is collected with the store's leftovers."""
    from capsa.container import removal

    for config in doomed:
        if os.path.isdir(records.dir(config.id)):
            removal.remove(sess, store, records, config, force=True, timeout=0)
