"""The network side of a container's monitor (:mod:`capsa.container.monitor`): its network
driver's ``add`` at each start (the first network, then those connected later), ``delete`` at
each run's end, and ``tidy`` once the exit is reported. A mixin of
:class:`capsa.container.monitor.Monitor`, which provides ``cfg``, ``id``, ``records``,
``driver(kind)``, ``_warn`` and the attributes ``network`` (this run's first attachment) and
``connected`` (:class:`capsa.container.netconnect.RunConnections`, or None)."""
from __future__ import annotations

import sys

from capsa.container.relay import close_quietly as _close

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class MonitorNetwork:
    cfg: dict[str, Any]
    id: str
    records: Any
    network: Any
    connected: Any

    def driver(self, kind: str) -> Any:  # (the monitor's)
        raise NotImplementedError

    def _warn(self, message: str) -> None:  # (the monitor's)
        raise NotImplementedError

    def attach_network(self, pid: int) -> dict[str, Any]:
        """Our network driver's ``add`` for the container just created (process ``pid``);
        returns its result as data, to record."""
        from capsa.container.netattach import attach

        def keep(handle: Any) -> None:
            self.network = handle

        net = self.cfg["network"]
        if net["name"] not in ("none", "host") and self.records.config(self.id).extra.get("first_network_detached"):
            # (network disconnect of its first network: only lo, up, as `none` makes it; the
            # networks connected later come next)
            from capsa.drivers import load_driver

            none = load_driver("network", "none", {}, root=self.cfg["root"], runroot=self.cfg["runroot"])
            handles: list[Any] = []
            try:
                attach(none, self.id, self.cfg.get("name", ""), pid, "none", handles.append)
            finally:
                for handle in handles:
                    _close(handle.netns_fd)
            return {}
        result = attach(self.driver("network"), self.id, self.cfg.get("name", ""), pid, net["name"],
                        keep, self._view, definition=net.get("definition"), ports=net.get("ports"),
                        static_ip=net.get("static_ip", ""), aliases=net.get("aliases"))
        if result.get("ips") and net.get("hosts"):  # (none and host give none: nothing imported)
            from capsa.container.netnames import after_add

            after_add(net, self.id, self.cfg["runroot"], result)
        return result

    def _view(self) -> Any:
        """The container's ``inspect`` document, as every container hook gets it."""
        from capsa.container.views import container_document
        from capsa.store.store import Store

        store = Store(self.cfg["root"], self.cfg["runroot"], self.driver("storage"))
        return container_document(self.records, self.records.config(self.id), store)

    def _connections(self) -> Any:
        if self.connected is None:
            from capsa.container.netconnect import RunConnections

            self.connected = RunConnections(self.records, self.cfg, lambda: self.driver("network"), self._warn, self._view)
        return self.connected

    def attach_connected(self, pid: int) -> dict[str, Any]:
        """``add`` of the networks connected to the container (``network connect``), as its
        record says now; none for ``none``/``host``/``container:`` (nothing read)."""
        if self.cfg["network"]["name"] in ("none", "host"):
            return {}
        return self._connections().attach_all(pid)  # type: ignore[no-any-return]

    def detach_network(self) -> str:
        """The network driver's ``delete`` for this run, once (connected networks first);
        returns what went wrong, or ""."""
        problems = self.connected.detach_all() if self.connected is not None else []
        problems.append(self._detach_first())
        return "; ".join(p for p in problems if p)

    def _detach_first(self) -> str:
        """``delete`` of the first network's attachment of this run, once; what went wrong, or ""."""
        if self.network is None:
            return ""
        from capsa.container.netattach import detach

        problems: list[str] = []
        handle, self.network = self.network, None
        network = (self.cfg["network"].get("definition") or {}).get("name")
        if network:
            from capsa.container.netnames import withdraw

            withdraw(self.cfg["runroot"], network, self.id)
        try:
            problems.append(detach(self.driver("network"), handle))
        except Exception as exc:  # the driver could not even be loaded
            problems.append(f"network: {getattr(exc, 'message', exc)}")
        return "; ".join(p for p in problems if p)

    def _tidy_network(self) -> None:
        """The network driver's ``tidy`` once the exit is reported (``run`` has returned): a
        bridge after its last container takes the kernel tens of milliseconds to remove."""
        from capsa.container.netattach import tidy

        try:
            problem = tidy(self.driver("network"))
        except Exception as exc:  # (the driver could not be loaded: it made nothing)
            problem = f"network: {getattr(exc, 'message', exc)}"
        if problem:
            sys.stderr.write(f"{problem}\n")  # (monitor.log; the record may be gone with --rm)

