"""The engine's session: the global options, the configuration they select, the drivers loaded
on first use, and the store and container records they open.

Every engine operation takes a :class:`Session`. A front end (the typer CLI, the lean
``run``/``create`` path, a future API) makes one per invocation from its own flags. Imported by
the ``run``/``create`` path: keep its imports few (see tests/test_startup.py)."""
from __future__ import annotations

from capsa import config as config_mod
from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.container.records import ContainerRecords
    from capsa.drivers.base import Driver
    from capsa.pod.records import PodRecords
    from capsa.store.store import Store

LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "panic")


@record
class GlobalOptions:
    """podman's global flags, as given on the command line (None: not given)."""

    root: str | None = None
    runroot: str | None = None
    storage_driver: str | None = None
    storage_opts: list[str] = field(default_factory=list)
    runtime: str | None = None  # --runtime: the oci isolation driver with this OCI runtime
    runtime_flag: list[str] = field(default_factory=list)  # --runtime-flag: the OCI runtime's global flags
    cgroup_manager: str | None = None  # --cgroup-manager: cgroupfs (systemd is refused)
    tmpdir: str | None = None  # --tmpdir: accepted; capsa keeps its state under the runroot
    volumepath: str | None = None  # --volumepath: where named volumes live (default <root>/volumes)
    network_config_dir: str | None = None  # --network-config-dir: where network definitions live
    no_storage_opts: bool = False  # --storage-opt "": no storage options at all, not even the files'


MULTI_GLOBALS = ("storage_opt", "runtime_flag")  # the global flags that may be given many times
CGROUP_MANAGERS = ("cgroupfs", "systemd")


def global_options(values: dict[str, Any]) -> GlobalOptions:
    """The :class:`GlobalOptions` of parsed global flags (keyed by parameter name, as every
    front end parses them: ``storage_opt``, ``runtime_flag`` lists), checked as podman checks them."""
    manager = values.get("cgroup_manager")
    if manager is not None:
        from capsa.errors import UsageError

        if manager not in CGROUP_MANAGERS:
            raise UsageError("configuring runtime: cgroup manager must be one of cgroupfs and systemd: invalid argument",
                             hint="capsa manages cgroups itself: --cgroup-manager cgroupfs")
        if manager == "systemd":
            raise UsageError("--cgroup-manager systemd is not supported: capsa manages container cgroups itself "
                             "(cgroupfs), without systemd", hint="use --cgroup-manager cgroupfs, the default")
    return GlobalOptions(values.get("root"), values.get("runroot"), values.get("storage_driver"),
                         [o for o in values.get("storage_opt") or () if o], values.get("runtime"),
                         list(values.get("runtime_flag") or ()), manager, values.get("tmpdir"),
                         values.get("volumepath"), values.get("network_config_dir"),
                         "" in (values.get("storage_opt") or ()))


class Session:
    """What one command works with: configuration first, drivers loaded on first use."""

    def __init__(self, options: GlobalOptions) -> None:
        self.options = options
        self.log_level = "warn"
        self._drivers: dict[str, Driver] = {}
        self._config: config_mod.Config | None = None
        self.memo: dict[str, Any] = {}  # what engine modules keep for the session (e.g. engine.registries)

    def set_log_level(self, level: str) -> None:
        """Apply ``--log-level``: debug and info (and trace) messages go to stderr."""
        self.log_level = level
        if level in ("trace", "debug", "info"):
            import logging

            logging.basicConfig(level="DEBUG" if level == "trace" else level.upper(),
                                format="level=%(levelname)s msg=%(message)s", force=True)

    @property
    def config(self) -> config_mod.Config:
        """Files layered, then the flags: ``--root``, ``--runroot``, ``--runtime``, ``--storage-driver``,
        ``--storage-opt`` (read once per session)."""
        if self._config is None:
            self._config = self._load_config()
        return self._config

    def _load_config(self) -> config_mod.Config:
        import os

        storage: dict[str, Any] = {}
        if self.options.root:  # absolute: the container monitor runs from another directory
            storage["root"] = os.path.abspath(self.options.root)
        if self.options.runroot:
            storage["runroot"] = os.path.abspath(self.options.runroot)
        if self.options.storage_driver:
            storage["driver"] = self.options.storage_driver
        overrides: dict[str, Any] = {"storage": storage} if storage else {}
        if self.options.runtime:  # podman's --runtime: the oci driver, running that runtime
            overrides["isolation"] = {"driver": "oci", "options": {"oci": {"runtime": self.options.runtime}}}
        if self.options.runtime_flag:  # podman's --runtime-flag: the OCI runtime's global flags
            oci = overrides.setdefault("isolation", {}).setdefault("options", {}).setdefault("oci", {})
            oci["runtime_flags"] = [f"--{flag.removeprefix('--')}" for flag in self.options.runtime_flag]
        cfg = config_mod.load(overrides or None)
        if self.options.volumepath:
            from capsa.container.volumes import set_volume_path

            set_volume_path(cfg.root, os.path.abspath(self.options.volumepath))
        if self.options.network_config_dir:
            from capsa.network.definitions import set_network_dir

            set_network_dir(cfg.root, os.path.abspath(self.options.network_config_dir))
        if self.options.no_storage_opts:  # (podman's --storage-opt "": the files' options are dropped too)
            storage_table = {k: v for k, v in cfg.data.get("storage", {}).items() if k != "options"}
            cfg = config_mod.Config({**cfg.data, "storage": storage_table}, cfg.files, cfg.registry_layers)
        if self.options.storage_opts:
            opts = config_mod.parse_storage_opts(self.options.storage_opts, cfg.driver("storage"))
            cfg = config_mod.Config(config_mod.merge(cfg.data, {"storage": {"options": opts}}), cfg.files,
                                    cfg.registry_layers)
        if any(cfg.data.get(kind, {}).get("options") for kind in config_mod.KINDS):
            import sys

            from capsa.drivers import installed

            names = {kind: {e.name for e in installed(kind)} for kind in config_mod.KINDS}
            for line in config_mod.stray_option_tables(cfg, names):
                print(f"Warning: {line}", file=sys.stderr)
        return cfg

    def driver(self, kind: str, discover: bool = False) -> Driver:
        """The selected driver of ``kind``, configured with only its own options."""
        if kind not in self._drivers:
            from capsa.drivers import load_driver

            cfg = self.config
            if kind == "isolation" and self.options.runtime_flag:
                from capsa.container.isodriver import session_isolation

                session_isolation(self)  # (refuses --runtime-flag without an OCI runtime)
            self._drivers[kind] = load_driver(
                kind,
                cfg.driver(kind),
                cfg.driver_options(kind),
                root=cfg.root,
                runroot=cfg.runroot,
                discover=discover,
            )
        return self._drivers[kind]

    def close(self) -> None:
        """End the session: the registry driver, if one was loaded, releases its connections and
        tokens (``RegistryDriver.close``). The session may be used again afterwards."""
        registry = self._drivers.get("registry")
        if registry is not None:
            registry.close()  # type: ignore[attr-defined]


def open_store(sess: Session) -> Store:
    """The store the configuration (and ``--root``/``--runroot``) selects, with its driver."""
    from capsa.store.store import Store

    cfg = sess.config
    return Store(cfg.root, cfg.runroot, sess.driver("storage"))  # type: ignore[arg-type]


def container_records(sess: Session) -> ContainerRecords:
    """The container records under the session's root and runroot."""
    from capsa.container.records import ContainerRecords

    cfg = sess.config
    return ContainerRecords(cfg.root, cfg.runroot)


def pod_records(sess: Session) -> PodRecords:
    """The pod records under the session's root and runroot."""
    from capsa.pod.records import PodRecords

    cfg = sess.config
    return PodRecords(cfg.root, cfg.runroot)
