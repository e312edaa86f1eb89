"""Container and volume records checked and set right: what ``system check`` finds in them
and what ``--repair`` (and ``rm``) does about it.

- a state.json that cannot be read (the run path writes it without fsync, so a crash can tear
  it) reads as status "unknown" (:meth:`ContainerRecords.state`); :func:`settle_state` rewrites
  it from the processes that are there: running under its living monitor, else exited.
- a config.json that cannot be read makes the container a placeholder
  (:func:`~capsa.container.records.is_unreadable`): listed, inspectable, removable, never
  started; the repair removes it (stopping it first), as ``rm -f`` does.
- the name index (``containers/.names``): links to no container are dropped, names missing
  from it are linked again, and an index that is not a directory is rebuilt.
- a volume.json that cannot be read is rewritten with the record its directory implies.
"""
from __future__ import annotations

import os

from capsa.container.records import ContainerRecords, ContainerState, is_unreadable
from capsa.fsutil import remove_file, rmtree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.container.model import ContainerConfig


def settle_state(records: ContainerRecords, container_id: str, monitor_pid: int | None) -> ContainerState:
    """Replace an unknown (unreadable) state with what the processes say: "running" under
    ``monitor_pid`` when its monitor lives (the monitor keeps it from then on), else "exited"
    with an unknown exit code (-1). A state that is readable again is left as it is."""
    with records.lock(container_id).exclusive():
        state = records.state(container_id)
        if state.status != "unknown":
            return state
        why = state.error or "state.json was unreadable"
        if monitor_pid:
            state = ContainerState(status="running", monitor_pid=monitor_pid,
                                   error=f"{why}; repaired by system check while its monitor ran")
        else:
            from capsa.container.logwriter import timestamp

            state = ContainerState(status="exited", exit_code=-1, finished_at=timestamp(),
                                   error=f"{why}; repaired by system check")
        records.set_state(container_id, state)
        return state


def unknown_states(records: ContainerRecords, configs: list[ContainerConfig]) -> list[tuple[str, str]]:
    """(id, what) of the containers whose state.json is unreadable."""
    out = []
    for config in configs:
        state = records.state(config.id)
        if state.status == "unknown":
            out.append((config.id, f"container {config.name} ({config.id[:12]}): {state.error}"))
    return out


def unreadable_configs(configs: list[ContainerConfig]) -> list[tuple[ContainerConfig, str]]:
    """(placeholder, what) of the containers whose config.json is unreadable."""
    return [(c, f"container {c.name} ({c.id[:12]}): {c.extra.get('unreadable')}; it will be removed")
            for c in configs if is_unreadable(c)]


def name_index_problems(records: ContainerRecords, configs: list[ContainerConfig]) -> list[str]:
    """What is wrong with the name index (nothing when the store has no containers directory)."""
    index = os.path.join(records.root, ".names")
    if not os.path.isdir(records.root) or not os.path.lexists(index):
        return []
    if not os.path.isdir(index) or os.path.islink(index):
        return [f"the container name index {index} is not a directory"]
    out = []
    links = records.names()
    ids = {c.id for c in configs}
    for name, target in sorted(links.items()):
        if target not in ids:
            out.append(f"container name {name} points at no container")
    for entry in os.scandir(index):
        if entry.name not in links and not entry.name.startswith("."):
            out.append(f"container name {entry.name} is not a link")
    for config in configs:
        if not is_unreadable(config) and links.get(config.name) != config.id:
            out.append(f"container {config.name} ({config.id[:12]}) is missing from the name index")
    return out


def repair_name_index(records: ContainerRecords, configs: list[ContainerConfig]) -> None:
    """Make the name index hold exactly one link per readable container (the caller holds the
    store lock)."""
    index = os.path.join(records.root, ".names")
    if os.path.lexists(index) and (not os.path.isdir(index) or os.path.islink(index)):
        remove_file(index) if not os.path.isdir(index) or os.path.islink(index) else rmtree(index)
    os.makedirs(index, exist_ok=True)
    wanted = {c.name: c.id for c in configs if not is_unreadable(c)}
    for entry in os.scandir(index):
        if entry.name.startswith("."):
            continue
        try:
            ok = entry.is_symlink() and os.readlink(entry.path) == wanted.get(entry.name)
        except OSError:
            ok = False
        if not ok:
            rmtree(entry.path, ignore_errors=True) if entry.is_dir(follow_symlinks=False) else remove_file(entry.path)
    for name, container_id in wanted.items():
        link = os.path.join(index, name)
        if not os.path.islink(link):
            os.symlink(container_id, link)
