"""Operations on networks: create, list (with podman's filters), inspect, remove (``-f``
removes the containers using a network first) and prune. Each change fires
``capsa_network_event`` (``create``, ``remove``) once it is done. The definitions themselves
are :mod:`capsa.network.definitions`."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from capsa.engine.session import container_records, open_store
from capsa.errors import CapsaError, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session
    from capsa.network.definitions import NetworkDefinition, NetworkRecords

def network_records(sess: Session) -> NetworkRecords:
    """The network definitions under the session's root (the default network from the bridge
    driver's options in capsa.toml)."""
    from capsa.network.definitions import NetworkRecords

    return NetworkRecords(sess.config.root, sess.config.driver_options("network", "bridge"))


@contextmanager
def keeping(sess: Session, definition: dict[str, Any]) -> Iterator[None]:
    """Hold the networks lock shared while the network ``definition`` (a container's recorded
    data) must stay: NetworkNotFound if it is gone (removed, or removed and made again: ids
    differ). ``network rm`` and ``prune`` hold it exclusive from their check of who uses a
    network to its removal."""
    from capsa.network.definitions import DEFAULT_NAME, NetworkNotFound

    records = network_records(sess)
    with records.lock.shared():
        if definition.get("name") != DEFAULT_NAME and not any(n.id == definition.get("id") for n in records.stored()):
            raise NetworkNotFound(str(definition.get("name", "")))
        yield


def network_event(action: str, definition: NetworkDefinition, container_id: str = "") -> None:
    """Tell the hook plugins that ``action`` happened to a network (``connect``/``disconnect``:
    to it and container ``container_id``); a failing plugin warns."""
    from capsa import plugins

    plugins.call_each_warning("capsa_network_event", action=action, network_id=definition.id, name=definition.name,
                              container_id=container_id)


def network_of(config: ContainerConfig) -> str | None:
    """The name of the network a container is on (the default one for ``bridge``), or None."""
    from capsa.network.definitions import DEFAULT_NAME

    if config.extra.get("first_network_detached"):  # (network disconnect: see capsa.container.netconnect)
        return None
    recorded = config.extra.get("network_definition")
    if isinstance(recorded, dict) and recorded.get("name"):
        return str(recorded["name"])
    return DEFAULT_NAME if config.network == "bridge" else None


def networks_of(config: ContainerConfig) -> list[str]:
    """The names of every network a container is on: its first one, then those connected
    later (``network connect``)."""
    first = network_of(config)
    connected = [str((e.get("definition") or {}).get("name", "")) for e in config.extra.get("connected_networks") or []]
    return [n for n in [first, *connected] if n]


def users(sess: Session) -> dict[str, list[str]]:
    """Network name -> names of the containers on it (connected later ones too)."""
    found: dict[str, list[str]] = {}
    for config in container_records(sess).all():
        for name in networks_of(config):
            found.setdefault(name, []).append(config.name)
    return found


def create(sess: Session, name: str | None, driver: str, subnet: str | None, gateway: str | None, internal: bool,
           labels: dict[str, str], options: dict[str, str], interface_name: str | None, ignore: bool,
           ) -> NetworkDefinition:
    """``network create``: checks everything, then records the network; returns it."""
    from capsa.network.definitions import DRIVERS

    if driver not in DRIVERS:
        raise UsageError(f"unsupported driver {driver}: invalid argument", hint=f"supported: {', '.join(DRIVERS)}")
    definition, new = network_records(sess).create(name, subnet, gateway, internal, labels, options, interface_name, ignore)
    if new:
        network_event("create", definition)
    return definition


def _filter(networks: list[NetworkDefinition], filters: list[str], used: dict[str, list[str]] | None = None) -> list[NetworkDefinition]:
    """The networks that pass every filter (podman's: ``name=`` (a regular expression), ``id=``,
    ``driver=``, ``label=KEY[=VALUE]``, ``label!=...``; prune's ``dangling`` is implied)."""
    import re

    for spec in filters:
        key, _, value = spec.partition("=")
        if key == "name":
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise UsageError(f"invalid name filter {value!r}: {exc}", hint="a regular expression") from None
            networks = [n for n in networks if pattern.search(n.name)]
        elif key == "id":
            networks = [n for n in networks if n.id.startswith(value)]
        elif key == "driver":
            networks = [n for n in networks if n.driver == value]
        elif key in ("label", "label!"):
            lk, lsep, lv = value.partition("=")
            networks = [n for n in networks
                        if (lk in n.labels and (not lsep or n.labels[lk] == lv)) == (key == "label")]
        else:
            raise UsageError(f"invalid filter {key!r}", hint="supported: name, id, driver, label, label!")
    return networks


def list_networks(sess: Session, filters: list[str]) -> list[NetworkDefinition]:
    """``network ls``: every network (the default one too) that passes ``filters``, by name."""
    return _filter(network_records(sess).all(), filters)


def inspect(sess: Session, names: list[str]) -> list[NetworkDefinition]:
    """The networks ``names`` (names or ids); NetworkNotFound for an unknown one."""
    records = network_records(sess)
    every = records.all()
    return [records.find(n, every) for n in names]


def inspect_found(sess: Session, names: list[str]) -> tuple[list[NetworkDefinition], CapsaError | None]:
    """``network inspect``: the networks found up to the first unknown one, and podman's error
    for that one (``inspecting object: network NAME: ...``), or None."""
    from capsa.network.definitions import NetworkNotFound

    records = network_records(sess)
    every, found = records.all(), []
    for name in names:
        try:
            found.append(records.find(name, every))
        except NetworkNotFound as exc:
            return found, CapsaError(f"inspecting object: network {name}: {exc.message}", hint=exc.hint)
    return found, None


def exists(sess: Session, name: str) -> bool:
    """Whether a network has that name, id or unique id prefix."""
    from capsa.network.definitions import NetworkNotFound

    try:
        inspect(sess, [name])
    except NetworkNotFound:
        return False
    return True


def remove(sess: Session, names: list[str], force: bool, timeout: int | None = None) -> list[str]:
    """``network rm``: every network is checked before any goes; one that containers use needs
    ``force``, which removes those containers first (stopped with ``timeout``, as ``rm -f -t``).
    The default network cannot be removed. Returns the names removed."""
    from capsa.network.definitions import DEFAULT_NAME, NetworkNotFound

    if not names:
        raise UsageError("give at least one network name", hint="see 'capsa network ls'")
    records = network_records(sess)
    every = records.all()
    targets = []
    for name in names:
        try:
            definition = records.find(name, every)
        except NetworkNotFound as exc:
            exc.exit_code = 1  # (podman's EXIT STATUS: 1 when a network does not exist)
            raise
        if definition.name == DEFAULT_NAME:
            raise UsageError(f"default network {DEFAULT_NAME} cannot be removed", hint="it is always there, like podman's podman network")
        if definition not in targets:
            targets.append(definition)
    gone = {d.name for d in targets}
    if force:  # first without the lock: stopping takes a while, and runs on other networks need not wait
        _remove_users(sess, gone, 10 if timeout is None else timeout)
    with records.lock.exclusive():  # no container joins them from here on (see keeping)
        used = users(sess)
        for definition in targets:
            if used.get(definition.name) and not force:
                raise CapsaError(f'"{definition.name}" has associated containers with it. Use -f to forcibly delete '
                                 "containers and pods: network is being used",
                                 hint=f"used by {', '.join(used[definition.name])}: remove them first, or use -f", exit_code=2)
        if force and any(used.get(n) for n in gone):  # (made meanwhile)
            _remove_users(sess, gone, 10 if timeout is None else timeout)
        records.remove(sorted(gone))
        for definition in targets:  # (under the lock: a network made again with the name waits for this)
            _release(sess, definition)
    for definition in targets:
        network_event("remove", definition)
    return [d.name for d in targets]


def _release(sess: Session, definition: Any) -> None:
    """The network driver's ``remove_network`` for a network whose record is gone (its bridge,
    its firewall table); a failure is logged, not raised: the record is gone, and the
    driver's resources go with the next ``remove_network`` or a reboot."""
    import logging

    from capsa.drivers import load_driver

    cfg = sess.config
    try:
        driver = load_driver("network", definition.driver, cfg.driver_options("network", definition.driver),
                             root=cfg.root, runroot=cfg.runroot)
        driver.remove_network(definition.to_attachment_data())
    except (CapsaError, OSError) as exc:
        logging.getLogger("capsa.network").warning("network %s: its %s driver could not remove it: %s",
                                                   definition.name, definition.driver, getattr(exc, "message", exc))


def _remove_users(sess: Session, names: set[str], timeout: int) -> None:
    """Stop and remove the containers on any of the networks ``names`` (through ``rm``'s path)."""
    from capsa.container import removal

    store, records = open_store(sess), container_records(sess)
    for config in records.all():
        if names.intersection(networks_of(config)):
            removal.remove(sess, store, records, config, force=True, timeout=timeout)


def prune(sess: Session, filters: list[str]) -> list[str]:
    """Remove every user network no container uses (never the default one) that passes
    ``filters`` (``label=``, ``label!=``); returns their names."""
    from capsa.network.definitions import DEFAULT_NAME

    for spec in filters:
        if spec.partition("=")[0] not in ("label", "label!"):
            raise UsageError(f"invalid filter {spec.partition('=')[0]!r} for network prune", hint="supported: label, label!")
    records = network_records(sess)
    with records.lock.exclusive():  # (see keeping)
        used = users(sess)
        gone = [n for n in _filter(records.stored(), filters) if n.name not in used and n.name != DEFAULT_NAME]
        if gone:
            records.remove([n.name for n in gone])
        for definition in gone:
            _release(sess, definition)
    for definition in gone:
        network_event("remove", definition)
    return [n.name for n in gone]


def resolve_for_container(sess: Session, flag: str) -> tuple[str, dict[str, Any] | None]:
    """A container's ``--network`` that is neither ``none``, ``host`` nor the selected driver:
    (its network mode, the definition's data to record or None). ``container:NAME`` must name an
    existing container. Unknown network: NetworkNotFound (exit 125)."""
    from capsa.network.definitions import resolve

    mode, definition = resolve(flag, network_records(sess))
    if mode.startswith("container:"):
        config = container_records(sess).find(mode.split(":", 1)[1])  # (ContainerNotFound: exit 125)
        return f"container:{config.id}", None
    return mode, definition.to_attachment_data() if definition is not None else None


def check_available(flag: str, mode: str) -> None:
    """Refuse (before anything is made) a ``run`` whose network mode cannot attach yet: a
    driver that is not installed or refuses ``add``; ``container:ID`` whose container does not run."""
    hint = "use --network none or host (create records the container: start it once the driver works)"
    if mode.startswith("container:"):
        return
    from capsa import entrypoints

    for entry in entrypoints.load_index():
        if entry.name == mode and entry.group == entrypoints.DRIVER_GROUPS["network"]:
            try:
                cls = entrypoints.import_entry(entry)
            except Exception:
                return  # (loading reports it properly later)
            if getattr(getattr(cls, "add", None), "_capsa_refusal", False):
                raise UsageError(f"network mode {flag!r} is not available yet", hint=f"the {mode} network driver does not attach yet; {hint}")
            return
    raise UsageError(f"network mode {flag!r} is not available yet", hint=f"no network driver {mode!r} is installed; {hint}")
