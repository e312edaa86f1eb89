"""The network driver contract (after CNI: ADD, DEL, CHECK, STATUS, GC).

The core creates the container's network namespace before :meth:`NetworkDriver.add` and always
calls :meth:`NetworkDriver.delete` afterwards, even when ``add`` failed. Each container records
which network driver attached it.
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from capsa.drivers.base import Driver
from capsa.fastpath.record import field, record


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
    netns: Path | None
    interface: str = "eth0"
    ports: list[PortMapping] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@record
class AttachResult:
    """What ``add`` set up, recorded with the container and shown by ``inspect``."""

    interfaces: list[dict[str, Any]] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    dns: dict[str, Any] = field(default_factory=dict)
    ports: list[PortMapping] = field(default_factory=list)


class NetworkDriver(Driver):
    kind = "network"

    @abstractmethod
    def add(self, attachment: Attachment) -> AttachResult:
        """Connect the container's namespace. Raises NetworkError; the core then calls ``delete``."""

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
