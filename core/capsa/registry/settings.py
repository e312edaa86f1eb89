"""Per-registry settings from the ``[registry]`` configuration: which registries are insecure or
blocked, their mirrors and locations, the certs.d tree, the short-name aliases and mode.

Contracts: :func:`validate_registry_table` refuses, with a ConfigError naming the file and the
key, any content of ``[registry]`` that is unknown or of the wrong type (``capsa.config`` has
checked the table's own keys and their types). :class:`Settings` checks every file's
``[registry]`` table when it is made, so every command that uses a registry (pull, push, login,
logout, run of a missing image) fails in one line (exit 125) on a bad one, and then never
raises. The check is lazy so that ``run`` and ``create`` of a present image never import this
package.

A ``[registry.registries."PREFIX"]`` table applies to the image names that PREFIX starts with,
PREFIX being ``HOST[:PORT]`` or ``HOST[:PORT]/NAMESPACE`` (podman's ``prefix``); the longest
matching prefix wins.
"""
from __future__ import annotations

import os

from capsa.errors import ConfigError
from capsa.fastpath.names import is_domain, is_path_component

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from capsa.config import Config

SHORT_NAME_MODES = ("enforcing", "permissive", "disabled")
DEFAULT_SHORT_NAME_MODE = "enforcing"  # as podman
# Where a certs.d tree is looked for when [registry] certs_dir is not set: capsa's own, then
# podman's and docker's (the first holding a directory for the registry wins).
DEFAULT_CERTS_DIRS = ("/etc/capsa/certs.d", "/etc/containers/certs.d", "/etc/docker/certs.d")
REGISTRY_KEYS: dict[str, type] = {"insecure": bool, "blocked": bool, "mirrors": list, "location": str}
DOCS = "see docs/registries.md"


# ----------------------------------------------------------------------------- validation

def split_location(text: str) -> tuple[str, str] | None:
    """``HOST[:PORT][/PATH]`` -> (host, path), or None when it is not one (an invalid host, a
    scheme, a tag, upper case in the path)."""
    host, _, path = text.partition("/")
    if not host or not is_domain(host):
        return None
    if path and not all(is_path_component(part) for part in path.split("/")):
        return None
    return host, path


def _is_short_name(text: str) -> bool:
    """A repository name without registry, tag or digest: ``busybox``, ``user/app``."""
    first, slash, _ = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return False
    return bool(text) and all(is_path_component(part) for part in text.split("/"))


def _is_qualified_name(text: str) -> bool:
    """``HOST[:PORT]/PATH`` without tag or digest, the host explicit."""
    first, slash, rest = text.partition("/")
    if not slash or not rest or not ("." in first or ":" in first or first == "localhost"):
        return False
    return split_location(text) is not None


def _fail(source: str, key: str, problem: str, hint: str = DOCS) -> ConfigError:
    return ConfigError(f"{source}: {key} {problem}", hint=hint)


def _type_name(value: object) -> str:
    return type(value).__name__


def validate_registry_table(body: Mapping[str, Any], source: str) -> None:
    """Check the contents of one file's ``[registry]`` table (its keys and their top-level
    types are checked by ``capsa.config.validate``); ConfigError naming ``source`` and the key."""
    search = body.get("unqualified_search")
    if isinstance(search, list):
        for item in search:
            if not isinstance(item, str) or not is_domain(item):
                raise _fail(source, "[registry] unqualified_search", f"holds {item!r}, which is not a registry HOST[:PORT]",
                            'e.g. unqualified_search = ["docker.io", "quay.io"]')
    mode = body.get("short_name_mode")
    if mode is not None and mode not in SHORT_NAME_MODES:
        raise _fail(source, "[registry] short_name_mode", f"must be one of {', '.join(SHORT_NAME_MODES)}, not {mode!r}")
    for key in ("certs_dir", "auth_file"):
        value = body.get(key)
        if value is not None and not value:
            raise _fail(source, f"[registry] {key}", "must not be empty", "give a path, or remove the key")
    for name, target in (body.get("aliases") or {}).items():
        where = f'[registry.aliases] "{name}"'
        if not _is_short_name(name):
            raise _fail(source, where, "is not a short name (a repository name without registry, tag or digest)",
                        'e.g. busybox = "docker.io/library/busybox"')
        if not isinstance(target, str):
            raise _fail(source, where, f"must be a string, not {_type_name(target)}")
        if not _is_qualified_name(target):
            raise _fail(source, where, f"must name a registry and a repository without tag or digest, not {target!r}",
                        'e.g. busybox = "docker.io/library/busybox"')
    for prefix, table in (body.get("registries") or {}).items():
        _validate_registry_entry(prefix, table, source)


def _validate_registry_entry(prefix: str, table: object, source: str) -> None:
    where = f'[registry.registries."{prefix}"]'
    if split_location(prefix) is None:
        raise _fail(source, where, "does not name a registry: use HOST[:PORT] or HOST[:PORT]/NAMESPACE",
                    'e.g. [registry.registries."registry.example:5000"]')
    if not isinstance(table, dict):
        raise _fail(source, where, f"must be a table, not {_type_name(table)}")
    for key, value in table.items():
        expected = REGISTRY_KEYS.get(key)
        if expected is None:
            raise _fail(source, f"{where} {key}", "is not a known key", f"known keys: {', '.join(sorted(REGISTRY_KEYS))}")
        if not isinstance(value, expected):
            raise _fail(source, f"{where} {key}", f"must be a {expected.__name__}, not {_type_name(value)}")
    for mirror in table.get("mirrors", []):
        if not isinstance(mirror, str) or split_location(mirror) is None:
            raise _fail(source, f"{where} mirrors", f"holds {mirror!r}, which is not HOST[:PORT][/PATH]",
                        'e.g. mirrors = ["mirror.example:5000"]')
    location = table.get("location")
    if location is not None and split_location(location) is None:
        raise _fail(source, f"{where} location", f"{location!r} is not HOST[:PORT][/PATH]")


def check(cfg: Config) -> None:
    """Validate each file's ``[registry]`` table (the merged one, naming the files read, for a
    Config made without its layers); ConfigError on the first mistake."""
    layers = cfg.registry_layers
    if not layers and cfg.data.get("registry"):
        layers = ((", ".join(cfg.files) or "configuration", cfg.data["registry"]),)
    for source, table in layers:
        validate_registry_table(table, source)


# ----------------------------------------------------------------------------- reading

class RegistryEntry:
    """The settings that apply to one image name: the ``[registry.registries]`` table of the
    longest matching prefix (``prefix`` "" when none matches: every value at its default)."""

    __slots__ = ("prefix", "insecure", "blocked", "mirrors", "location")

    def __init__(self, prefix: str = "", table: Mapping[str, Any] | None = None) -> None:
        table = table or {}
        self.prefix = prefix
        self.insecure: bool = bool(table.get("insecure", False))
        self.blocked: bool = bool(table.get("blocked", False))
        self.mirrors: list[str] = list(table.get("mirrors", []))
        self.location: str = str(table.get("location") or prefix)

    def __repr__(self) -> str:
        return (f"RegistryEntry(prefix={self.prefix!r}, insecure={self.insecure}, blocked={self.blocked}, "
                f"mirrors={self.mirrors!r}, location={self.location!r})")


def prefix_matches(prefix: str, name: str) -> bool:
    """Whether ``name`` (``HOST[:PORT][/PATH]``) is ``prefix`` or lies under it, component-wise."""
    return name == prefix or name.startswith(prefix + "/")


class Settings:
    """The ``[registry]`` configuration, read (the configuration was validated when loaded)."""

    def __init__(self, cfg: Config) -> None:
        check(cfg)
        self._table: dict[str, Any] = dict(cfg.data.get("registry", {}))
        self._registries: dict[str, dict[str, Any]] = dict(self._table.get("registries") or {})

    @property
    def search(self) -> list[str]:
        """The unqualified-search registries, in order (default ``docker.io``)."""
        return list(self._table.get("unqualified_search", ["docker.io"]))

    @property
    def aliases(self) -> dict[str, str]:
        return dict(self._table.get("aliases") or {})

    @property
    def short_name_mode(self) -> str:
        return str(self._table.get("short_name_mode") or DEFAULT_SHORT_NAME_MODE)

    @property
    def auth_file(self) -> str | None:
        return self._table.get("auth_file") or None

    def entry(self, name: str) -> RegistryEntry:
        """The settings for the image name (or registry) ``name``: ``HOST[:PORT][/PATH]``."""
        best = ""
        for prefix in self._registries:
            if prefix_matches(prefix, name) and len(prefix) > len(best):
                best = prefix
        return RegistryEntry(best, self._registries.get(best)) if best else RegistryEntry()

    def insecure(self, registry: str, repository: str = "") -> bool:
        return self.entry(f"{registry}/{repository}" if repository else registry).insecure

    def certs_dirs(self) -> list[str]:
        """The certs.d trees to look in, in order: ``certs_dir`` alone when set, else
        :data:`DEFAULT_CERTS_DIRS`."""
        configured = self._table.get("certs_dir")
        return [str(configured)] if configured else list(DEFAULT_CERTS_DIRS)

    def cert_dir(self, registry: str) -> str | None:
        """``TREE/HOST[:PORT]`` of the first certs.d tree that has a directory for ``registry``."""
        for tree in self.certs_dirs():
            path = os.path.join(tree, registry)
            if os.path.isdir(path):
                return path
        return None
