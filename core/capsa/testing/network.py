"""A CNI-style conformance suite for network drivers (ADD, CHECK, DEL, GC), on real namespaces.

Mixed into a test class with ``name`` (and optionally ``options``), as a third-party network
driver's own tests do::

    from capsa.testing.network import NetworkConformance

    class TestMyDriver(NetworkConformance):
        name = "mydriver"
        options = {"bridge": "mytest0", "subnet": "10.197.3.0/24"}

Each test gets a fresh network namespace, made by a helper process that ``unshare``s one and
sleeps (``Attachment.netns`` is ``/proc/<helper>/ns/net``); "the namespace is gone" kills the
helper, and then ``delete`` gets ``netns=None``, as capsa's core calls it for a container whose
monitor died. Class attributes:

- ``own_namespace`` (default True): the driver attaches a namespace of the container's own
  (False for a driver like ``host``: it is given ``netns=None``).
- ``holds_state`` (default True): ``add`` sets up something outside the namespace that
  ``delete`` and ``gc`` remove, so ``check`` must fail after them (False for ``none``/``host``).

Once the last container is deleted and ``tidy`` ran (or ``gc`` collected it), the host's interfaces, routes and
nftables tables must be as they were before the first ``add`` (:func:`host_snapshot`, taken in
a private stand-in for the host: :func:`in_private_host`).

Override :meth:`NetworkConformance.cleanup` to remove what the driver keeps beyond its
containers (a bridge, firewall rules); it runs after every test, even a failed one. Needs root.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from capsa.drivers.network import Attachment, AttachResult
from capsa.errors import NetworkError
from capsa.testing.drivers import make_driver, read_to_end

HELPER = ("import ctypes, sys, time\n"
          "libc = ctypes.CDLL(None, use_errno=True)\n"
          "libc.prctl(1, 9)\n"  # PR_SET_PDEATHSIG, SIGKILL: it goes with whoever made it
          "if libc.unshare(0x40000000) != 0: sys.exit(1)\n"
          "print('ready', flush=True)\n"
          "time.sleep(600)\n")


class Namespace:
    """A network namespace held by a sleeping helper process; ``gone()`` ends it."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HELPER], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if line.strip() != "ready":
            self.gone()
            pytest.skip("cannot create a network namespace here (needs root)")
        self.path = f"/proc/{self.proc.pid}/ns/net"

    def interfaces(self) -> list[str]:
        """Names of the namespace's interfaces."""
        lines = Path(f"/proc/{self.proc.pid}/net/dev").read_text().splitlines()[2:]
        return sorted(line.split(":")[0].strip() for line in lines)

    def local_addresses(self) -> set[str]:
        """The namespace's local IPv4 addresses (from its fib_trie)."""
        lines = Path(f"/proc/{self.proc.pid}/net/fib_trie").read_text().splitlines()
        found = set()
        for i, line in enumerate(lines):
            if "/32 host LOCAL" in line and i > 0:
                found.add(lines[i - 1].split()[-1])
        return found

    def gone(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def host_snapshot() -> dict[str, Any]:
    """What a network driver may change on the host: its interfaces, its IPv4 routes (main
    table) and its nftables tables (when ``nft`` is installed)."""
    import shutil

    routes = sorted(tuple(line.split()[:3]) for line in Path("/proc/net/route").read_text().splitlines()[1:])
    tables: list[str] = []
    nft = shutil.which("nft")
    if nft:
        out = subprocess.run([nft, "list", "tables"], capture_output=True, text=True)
        tables = sorted(out.stdout.splitlines()) if out.returncode == 0 else ["(nft list tables failed)"]
    return {"interfaces": sorted(os.listdir("/sys/class/net")), "routes": routes, "nft tables": tables}


def host_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What differs between two :func:`host_snapshot` (empty: nothing)."""
    changes = {}
    for key in before:
        added, removed = sorted(set(after[key]) - set(before[key])), sorted(set(before[key]) - set(after[key]))
        if added or removed:
            changes[key] = {"added": added, "removed": removed}
    return changes


def in_private_host(body: Any) -> None:
    """Run ``body()`` in a child process whose network namespace (and /sys, mounted again in a
    mount namespace of its own) stands in for the host's: what it compares with
    :func:`host_snapshot` cannot be disturbed by other programs of the real host. Raises
    AssertionError with the child's traceback when ``body`` fails."""
    import ctypes
    import threading
    import traceback

    if threading.active_count() > 1:  # (a fork would copy locks other threads hold)
        pytest.fail("another thread runs in this test process (a fixture or plugin left one): forking it is not safe")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        os.close(read_end)
        code = 1
        try:  # (body ends the namespaces it makes: the parent's fixtures never see them)
            signal.alarm(120)  # (a child that hangs dies, and the test fails, instead of CI hanging)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(0x40000000 | 0x00020000) != 0:  # CLONE_NEWNET | CLONE_NEWNS
                raise OSError(ctypes.get_errno(), "unshare")
            if libc.mount(None, b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
                raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
            if libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None) != 0:  # (sysfs shows its mounter's netns)
                raise OSError(ctypes.get_errno(), "mount sysfs")
            body()
            code = 0
        except BaseException:  # noqa: BLE001 - everything goes to the parent
            os.write(write_end, traceback.format_exc()[-8000:].encode())
        finally:
            os._exit(code)
    os.close(write_end)
    report = read_to_end(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report


class NetworkConformance:
    """The contract of :class:`capsa.drivers.network.NetworkDriver`, driver ``name``."""

    name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}
    own_namespace: ClassVar[bool] = True
    holds_state: ClassVar[bool] = True

    def cleanup(self, driver: Any) -> None:
        """Remove what the driver keeps beyond its containers (default: ``gc`` of all)."""
        driver.gc([])

    @pytest.fixture
    def driver(self, tmp_path: Path) -> Iterator[Any]:
        if os.geteuid() != 0:
            pytest.skip("network drivers need root")
        drv = make_driver("network", self.name, tmp_path, dict(self.options))
        try:
            yield drv
        finally:
            self.cleanup(drv)

    @pytest.fixture
    def namespaces(self) -> Iterator[list[Namespace]]:
        made: list[Namespace] = []
        try:
            yield made
        finally:
            for ns in made:
                ns.gone()

    def attachment(self, namespaces: list[Namespace], container_id: str = "") -> tuple[Attachment, Namespace | None]:
        """A new container's attachment (and its namespace, for drivers that take one)."""
        cid = container_id or secrets.token_hex(32)
        ns = None
        if self.own_namespace:
            ns = Namespace()
            namespaces.append(ns)
        return Attachment(container_id=cid, container_name=f"conf-{cid[:8]}", netns=ns.path if ns else None), ns

    @staticmethod
    def gone(attachment: Attachment) -> Attachment:
        """The same attachment as the core passes it once the namespace is gone."""
        return Attachment(container_id=attachment.container_id, container_name=attachment.container_name, netns=None,
                          interface=attachment.interface, network=dict(attachment.network),
                          static_ip=attachment.static_ip)

    # -- ADD ---------------------------------------------------------------------------------

    def test_add_result_shape(self, driver: Any, namespaces: list[Namespace]) -> None:
        att, ns = self.attachment(namespaces)
        result = driver.add(att)
        assert isinstance(result, AttachResult)
        assert all(isinstance(i, dict) and i.get("name") for i in result.interfaces)
        for ip in result.ips:
            ipaddress.ip_interface(ip)  # address/prefix
        assert all(isinstance(r, dict) for r in result.routes)
        if ns is not None:
            have = ns.interfaces()
            assert "lo" in have
            assert all(i["name"] in have for i in result.interfaces), (result.interfaces, have)
            local = ns.local_addresses()
            assert all(str(ipaddress.ip_interface(ip).ip) in local for ip in result.ips), (result.ips, local)
        driver.delete(att)

    def test_add_then_check(self, driver: Any, namespaces: list[Namespace]) -> None:
        att, _ = self.attachment(namespaces)
        driver.add(att)
        driver.check(att)
        driver.delete(att)

    def test_add_again_after_delete(self, driver: Any, namespaces: list[Namespace]) -> None:
        """A container started again (a restart) is added anew with the same id."""
        att, _ = self.attachment(namespaces)
        driver.add(att)
        driver.delete(att)
        again, _ = self.attachment(namespaces, att.container_id)
        driver.add(again)
        driver.check(again)
        driver.delete(again)

    # -- DEL ---------------------------------------------------------------------------------

    def test_delete_twice(self, driver: Any, namespaces: list[Namespace]) -> None:
        att, _ = self.attachment(namespaces)
        driver.add(att)
        driver.delete(att)
        driver.delete(att)

    def test_delete_without_add(self, driver: Any, namespaces: list[Namespace]) -> None:
        att, _ = self.attachment(namespaces)
        driver.delete(att)
        driver.delete(self.gone(att))

    def test_check_fails_after_delete(self, driver: Any, namespaces: list[Namespace]) -> None:
        if not self.holds_state:
            pytest.skip(f"network driver {self.name!r} holds nothing outside the namespace")
        att, _ = self.attachment(namespaces)
        driver.add(att)
        driver.delete(att)
        with pytest.raises(NetworkError):
            driver.check(att)

    def test_delete_after_the_namespace_is_gone(self, driver: Any, namespaces: list[Namespace]) -> None:
        att, ns = self.attachment(namespaces)
        driver.add(att)
        if ns is not None:
            ns.gone()
        driver.delete(self.gone(att))
        driver.delete(self.gone(att))
        if self.holds_state:
            with pytest.raises(NetworkError):
                driver.check(self.gone(att))

    # -- GC ----------------------------------------------------------------------------------

    def test_gc_removes_only_what_is_not_live(self, driver: Any, namespaces: list[Namespace]) -> None:
        live, _ = self.attachment(namespaces)
        dead, dead_ns = self.attachment(namespaces)
        driver.add(live)
        driver.add(dead)
        if dead_ns is not None:
            dead_ns.gone()
        driver.gc([live.container_id])
        driver.check(live)
        if self.holds_state:
            with pytest.raises(NetworkError):
                driver.check(self.gone(dead))
        driver.gc([live.container_id])  # again: nothing left to do
        driver.delete(live)
        driver.delete(self.gone(dead))  # delete after gc: still fine

    # -- nothing left ------------------------------------------------------------------------

    def leaves_the_host_as_before(self, namespaces: list[Namespace], scenario: Any) -> None:
        """Run ``scenario()`` in a private stand-in for the host (:func:`in_private_host`) and
        check the host is as it was before (:func:`host_snapshot`); the namespaces it made end
        there too (the parent's fixture never sees them)."""
        def body() -> None:
            before = host_snapshot()
            try:
                scenario()
            finally:
                for ns in namespaces:
                    ns.gone()
            changes = host_changes(before, host_snapshot())
            assert changes == {}, f"left on the host: {changes}"

        in_private_host(body)

    def test_the_host_is_as_before_once_the_last_container_is_deleted(self, driver: Any, namespaces: list[Namespace]) -> None:
        """After ``delete`` of every container it added and ``tidy``, nothing the driver made
        stays on the host: no interface, route or nftables table (a bridge goes with its last
        container)."""
        def scenario() -> None:
            first, _ = self.attachment(namespaces)
            second, _ = self.attachment(namespaces)
            driver.add(first)
            driver.add(second)
            driver.delete(first)
            driver.delete(second)
            driver.tidy()
            driver.tidy()  # (idempotent)

        self.leaves_the_host_as_before(namespaces, scenario)

    def test_the_host_is_as_before_once_gc_collected_every_container(self, driver: Any, namespaces: list[Namespace]) -> None:
        """The same when the containers' namespaces are gone and nobody called ``delete``
        (SIGKILLed): ``gc`` with no live container leaves the host as it found it."""
        def scenario() -> None:
            att, ns = self.attachment(namespaces)
            driver.add(att)
            if ns is not None:
                ns.gone()
            driver.gc([])

        self.leaves_the_host_as_before(namespaces, scenario)
