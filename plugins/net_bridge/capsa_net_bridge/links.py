"""The bridge driver's netlink work (pyroute2, imported here only: ~0.1 s to import, which the
monitor's warm-up pays while it idles)."""
from __future__ import annotations

import os

from capsa.errors import NetworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNET = 0x40000000


def iproute_class() -> Any:
    """pyroute2's ``IPRoute``, imported without the rest of pyroute2 when nothing imported
    the package yet: its ``__init__`` loads every part of it (ndb, ipdb, conntrack...: ~30 of
    its ~90 ms), none of which rtnetlink needs. The package is registered bare (its real
    ``__path__``), and its ``__init__`` runs on the first use of any other name in it
    (``from pyroute2 import X`` still works, in the same process)."""
    import sys

    if "pyroute2" not in sys.modules:
        import importlib
        import importlib.util
        import types

        spec = importlib.util.find_spec("pyroute2")
        if spec is not None and spec.loader is not None and spec.submodule_search_locations:
            bare = types.ModuleType("pyroute2")
            bare.__spec__, bare.__path__, bare.__file__ = spec, list(spec.submodule_search_locations), spec.origin
            bare.__loader__, bare.__package__ = spec.loader, "pyroute2"

            def complete(name: str) -> Any:
                if name.startswith("__"):
                    raise AttributeError(name)
                if importlib.util.find_spec(f"pyroute2.{name}") is not None:  # a submodule
                    return importlib.import_module(f"pyroute2.{name}")
                del bare.__dict__["__getattr__"]
                exec(spec.loader.get_code("pyroute2"), bare.__dict__)  # type: ignore[union-attr]
                try:
                    return bare.__dict__[name]
                except KeyError:
                    raise AttributeError(f"module 'pyroute2' has no attribute {name!r}") from None

            bare.__getattr__ = complete  # type: ignore[method-assign]
            sys.modules["pyroute2"] = bare
    from pyroute2.iproute.linux import IPRoute

    return IPRoute


def host_route() -> Any:
    """A netlink (rtnl) handle in this process's namespace."""
    return iproute_class()()


def netns_route(netns: str) -> Any:
    """A netlink handle bound to the namespace at path ``netns``: the socket is made while this
    thread visits it (a netlink socket stays in the namespace it was made in), without the
    helper process pyroute2's own ``netns=`` forks."""
    import ctypes
    import socket

    from capsa.linux import libc

    IPRoute = iproute_class()

    setns = libc().setns
    try:
        target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetworkError(f"cannot open the container's network namespace {netns}: {exc.strerror}",
                           hint="the container exited before its network was set up") from None
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if setns(target, CLONE_NEWNET) != 0:
            raise NetworkError(f"cannot enter the container's network namespace: {os.strerror(ctypes.get_errno())}",
                               hint="capsa needs CAP_SYS_ADMIN (run it as root)")
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0)
        finally:
            if setns(own, CLONE_NEWNET) != 0:
                os.write(2, b"capsa: cannot return to the monitor's network namespace\n")
                os._exit(125)
    finally:
        os.close(target)
        os.close(own)
    return IPRoute(fileno=sock.detach())


def index(ipr: Any, name: str) -> int:
    """The index of interface ``name`` (0: none): one targeted request."""
    return lookup(ipr, name)[0]


def routed_elsewhere(ipr: Any, subnet: str, bridge_index: int) -> str:
    """The interface (name) through which the host already routes part of ``subnet``, other
    than the bridge itself; "" when none does."""
    import ipaddress

    net = ipaddress.ip_network(subnet, strict=False)
    for route in ipr.get_routes(family=2, table=254):
        dst_len = route["dst_len"]
        dst = route.get_attr("RTA_DST")
        if not dst_len or dst is None:
            continue  # the default route routes everything: it does not claim the subnet
        if not ipaddress.ip_network(f"{dst}/{dst_len}", strict=False).overlaps(net):
            continue
        oif = route.get_attr("RTA_OIF") or 0
        if oif and oif == bridge_index:
            continue
        links = ipr.get_links(oif) if oif else []
        return links[0].get_attr("IFLA_IFNAME") if links else f"route {dst}/{dst_len}"
    return ""


def lookup(ipr: Any, name: str) -> tuple[int, str]:
    """The index and kind (IFLA_INFO_KIND, "" if none) of interface ``name`` ((0, "") : none),
    in one request."""
    try:
        found = ipr.link("get", ifname=name)
    except Exception as exc:  # noqa: BLE001 - pyroute2's NetlinkError; ENODEV: no such interface
        if getattr(exc, "code", 0) == 19:
            return 0, ""
        raise
    if not found:
        return 0, ""
    info = found[0].get_attr("IFLA_LINKINFO")
    return found[0]["index"], (info.get_attr("IFLA_INFO_KIND") or "") if info is not None else ""


def ensure_bridge(ipr: Any, name: str, gateway: str, prefixlen: int, mtu: int, alias: str = "",
                  found: tuple[int, str] | None = None) -> tuple[bool, bool, int]:
    """Bridge ``name`` with ``gateway/prefixlen``, up (one made now gets ``alias``). ``found``:
    what :func:`lookup` said of ``name`` (looked up here if not given). Returns (the bridge was
    created now, the address was added now, its index). A handful of requests: no dump (an
    address already there is the kernel's EEXIST)."""
    created = added = False
    idx, kind = found if found is not None else lookup(ipr, name)
    if idx:
        if kind != "bridge":
            raise NetworkError(f"interface {name} exists and is not a bridge ({kind or 'unknown kind'})",
                               hint="choose another bridge name for the network")
    else:
        try:
            ipr.link("add", ifname=name, kind="bridge", mtu=mtu, state="up")
            created = True
        except Exception as exc:  # noqa: BLE001 - pyroute2's NetlinkError; EEXIST: a parallel add made it
            if getattr(exc, "code", 0) != 17:
                raise NetworkError(f"cannot create bridge {name}: {exc}", hint="capsa needs CAP_NET_ADMIN") from None
        idx = index(ipr, name)
        if created and alias:
            ipr.link("set", index=idx, ifalias=alias)
    try:
        ipr.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
        added = True
    except Exception as exc:  # noqa: BLE001 - EEXIST: it has it already
        if getattr(exc, "code", 0) != 17:
            raise NetworkError(f"cannot give bridge {name} address {gateway}/{prefixlen}: {exc}",
                               hint="capsa needs CAP_NET_ADMIN") from None
    if not created:  # (one made now was made up)
        ipr.link("set", index=idx, state="up")
    return created, added, idx


def remove_address(ipr: Any, name: str, address: str, prefixlen: int) -> None:
    """Take ``address/prefixlen`` off interface ``name`` (nothing if either is gone)."""
    idx = index(ipr, name)
    if not idx:
        return
    try:
        ipr.addr("del", index=idx, address=address, prefixlen=prefixlen)
    except Exception as exc:  # noqa: BLE001 - not there (EADDRNOTAVAIL) is fine
        if getattr(exc, "code", 0) not in (99, 19):
            raise


def delete_link(ipr: Any, name: str) -> bool:
    """Remove interface ``name`` if it exists (a veth takes its peer with it); one request."""
    if not name:
        return False
    try:
        ipr.link("del", ifname=name)
    except Exception as exc:  # noqa: BLE001 - none such, or gone meanwhile (ENODEV) is fine
        if getattr(exc, "code", 0) != 19:
            raise
        return False
    return True


def add_veth(ipr: Any, host_name: str, peer_name: str, netns: str, bridge_index: int, mtu: int) -> None:
    """A veth pair: ``host_name`` on the bridge, up; ``peer_name`` made directly in the namespace
    at path ``netns`` (so it never meets a host interface of the same name). Two requests: a
    leftover's removal, and the pair made already on the bridge and up."""
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        delete_link(ipr, host_name)  # a leftover of an earlier run of the same container
        ipr.link("add", ifname=host_name, kind="veth", mtu=mtu, master=bridge_index, state="up",
                 peer={"ifname": peer_name, "net_ns_fd": fd, "mtu": mtu})
    finally:
        os.close(fd)


LOOPBACK_INDEX = 1  # lo's index in every network namespace (the kernel's LOOPBACK_IFINDEX)


def configure_inside(ns: Any, ifname: str, address: str, prefixlen: int, gateway: str) -> dict[str, Any]:
    """In the container's namespace: ``address/prefixlen`` on ``ifname``, it and lo up, the
    default route via ``gateway`` (none if empty). Returns the interface as recorded."""
    try:
        found = ns.link("get", ifname=ifname)
    except Exception as exc:  # noqa: BLE001 - pyroute2's NetlinkError; ENODEV: not there
        if getattr(exc, "code", 0) != 19:
            raise
        found = []
    if not found:
        raise NetworkError(f"interface {ifname} did not appear in the container's namespace", hint="retry the start")
    idx = found[0]["index"]
    ns.addr("add", index=idx, address=address, prefixlen=prefixlen)
    ns.link("set", index=idx, state="up")
    ns.link("set", index=LOOPBACK_INDEX, state="up")
    if gateway:
        ns.route("add", dst="0.0.0.0/0", gateway=gateway, oif=idx)
    return {"name": ifname, "mac": found[0].get_attr("IFLA_ADDRESS") or ""}
