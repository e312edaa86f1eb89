"""Networks connected to a container after it was made (``network connect``): their record,
and attaching or detaching one (live, from ``network connect``/``disconnect``; at each start,
from the monitor).

A container keeps its first network (its network mode, and on a user network
``extra["network_definition"]``): that is ``eth0``, with the default route. Every network
connected later is one entry of ``config.extra["connected_networks"]``, in connection order::

    {"definition": <the network's data, as Attachment.network>, "interface": "eth1",
     "static_ip": "", "aliases": ["db"]}

``interface`` is the first free ``ethN`` (N >= 1) when it was connected. What the driver's
``add`` reported for the current (or last) run is ``state.extra["connected_results"][NAME]``.
Connected networks use the container's own network driver (the engine refuses another), so
one driver serves them all. On a user network (not the default one) the container's name and
aliases are published to the other members (:mod:`capsa.container.netnames`), as for eth0.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.model import ContainerConfig
    from capsa.container.netattach import NetworkHandle
    from capsa.drivers.network import NetworkDriver

KEY = "connected_networks"
RESULTS = "connected_results"
DETACHED = "first_network_detached"  # True once the first network was disconnected (eth0 free)


def first_detached(extra: dict[str, Any]) -> bool:
    """Whether the container's first network was disconnected (``network disconnect``)."""
    return bool(extra.get(DETACHED))


def entries(extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The connected networks recorded in a container's ``extra`` (a copy of the list)."""
    return [dict(e) for e in extra.get(KEY) or []]


def name_of(entry: dict[str, Any]) -> str:
    return str((entry.get("definition") or {}).get("name", ""))


def find(extra: dict[str, Any], network: str) -> dict[str, Any] | None:
    """The entry of network ``network`` (its name), or None."""
    return next((e for e in entries(extra) if name_of(e) == network), None)


def free_interface(extra: dict[str, Any]) -> str:
    """The first ``ethN`` no network of the container uses (``eth0`` is the first network's,
    until it is disconnected: then the next network connected takes it, and its default route)."""
    used = {e.get("interface") for e in entries(extra)}
    first = 0 if first_detached(extra) else 1
    return next(f"eth{n}" for n in range(first, len(used) + 2) if f"eth{n}" not in used)


def record(config: ContainerConfig, entry: dict[str, Any] | None, remove: str = "") -> None:
    """Add ``entry`` to (or drop network ``remove`` from) ``config``'s connected networks (in
    memory: the caller saves the config)."""
    kept = [e for e in entries(config.extra) if name_of(e) != (remove or (name_of(entry) if entry else ""))]
    if entry is not None:
        kept.append(entry)
    if kept:
        config.extra[KEY] = kept
    else:
        config.extra.pop(KEY, None)


def _publishes(entry: dict[str, Any]) -> bool:
    """Names are published on user networks only (not on the default one, as podman)."""
    from capsa.network.definitions import DEFAULT_NAME

    return name_of(entry) not in ("", DEFAULT_NAME)


def attach(driver: NetworkDriver, container_id: str, name: str, pid: int, mode: str, entry: dict[str, Any],
           runroot: str, hosts: str, on_handle: Any, view: Any = None) -> dict[str, Any]:
    """``driver.add`` of the connected network ``entry`` for the container whose process is
    ``pid`` (network mode ``mode``); ``on_handle(handle)`` receives the attachment before
    ``add`` runs (so that the caller can detach after a failure). On a user network the
    container's name and aliases at its new address go into the hosts files of the network's
    members, and theirs into its own (``hosts``: its /etc/hosts file). ``view()``: the
    container's ``inspect`` document, for ``capsa_adjust_network_attachment``. Returns the result."""
    from capsa.container.netattach import attach as add

    aliases = list(entry.get("aliases") or [])
    result = add(driver, container_id, name, pid, mode, on_handle, view, definition=entry.get("definition") or {},
                 static_ip=entry.get("static_ip") or "", aliases=aliases, interface=entry.get("interface") or "eth1")
    address = (list(result.get("ips") or []) or [""])[0].partition("/")[0]
    if address and hosts and _publishes(entry):
        from capsa.container.netnames import publish

        publish(runroot, name_of(entry), container_id, hosts, address, [name, *aliases])
    return result


def detach(driver: NetworkDriver, container_id: str, name: str, entry: dict[str, Any], runroot: str,
           handle: NetworkHandle | None = None) -> str:
    """Undo :func:`attach` (best effort, idempotent): the names withdrawn (the others' lines
    leave the container's own hosts file too), then ``driver.delete`` with ``handle`` (the
    attachment as ``add`` got it) or, without one, the entry's (namespace None: the bridge
    driver needs none to delete). Returns what went wrong, or ""."""
    from capsa.container.netattach import NetworkHandle, detach as delete
    from capsa.drivers.network import Attachment

    if _publishes(entry):
        from capsa.container.netnames import withdraw

        withdraw(runroot, name_of(entry), container_id, forget_others=True)
    if handle is None:
        handle = NetworkHandle(Attachment(container_id=container_id, container_name=name, netns=None,
                                          interface=entry.get("interface") or "eth1",
                                          network=entry.get("definition") or {}, aliases=list(entry.get("aliases") or [])))
    return delete(driver, handle)


def detach_all(driver: NetworkDriver, container_id: str, name: str, extra: dict[str, Any], runroot: str,
               handles: dict[str, NetworkHandle] | None = None) -> list[str]:
    """:func:`detach` of every network in ``handles`` (network name -> what was attached) and
    every one ``extra`` records (a network connected while the container ran, or one already
    disconnected: delete is idempotent). Returns the problems."""
    handles = dict(handles or {})
    todo = {name_of(e): e for e in entries(extra)}
    for network, handle in handles.items():
        todo.setdefault(network, _entry_of(handle))
    problems = []
    for network, entry in todo.items():
        problem = detach(driver, container_id, name, entry, runroot, handles.get(network))
        if problem:
            problems.append(problem)
    return problems


class RunConnections:
    """One run's connected networks, as the container's monitor handles them: attached after
    eth0 at each start (the record read then), caught up under the container's lock as the run
    is recorded "running" (closing the race with a ``network connect`` that only recorded), and
    all detached at the run's end. ``driver()`` loads the network driver; ``warn(message)``
    reports a problem that does not fail the run; ``view()``: the container's ``inspect``
    document (for ``capsa_adjust_network_attachment``)."""

    def __init__(self, records: Any, cfg: dict[str, Any], driver: Any, warn: Any, view: Any = None) -> None:
        self.records, self.cfg, self.driver, self.warn, self.view = records, cfg, driver, warn, view
        self.handles: dict[str, NetworkHandle] = {}  # name -> what this run attached
        self.live = False  # whether this run attached (or may hold) connected networks

    def _attach(self, pid: int, entry: dict[str, Any]) -> dict[str, Any]:
        def keep(handle: NetworkHandle) -> None:
            self.handles[name_of(entry)] = handle

        net = self.cfg["network"]
        return attach(self.driver(), self.cfg["id"], self.cfg.get("name", ""), pid, net["name"], entry,
                      self.cfg["runroot"], net.get("hosts") or "", keep, self.view)

    def attach_all(self, pid: int) -> dict[str, Any]:
        """``add`` of every network the record names now; returns name -> result. Raises
        (the start fails; :meth:`detach_all` follows)."""
        self.live = True
        return {name_of(e): self._attach(pid, e) for e in entries(self.records.config(self.cfg["id"]).extra)}

    def catch_up(self, pid: int, results: dict[str, Any]) -> dict[str, Any]:
        """Under the container's lock: attach what was connected, detach what was disconnected
        since :meth:`attach_all` read the record. A failure only warns (the container runs
        already; its end detaches it). Returns the results to record."""
        wanted = {name_of(e): e for e in entries(self.records.config(self.cfg["id"]).extra)}
        for name in [n for n in self.handles if n not in wanted]:
            handle = self.handles.pop(name)
            results.pop(name, None)
            detach(self.driver(), self.cfg["id"], self.cfg.get("name", ""), _entry_of(handle), self.cfg["runroot"], handle)
        for name, entry in wanted.items():
            if name not in self.handles:
                try:
                    results[name] = self._attach(pid, entry)
                except Exception as exc:  # noqa: BLE001 - reported; delete follows at the run's end
                    self.warn(f"network {name}: {getattr(exc, 'message', exc)}")
        return results

    def detach_all(self) -> list[str]:
        """``delete`` of every connected network of this run, once: those attached, and those the
        record names now (connected live while the container ran). Returns the problems."""
        if not self.live:
            return []
        handles, self.handles, self.live = self.handles, {}, False
        try:
            extra = self.records.config(self.cfg["id"]).extra
        except Exception:  # noqa: BLE001 - the record is unreadable: what we attached still goes
            extra = {}
        try:
            return detach_all(self.driver(), self.cfg["id"], self.cfg.get("name", ""), extra, self.cfg["runroot"], handles)
        except Exception as exc:  # noqa: BLE001 - the driver could not even be loaded
            return [f"network: {getattr(exc, 'message', exc)}"]

    def to_data(self) -> dict[str, Any] | None:
        """What the monitor hands to its next exec (None: nothing to detach)."""
        return {n: h.to_data() for n, h in self.handles.items()} if self.live else None

    def adopt(self, data: dict[str, Any] | None) -> None:
        """Take back :meth:`to_data`'s handles after an exec."""
        if data is None:
            return
        from capsa.container.netattach import NetworkHandle

        self.handles = {n: NetworkHandle.from_data(h) for n, h in data.items()}
        self.live = True


def _entry_of(handle: NetworkHandle) -> dict[str, Any]:
    a = handle.attachment
    return {"definition": a.network, "interface": a.interface, "aliases": list(a.aliases), "static_ip": a.static_ip}
