"""Names on a network, through managed /etc/hosts files (podman runs a DNS server instead).

The monitor calls :func:`after_add` once the network driver's ``add`` gave the container its
address, before the container's process starts: the container's own /etc/hosts line
(``127.0.0.1 HOSTNAME NAME`` until then) gets that address. On a user network (not the default
one, as podman) the container is also published: its line (``IP NAME ALIAS...``) goes into the
hosts file of every container on that network, and theirs into its own. :func:`withdraw` (at
teardown, also for a container whose monitor died) removes its line from the others.

Who is on a network is kept in ``RUNROOT/netnames/NETWORK.json`` ({id: [hosts path, line]}),
under a file lock beside it, so parallel starts see each other; both go with the last member. The hosts files are bind-mounted
into running containers: they are rewritten in place (same inode), whole.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def rewrite_in_place(path: str, text: str) -> None:
    """Replace the content of ``path`` keeping its inode (a bind mount's source)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        data = text.encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def set_own_address(hosts: str, own: str, ip: str) -> None:
    """The container's own line of ``hosts`` (``ADDRESS<TAB>own``: 127.0.0.1 until the first
    run, the previous run's address after a restart) gets address ``ip``."""
    text = _read(hosts)
    if text is None:
        return
    lines = text.splitlines()
    mine = next((n for n, line in enumerate(lines) if line.partition("\t")[2] == own), None)
    if mine is not None and lines[mine] != f"{ip}\t{own}":
        lines[mine] = f"{ip}\t{own}"
        rewrite_in_place(hosts, "\n".join(lines) + "\n")


def _edit(hosts: str, drop: set[str], add: list[str]) -> None:
    text = _read(hosts)
    if text is None:
        return
    lines = [line for line in text.splitlines() if line not in drop]
    lines += [line for line in add if line not in lines]
    rewrite_in_place(hosts, "\n".join(lines) + "\n")


class _Book:
    """The members of one network (under its lock)."""

    def __init__(self, runroot: str, network: str) -> None:
        from capsa.store.locks import FileLock

        directory = os.path.join(runroot, "netnames")
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, network + ".json")
        self.lock = FileLock(self.path + ".lock")

    def load(self) -> dict[str, list[str]]:
        from capsa.fastpath.jsonio import loads

        text = _read(self.path)
        members = loads(text) if text else {}
        return {cid: m for cid, m in members.items() if os.path.exists(m[0])}  # (gone ones: forgotten)

    def save(self, members: dict[str, list[str]]) -> None:
        from capsa.fastpath.jsonio import dumps
        from capsa.fsutil import atomic_write

        atomic_write(self.path, dumps(members).encode(), durable=False)


def publish(runroot: str, network: str, container_id: str, hosts: str, ip: str, names: list[str]) -> None:
    """Make ``names`` (the container's name and aliases) at ``ip`` known on ``network``, and
    the other members known to the container (its hosts file ``hosts``)."""
    line = f"{ip}\t{' '.join(n for n in names if n)}"
    book = _Book(runroot, network)
    with book.lock.exclusive():
        members = book.load()
        old = members.pop(container_id, None)
        stale = {old[1]} if old else set()
        _edit(hosts, stale, [m[1] for m in members.values()])
        for path, _ in members.values():
            _edit(path, stale, [line])
        members[container_id] = [hosts, line]
        book.save(members)


def withdraw(runroot: str, network: str, container_id: str, forget_others: bool = False) -> None:
    """Remove the container's line from the hosts files of the other members; with
    ``forget_others`` (``network disconnect``) their lines leave its own hosts file too.
    Idempotent and best effort, as every teardown calls it: a book that cannot be read or
    written (OSError) is left as it is. The last member to go removes the network's book and
    its lock (nothing stays in the runroot for a network nobody is on, or that was removed)."""
    try:
        _withdraw(runroot, network, container_id, forget_others)
    except OSError:
        pass


def _withdraw(runroot: str, network: str, container_id: str, forget_others: bool) -> None:
    book = _Book(runroot, network)
    with book.lock.exclusive():
        members = book.load()
        gone = members.pop(container_id, None)
        if gone is not None:
            for path, _ in members.values():
                _edit(path, {gone[1]}, [])
            if forget_others:
                _edit(gone[0], {m[1] for m in members.values()}, [])
        if members:
            if gone is not None:
                book.save(members)
            return
        for path in (book.path, book.lock.path):  # (a waiter notices and locks the new file)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def after_add(net: dict[str, Any], container_id: str, runroot: str, result: dict[str, Any]) -> None:
    """What the monitor does once ``add`` returned ``result``: the own address into the hosts
    file, and on a user network the names published. ``net``: the monitor's network config
    (``hosts``, ``own``, ``name_list``, ``definition``)."""
    address = (list(result.get("ips") or []) or [""])[0].partition("/")[0]
    hosts = net.get("hosts") or ""
    if not address or not hosts:
        return
    set_own_address(hosts, net.get("own") or "", address)
    network = (net.get("definition") or {}).get("name")
    if network:
        publish(runroot, network, container_id, hosts, address, list(net.get("name_list") or []))
