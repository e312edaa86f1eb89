"""Network definition records: ``<root>/networks/networks.json`` (a :class:`RecordFile`),
written under ``<root>/networks/networks.lock`` (an exclusive :class:`FileLock`).

The default network (``capsa``, bridge ``capsa0``, its subnet from the bridge driver's options
in capsa.toml) is not stored: it is always listed and cannot be removed, like podman's
``podman`` network. A container names its network with ``--network``: ``none``, ``host``,
``bridge`` (the default network), ``container:NAME`` or a definition's name (or id).
"""
from __future__ import annotations

import os
import re

from capsa.errors import CapsaError, UsageError
from capsa.fastpath.record import field, record
from capsa.store.locks import FileLock
from capsa.store.records import RecordFile, now_rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_NAME = "capsa"
DEFAULT_BRIDGE = "capsa0"
DEFAULT_SUBNET = "10.90.0.0/16"  # the bridge driver's default ([network.options.bridge] subnet)
DRIVERS = ("bridge",)
OPTIONS = {"mtu": "the MTU of the bridge and the veths (68-65535)"}
MODES = ("none", "host", "bridge", "private")  # --network words that are not definitions
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")


class NetworkNotFound(CapsaError):
    """No network has that name or id."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unable to find network with name or ID {name}: network not found",
                         hint="see 'capsa network ls'")


@record
class NetworkDefinition:
    """One network: what ``network create`` recorded (or the default network's settings)."""

    name: str
    id: str  # 64 hex digits
    driver: str = "bridge"
    bridge: str = ""  # the Linux bridge's interface name
    subnet: str = ""  # CIDR
    gateway: str = ""
    internal: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    created: str = ""

    def to_attachment_data(self) -> dict[str, Any]:
        """The definition as a network driver receives it (``Attachment.network``)."""
        return {"name": self.name, "id": self.id, "driver": self.driver, "bridge": self.bridge,
                "subnet": self.subnet, "gateway": self.gateway, "internal": self.internal,
                "labels": dict(self.labels), "options": dict(self.options)}

    def inspect_doc(self) -> dict[str, Any]:
        """``network inspect``'s document, podman 4.3's shape (empty labels/options left out)."""
        doc: dict[str, Any] = {"name": self.name, "id": self.id, "driver": self.driver,
                               "network_interface": self.bridge, "created": self.created,
                               "subnets": [{"subnet": self.subnet, "gateway": self.gateway}],
                               "ipv6_enabled": False, "internal": self.internal, "dns_enabled": False}
        if self.labels:
            doc["labels"] = dict(self.labels)
        if self.options:
            doc["options"] = dict(self.options)
        doc["ipam_options"] = {"driver": "host-local"}
        return doc

    def template_view(self, trunc: bool = False) -> dict[str, Any]:
        """The fields ``--format`` templates name, as podman's (Go) ones: ``{{.Name}}``..."""
        return {"Name": self.name, "ID": self.id[:12] if trunc else self.id, "Driver": self.driver,
                "NetworkInterface": self.bridge, "Created": self.created,
                "Subnets": [{"Subnet": self.subnet, "Gateway": self.gateway}], "IPv6Enabled": False,
                "Internal": self.internal, "DNSEnabled": False, "Labels": dict(self.labels),
                "Options": dict(self.options), "IPAMOptions": {"driver": "host-local"}}


def default_network(options: dict[str, Any] | None = None) -> NetworkDefinition:
    """The default network from the bridge driver's options (``bridge``, ``subnet``, ``gateway``)."""
    import hashlib

    from capsa.network.subnets import gateway_for, parse_subnet

    opts = options or {}
    subnet = parse_subnet(str(opts.get("subnet") or DEFAULT_SUBNET))
    return NetworkDefinition(name=DEFAULT_NAME, id=hashlib.sha256(DEFAULT_NAME.encode()).hexdigest(),
                             bridge=str(opts.get("bridge") or DEFAULT_BRIDGE), subnet=str(subnet),
                             gateway=gateway_for(subnet, opts.get("gateway")), created=now_rfc3339())


def check_name(name: str) -> str:
    """A name ``network create`` accepts: podman's pattern, and not a ``--network`` mode."""
    if not _NAME.match(name) or len(name) > 128:
        raise UsageError(f"invalid network name {name!r}", hint="names match [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    if name in MODES or name == DEFAULT_NAME:
        raise UsageError(f"network name {name} already used: network already exists" if name == DEFAULT_NAME
                         else f"network name {name!r} is reserved (a --network mode)", hint="choose another name")
    return name


def check_interface_name(name: str) -> str:
    if not 1 <= len(name) <= 15 or not re.fullmatch(r"[a-zA-Z0-9_.-]+", name):
        raise UsageError(f"invalid interface name {name!r}", hint="1-15 letters, digits, '_', '.' or '-' (Linux's limit)")
    return name


def check_options(options: dict[str, str]) -> dict[str, str]:
    """``--opt`` checked: only the bridge options capsa implements."""
    for key, value in options.items():
        if key not in OPTIONS:
            raise UsageError(f"unsupported bridge network option {key}", hint=f"supported: {', '.join(OPTIONS)}")
        if key == "mtu" and not (value.isdigit() and 68 <= int(value) <= 65535):
            raise UsageError(f"invalid mtu {value!r}", hint=OPTIONS["mtu"])
    return options


_NETWORK_DIRS: dict[str, str] = {}  # root -> the directory --network-config-dir gave for this process


def set_network_dir(root: str | os.PathLike[str], path: str) -> None:
    """podman's ``--network-config-dir``: the network definitions of the store at ``root`` live in
    ``path`` (its ``networks.json``) for the rest of this process."""
    _NETWORK_DIRS[os.path.abspath(root)] = path


class NetworkRecords:
    """The network definitions under ``root``; reads take the lock shared, changes exclusive."""

    def __init__(self, root: str | os.PathLike[str], default_options: dict[str, Any] | None = None) -> None:
        home = _NETWORK_DIRS.get(os.path.abspath(root)) if _NETWORK_DIRS else None
        home = home or os.path.join(os.fspath(root), "networks")
        self.file = RecordFile(os.path.join(home, "networks.json"), NetworkDefinition)
        self.lock = FileLock(os.path.join(home, "networks.lock"))
        self.default_options = default_options or {}

    def default(self) -> NetworkDefinition:
        return default_network(self.default_options)

    def stored(self) -> list[NetworkDefinition]:
        """The user networks (not the default one), oldest first."""
        if not os.path.exists(self.file.path):
            return []
        with self.lock.shared():
            return self.file.load()

    def all(self) -> list[NetworkDefinition]:
        """Every network, the default one included, sorted by name (as ``network ls`` shows)."""
        return sorted([self.default(), *self.stored()], key=lambda d: d.name)

    def find(self, name_or_id: str, networks: list[NetworkDefinition] | None = None) -> NetworkDefinition:
        """The network of that name, else of that id or unique id prefix; NetworkNotFound."""
        every = self.all() if networks is None else networks
        for net in every:
            if net.name == name_or_id:
                return net
        if re.fullmatch(r"[0-9a-f]{1,64}", name_or_id):
            found = [n for n in every if n.id.startswith(name_or_id)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise UsageError(f"more than one network matches the id prefix {name_or_id}", hint="give more of the id")
        raise NetworkNotFound(name_or_id)

    def create(self, name: str | None, subnet: str | None = None, gateway: str | None = None, internal: bool = False,
               labels: dict[str, str] | None = None, options: dict[str, str] | None = None,
               interface_name: str | None = None, ignore: bool = False,
               routed: list[Any] | None = None) -> tuple[NetworkDefinition, bool]:
        """Record a new bridge network; returns it and whether it is new (``ignore``: an existing
        network of that name is returned as it is). Everything is checked before anything is
        written: a refused network leaves no trace. ``routed``: the host's networks (for tests;
        default: read from the host)."""
        from capsa.network import subnets

        if name is not None:
            if ignore and name == DEFAULT_NAME:
                return self.default(), False
            check_name(name)
        if gateway and not subnet:
            raise UsageError("cannot set gateway without subnet", hint="give --subnet too")
        opts = check_options(dict(options or {}))
        if interface_name is not None:
            check_interface_name(interface_name)
        with self.lock.exclusive():
            stored = self.file.load()
            if name is not None and any(n.name == name for n in stored):
                if ignore:
                    return next(n for n in stored if n.name == name), False
                raise UsageError(f"network name {name} already used: network already exists", hint="choose another name, or use --ignore")
            default = self.default()
            taken = {d.subnet: f"network {d.name}" for d in [default, *stored]}
            if subnet:
                net = subnets.parse_subnet(subnet)
                subnets.check(net, taken, routed)
            else:
                net = subnets.choose(taken, routed)
            gw = subnets.gateway_for(net, gateway)
            bridges = {d.bridge for d in [default, *stored]}
            if interface_name is not None and interface_name in bridges:
                raise UsageError(f"interface name {interface_name} is already used by another network", hint="choose another one")
            bridge = interface_name or _free_bridge(bridges)
            if name is None:
                names = {d.name for d in stored}
                name = next(f"{DEFAULT_NAME}{i}" for i in range(1, len(names) + 2) if f"{DEFAULT_NAME}{i}" not in names)
            definition = NetworkDefinition(name=name, id=os.urandom(32).hex(), bridge=bridge, subnet=str(net), gateway=gw,
                                           internal=internal, labels=dict(labels or {}), options=opts, created=now_rfc3339())
            self.file.save([*stored, definition])
        return definition, True

    def remove(self, names: list[str]) -> None:
        """Forget the stored networks ``names`` (already checked by the caller)."""
        with self.lock.exclusive():
            self.file.save([n for n in self.file.load() if n.name not in names])


def _free_bridge(taken: set[str]) -> str:
    """``capsa1``, ``capsa2``...: the first that no network uses and no interface has."""
    i = 1
    while f"capsa{i}" in taken or os.path.exists(f"/sys/class/net/capsa{i}"):
        i += 1
    return f"capsa{i}"


def resolve(flag: str, records: NetworkRecords) -> tuple[str, NetworkDefinition | None]:
    """A container's ``--network`` (not none/host/private): the driver and the definition it names
    (None: the driver's default network). ``container:NAME`` is returned as it is (the caller
    checks the container). NetworkNotFound for an unknown network."""
    if flag == "bridge":
        return "bridge", None
    if flag.startswith("container:"):
        if not flag[len("container:"):]:
            raise UsageError("--network container: needs a container's name or id", hint="use --network container:NAME")
        return flag, None
    definition = records.find(flag)
    if definition.name == DEFAULT_NAME:
        return definition.driver, None
    return definition.driver, definition
