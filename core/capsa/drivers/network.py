"""The network driver contract (after CNI: ADD, DEL, CHECK, STATUS, GC).

How the core calls it (see docs/architecture.md, "Networks"): a container's network mode *is*
the name of its network driver (``none``, ``host``, or a driver selected in capsa.toml), and the
container records it. The core has the container's network namespace created with the
container itself: the isolation driver makes a new one as the bundle asks (every driver but
``host``, which shares the host's). Between the runtime's ``create`` and ``start`` — the
namespace exists, nothing of the container runs yet — the monitor calls :meth:`NetworkDriver.add`
with the namespace's path (``Attachment.netns``: a path that stays valid until ``delete``
returns; None for the host's namespace). After the container exited, and whenever a
start failed after ``add`` was called (``add`` itself failing included), the core calls
:meth:`NetworkDriver.delete`; a container whose monitor died gets it from the next command that
finds it (with ``netns`` None: the namespace is gone by then).

Network drivers are called in the container's monitor, a small process on the way to every
container: keep imports light (no pathlib, no json at import time).
"""
from __future__ import annotations

from abc import abstractmethod

from capsa.drivers.base import Driver
from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


@record
class PortMapping:
    """``-p host_ip:host_port:container_port/protocol``."""

    container_port: int
    host_port: int
    host_ip: str = ""
    protocol: str = "tcp"


@record
class Attachment:
    """What the core asks a network driver to connect: one container's namespace."""

    container_id: str
    container_name: str
    netns: str | None  # the namespace's path (valid until delete returns); None: the host's, or gone
    interface: str = "eth0"
    ports: list[PortMapping] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    # The network to join, as plain data (capsa.network's record serializes to it): keys
    # ``name``, ``id``, ``driver``, ``bridge`` (interface name), ``subnet`` (CIDR), ``gateway``
    # (IP), ``internal`` (bool), ``labels`` and ``options`` (dicts). Empty: the driver's own
    # default network (for ``bridge``: its options ``bridge`` and ``subnet``, named ``capsa``).
    network: dict[str, Any] = field(default_factory=dict)
    static_ip: str = ""  # ``--ip``: the address asked for ("" lets the driver's IPAM choose)


def same_host_port(a: tuple[str, int, str], b: tuple[str, int, str]) -> bool:
    """Whether two published ports, as (host ip, host port, protocol), claim one socket: same
    port and protocol, and the same address or either one on every address ("" or 0.0.0.0).
    The core (at create) and network drivers (at add) refuse a second claim by this rule."""
    (aip, aport, aproto), (bip, bport, bproto) = a, b
    if int(aport) != int(bport) or aproto != bproto:
        return False
    wild = ("", "0.0.0.0")
    return aip in wild or bip in wild or aip == bip


def try_bind(host_ip: str, port: int, protocol: str) -> int:
    """Bind ``host_ip:port`` (port 0: any free one) for ``protocol`` ("tcp"/"udp") and let go;
    returns the port bound. OSError when a program of the host holds it."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM)
    try:
        if protocol == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host_ip or "0.0.0.0", int(port)))
        return int(sock.getsockname()[1])
    finally:
        sock.close()


@record
class AttachResult:
    """What ``add`` set up, recorded with the container and shown by ``inspect``."""

    interfaces: list[dict[str, Any]] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    dns: dict[str, Any] = field(default_factory=dict)
    ports: list[PortMapping] = field(default_factory=list)
    gateway: str = ""  # the default route's gateway, when the driver set one


class NetworkDriver(Driver):
    kind = "network"

    @abstractmethod
    def add(self, attachment: Attachment) -> AttachResult:
        """Connect the container's namespace (it exists; the container's process waits to be
        started). Raises NetworkError (or anything: it fails the start); the core then calls
        ``delete``. The result is recorded with the container and shown by ``inspect``."""

    @abstractmethod
    def delete(self, attachment: Attachment) -> None:
        """Undo ``add``. Idempotent and best effort: works when ``add`` half-failed or never ran,
        and when the namespace is already gone. Never raises for missing pieces."""

    @abstractmethod
    def check(self, attachment: Attachment) -> None:
        """Raise NetworkError if what ``add`` set up is no longer in place."""

    @abstractmethod
    def gc(self, live: Iterable[str]) -> None:
        """Remove what the driver holds for containers whose ids are not in ``live``."""

    def tidy(self) -> None:
        """Remove what no container holds any more (a network's bridge and firewall table once
        its last container was deleted). The core calls it after ``delete``, once nothing waits
        for it (the container's exit is reported first: the next ``add`` may come before or
        after, and must find or remake what it needs); ``gc`` does the same. Idempotent;
        nothing by default."""

    def remove_network(self, network: dict[str, Any]) -> None:
        """Remove what the driver made for the network ``network`` (``Attachment.network``'s
        data: a bridge, firewall rules), once no container uses it: ``network rm`` and ``network
        prune`` call it after the network's record is gone. Idempotent; nothing by default."""
