"""The bridge driver's book of published ports: a marker per container that publishes some.

``<state dir>/ports-<id>`` (JSON: ``bridge``, ``veth``, ``address``, ``subnet`` and ``ports``,
each ``[host ip, host port, protocol, container port]``) says the container's nft table
(:mod:`.ports`) exists, which host ports it holds (a later start must not take them), and is
enough to write the table again after a flushed ruleset. A marker whose veth is gone belongs to
a container killed with its monitor (its namespace, and so its veth, went with it): the next
start that looks, or ``gc``, removes its table. Changes happen under the IPAM lock.
"""
from __future__ import annotations

import os

from capsa.errors import NetworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from capsa.drivers.network import Attachment


class Published:
    """The markers under ``state_dir``."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir

    def path(self, container_id: str) -> str:
        return os.path.join(self.state_dir, f"ports-{container_id}")

    def marker(self, container_id: str) -> dict[str, Any] | None:
        from capsa_net_bridge import markers

        return markers.read(self.path(container_id))

    def markers(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(container id, marker) of every container with published ports."""
        from capsa_net_bridge import markers

        return markers.each(self.state_dir, "ports-")

    def publish(self, attachment: Attachment, bridge: str, address: str, subnet: str, veth: str) -> None:
        """Write the container's table, once no other container holds one of its host ports
        (by :func:`capsa.drivers.network.same_host_port`) and no program of the host has bound
        one (NetworkError before any rule is written). Under the IPAM lock."""
        from capsa.drivers.network import same_host_port
        from capsa_net_bridge import markers, ports

        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        mine = [[p.host_ip, int(p.host_port), p.protocol, int(p.container_port)] for p in attachment.ports]
        for other, marker in list(self.markers()):
            if other == attachment.container_id:
                continue
            if marker.get("veth") and not os.path.exists(f"/sys/class/net/{marker['veth']}"):
                self.unpublish(other)  # stale: its container is gone
                continue
            clash = [p for p in mine if any(same_host_port(tuple(p[:3]), tuple(q[:3])) for q in marker.get("ports", []))]
            if clash:
                raise NetworkError(f"host port {clash[0][0] or '0.0.0.0'}:{clash[0][1]}/{clash[0][2]} is already "
                                   f"published by container {other[:12]}", hint="choose another host port (-p)")
        ports.check_free(attachment.ports)
        markers.write(self.path(attachment.container_id),
                      {"bridge": bridge, "veth": veth, "address": address, "subnet": subnet, "ports": mine})
        ports.publish(attachment.container_id, bridge, address, attachment.ports, subnet)

    def unpublish(self, container_id: str, bridge: str = "") -> None:
        """Remove the container's table and marker (only if its ports are on ``bridge``, if
        given: they belong to the network they were published on). Idempotent."""
        from capsa_net_bridge import ports

        marker = self.marker(container_id)
        if not os.path.exists(self.path(container_id)):
            return
        if bridge and marker is not None and marker.get("bridge", bridge) != bridge:
            return
        ports.unpublish(container_id)
        try:
            os.unlink(self.path(container_id))
        except FileNotFoundError:
            pass

    def missing_table(self, container_id: str) -> bool:
        """Whether the container has published ports whose table is gone (a flushed ruleset)."""
        from capsa_net_bridge import ports
        from capsa_net_bridge.firewall import table_present

        return self.marker(container_id) is not None and not table_present(ports.table_name(container_id))

    def restore(self, keep: set[str]) -> None:
        """Write again the table of every container in ``keep`` whose table is gone."""
        from capsa.drivers.network import PortMapping
        from capsa_net_bridge import ports

        for container_id, marker in list(self.markers()):
            if container_id in keep and marker.get("address") and self.missing_table(container_id):
                mappings = [PortMapping(container_port=int(p[3]), host_port=int(p[1]), host_ip=p[0], protocol=p[2])
                            for p in marker.get("ports", []) if len(p) == 4]
                ports.publish(container_id, marker["bridge"], marker["address"], mappings, marker.get("subnet", ""))
