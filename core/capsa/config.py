"""Layered TOML configuration.

Files are read lowest to highest: ``/usr/share/capsa/capsa.toml``, ``/etc/capsa/capsa.toml``,
``$XDG_CONFIG_HOME/capsa/capsa.toml`` and ``$CAPSA_CONFIG``; CLI flags come last. Tables merge
key by key, lists (and every other value) replace. Missing files are skipped, except the one
``$CAPSA_CONFIG`` names: asking for a file that is not there is an error.
"""
from __future__ import annotations

import os

from capsa.entrypoints import DRIVER_GROUPS
from capsa.errors import ConfigError
from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

KINDS: tuple[str, ...] = tuple(DRIVER_GROUPS)
DEFAULT_DRIVERS: dict[str, str] = {
    "storage": "overlay",
    "network": "bridge",  # the default network capsa (bridge capsa0), as podman's podman
    "isolation": "linux",
    "registry": "oci",
}
DEFAULT_ROOT = "/var/lib/capsa"
DEFAULT_RUNROOT = "/run/capsa"

# Known keys of each table and the type their value must have. "options" holds one sub-table
# per driver name; its keys belong to that driver, which validates them itself.
SCHEMA: dict[str, dict[str, type]] = {
    "storage": {"driver": str, "root": str, "runroot": str, "options": dict},
    "network": {"driver": str, "options": dict},
    "isolation": {"driver": str, "options": dict},
    "registry": {"driver": str, "unqualified_search": list, "options": dict, "aliases": dict,
                 "registries": dict, "certs_dir": str, "auth_file": str, "short_name_mode": str},
}


def default_search_paths(environ: Mapping[str, str] | None = None) -> list[str]:
    """The configuration files in the order they are layered (lowest first)."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME", "/root"), ".config")
    paths = ["/usr/share/capsa/capsa.toml", "/etc/capsa/capsa.toml", os.path.join(xdg, "capsa", "capsa.toml")]
    if env.get("CAPSA_CONFIG"):
        paths.append(env["CAPSA_CONFIG"])
    return paths


def merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``top``: tables merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def read_toml(path: str) -> dict[str, Any]:
    """Parse one TOML file; a syntax error names the file and the line. What a file's content
    parses to is cached (capsa.cache, keyed by its path and a digest of its bytes; only a cache
    file this user owns and nobody else can write is read): an unchanged file is read without
    importing the TOML parser (and what it imports) on every command."""
    from capsa import cache
    from capsa.fastpath.jsonio import dumps, loads

    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", hint="check the file's path and permissions") from None
    key = f"{path}\x1f{len(raw)}\x1f{cache.short_name(raw.decode('latin-1'))}"
    name = f"config-{cache.short_name(path)}"
    body = cache.read_keyed(name, key, trusted=True)
    if body is not None:
        try:
            return dict(loads(body))
        except (ValueError, TypeError):
            pass
    data = _parse_toml(path, raw)
    try:
        cache.write_keyed(name, key, dumps(data))
    except (TypeError, ValueError):  # (a date or time value: such a file is parsed each time)
        pass
    return data


def _parse_toml(path: str, raw: bytes) -> dict[str, Any]:
    import tomli

    try:
        return tomli.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: not UTF-8 ({exc.reason})", hint=f"save {path} as UTF-8") from None
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(
            f"invalid TOML in {path}: {exc}",
            hint=f"fix line {getattr(exc, 'lineno', '?')} of {path}",
        ) from None


def validate(data: Mapping[str, Any], source: str) -> None:
    """Refuse unknown tables, unknown keys and values of the wrong type, naming ``source``."""
    for table, body in data.items():
        if table not in SCHEMA:
            raise ConfigError(
                f"{source}: unknown table [{table}]",
                hint=f"known tables: {', '.join(sorted(SCHEMA))}",
            )
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: {table} must be a table", hint=f"write it as [{table}]")
        for key, value in body.items():
            expected = SCHEMA[table].get(key)
            if expected is None:
                raise ConfigError(
                    f"{source}: unknown key {key!r} in [{table}]",
                    hint=f"known keys: {', '.join(sorted(SCHEMA[table]))}",
                )
            if not isinstance(value, expected):
                raise ConfigError(
                    f"{source}: [{table}] {key} must be a {expected.__name__}, not {type(value).__name__}",
                    hint=f"see docs/configuration.md for [{table}]",
                )
        for driver, opts in body.get("options", {}).items():
            if not isinstance(opts, dict):
                raise ConfigError(
                    f"{source}: [{table}.options.{driver}] must be a table",
                    hint=f"write the driver's options under [{table}.options.{driver}]",
                )


@record(frozen=True)
class Config:
    """The merged configuration and the files it came from."""

    data: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    # Each file's [registry] table, with the file: what its tables and lists hold is checked by
    # capsa.registry.settings when a command first uses it (the run path never imports it).
    registry_layers: tuple[tuple[str, dict[str, Any]], ...] = ()

    def driver(self, kind: str) -> str:
        """Name of the driver selected for ``kind``."""
        return self.data.get(kind, {}).get("driver") or DEFAULT_DRIVERS[kind]

    def driver_options(self, kind: str, name: str | None = None) -> dict[str, Any]:
        """Options for driver ``name`` (default: the selected one) of ``kind``; only that driver's."""
        name = name or self.driver(kind)
        return dict(self.data.get(kind, {}).get("options", {}).get(name, {}))

    @property
    def root(self) -> str:
        return str(self.data.get("storage", {}).get("root") or DEFAULT_ROOT)

    @property
    def runroot(self) -> str:
        return str(self.data.get("storage", {}).get("runroot") or DEFAULT_RUNROOT)

    @property
    def unqualified_search(self) -> list[str]:
        return list(self.data.get("registry", {}).get("unqualified_search", ["docker.io"]))


def load(
    overrides: Mapping[str, Any] | None = None,
    search_paths: Sequence[str | os.PathLike[str]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and merge the configuration files, then apply ``overrides`` (from CLI flags)."""
    env = os.environ if environ is None else environ
    paths = [os.fspath(p) for p in search_paths] if search_paths is not None else default_search_paths(env)
    explicit = env.get("CAPSA_CONFIG") or None
    data: dict[str, Any] = {}
    read: list[str] = []
    registry_layers: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        if not os.path.isfile(path):
            if path == explicit:
                raise ConfigError(
                    f"CAPSA_CONFIG names {path}, which does not exist",
                    hint="create the file or unset CAPSA_CONFIG",
                )
            continue
        layer = read_toml(path)
        validate(layer, path)
        data = merge(data, layer)
        read.append(path)
        if "registry" in layer:
            registry_layers.append((path, layer["registry"]))
    if overrides:
        validate(overrides, "command line")
        data = merge(data, overrides)
        if "registry" in overrides:
            registry_layers.append(("command line", overrides["registry"]))
    return Config(data=data, files=tuple(read), registry_layers=tuple(registry_layers))


def stray_option_tables(cfg: Config, installed: Mapping[str, set[str]]) -> list[str]:
    """One line per ``[<kind>.options.<name>]`` that configures no installed driver (a typo, or a
    driver this host lacks): such options would silently reach nobody."""
    lines = []
    for kind in KINDS:
        for name in cfg.data.get(kind, {}).get("options", {}):
            if name not in installed.get(kind, set()):
                known = ", ".join(sorted(installed.get(kind, set()))) or "none"
                lines.append(f"[{kind}.options.{name}] configures no installed {kind} driver (installed: {known})")
    return lines


def parse_storage_opts(opts: Sequence[str], driver: str) -> dict[str, dict[str, str]]:
    """Turn ``--storage-opt`` values into ``{driver: {key: value}}``.

    ``key=value`` reaches the selected driver; ``name.key=value`` (podman's form) reaches the
    driver ``name`` only.
    """
    out: dict[str, dict[str, str]] = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep or not key:
            raise ConfigError(f"invalid --storage-opt {opt!r}", hint="use KEY=VALUE or DRIVER.KEY=VALUE")
        target, dot, short = key.partition(".")
        if dot:
            out.setdefault(target, {})[short] = value
        else:
            out.setdefault(driver, {})[key] = value
    return out
