"""The bridge driver's address book: which container holds which address of which network.

One JSON file (``ipam.json``) under the driver's volatile state directory (``<runroot>/network/
bridge``): addresses are held by running containers, so a reboot (which ends them all and
empties the runroot) frees them all. Every change happens under an exclusive ``fcntl.flock`` on
``ipam.lock`` and is written with a rename, so parallel starts (separate processes) never hand
out one address twice and a crash never leaves a half-written file.
"""
from __future__ import annotations

import os

from capsa.errors import NetworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any


class Ipam:
    """``<state_dir>/ipam.json``: ``{network name: {address: {"id": container id, "veth": name}}}``."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, "ipam.json")

    def locked(self) -> _Locked:
        """The exclusive lock, for a block that reads and changes the book (and may do more
        that must not run twice at once, like creating a bridge)."""
        return _Locked(self)

    def _read(self) -> dict[str, dict[str, dict[str, str]]]:
        import json

        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {}
        except ValueError:  # damaged: start afresh (gc removes the veths it no longer knows)
            return {}

    def _write(self, book: dict[str, Any]) -> None:
        import json

        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(book, f)
        os.replace(tmp, self.path)

    def entries(self) -> Iterator[tuple[str, str, dict[str, str]]]:
        """(network, address, holder) for every address held (read without the lock)."""
        for network, held in self._read().items():
            for address, holder in held.items():
                yield network, address, holder


class _Locked:
    def __init__(self, ipam: Ipam) -> None:
        self.ipam = ipam
        self.fd = -1
        self.book: dict[str, dict[str, dict[str, str]]] = {}
        self.dirty = False

    def __enter__(self) -> _Locked:
        import fcntl

        os.makedirs(self.ipam.state_dir, mode=0o700, exist_ok=True)
        self.fd = os.open(os.path.join(self.ipam.state_dir, "ipam.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.book = self.ipam._read()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.dirty and exc[0] is None:
                self.ipam._write(self.book)
        finally:
            os.close(self.fd)  # releases the lock

    def holder(self, network: str, container_id: str) -> tuple[str, dict[str, str]] | None:
        for address, holder in self.book.get(network, {}).items():
            if holder.get("id") == container_id:
                return address, holder
        return None

    def allocate(self, network: str, subnet: str, gateway: str, container_id: str, veth: str,
                 static_ip: str = "") -> str:
        """An address of ``subnet`` for ``container_id`` (the one it holds already, else
        ``static_ip`` if given, else the lowest free one). NetworkError when none is free, or
        ``static_ip`` is outside the subnet or taken."""
        import ipaddress

        net = ipaddress.ip_network(subnet, strict=False)
        held = self.book.setdefault(network, {})
        mine = self.holder(network, container_id)
        if mine is not None and (not static_ip or mine[0] == static_ip):
            return mine[0]
        reserved = {str(net.network_address), str(net.broadcast_address), gateway}
        if static_ip:
            try:
                addr = ipaddress.ip_address(static_ip)
            except ValueError:
                raise NetworkError(f"invalid IP address {static_ip!r}", hint="write it as 10.90.0.7") from None
            if addr not in net or static_ip in reserved:
                raise NetworkError(f"address {static_ip} is not a free host address of network {network} ({subnet})",
                                   hint=f"pick one in {subnet} other than its gateway {gateway}")
            if static_ip in held:
                raise NetworkError(f"address {static_ip} of network {network} is already in use",
                                   hint="pick another address, or leave out --ip")
            chosen = static_ip
        else:
            chosen = ""
            first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
            for value in range(first, last + 1):
                candidate = str(ipaddress.IPv4Address(value))
                if candidate not in held and candidate not in reserved:
                    chosen = candidate
                    break
            if not chosen:
                raise NetworkError(f"network {network} ({subnet}) has no free address left",
                                   hint="remove containers from it, or use a network with a larger subnet")
        held[chosen] = {"id": container_id, "veth": veth}
        self.dirty = True
        return chosen

    def release(self, network: str | None, container_ids: Iterable[str]) -> list[tuple[str, str, dict[str, str]]]:
        """Free the addresses of ``container_ids`` (on ``network``, or on every network);
        returns what was freed as (network, address, holder)."""
        ids = set(container_ids)
        freed = []
        for name, held in self.book.items():
            if network is not None and name != network:
                continue
            for address in [a for a, h in held.items() if h.get("id") in ids]:
                freed.append((name, address, held.pop(address)))
        if freed:
            self.dirty = True
        return freed

    def drop_network(self, network: str) -> list[tuple[str, dict[str, str]]]:
        """Forget ``network`` altogether; returns its holders as (address, holder)."""
        held = self.book.pop(network, None)
        if held is None:
            return []
        self.dirty = True
        return list(held.items())
