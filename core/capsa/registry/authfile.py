"""Auth files compatible with podman's ``auth.json`` and docker's ``config.json``.

Both hold ``{"auths": {KEY: {"auth": base64("user:password")}}}`` (docker may add
``identitytoken``, ``credsStore``, ``credHelpers`` and keys of its own). KEY is a registry
``host[:port]``, a ``host[:port]/namespace`` (podman), or a URL such as
``https://index.docker.io/v1/`` (docker).

Contracts:

- :func:`auth_file` picks the file ``login``/``logout`` write and credentials are read from
  first: ``--authfile`` > ``$REGISTRY_AUTH_FILE`` > ``[registry] auth_file`` > podman's default
  ``$XDG_RUNTIME_DIR/containers/auth.json`` (``/run/containers/UID/auth.json`` without
  ``XDG_RUNTIME_DIR``).
- :func:`read_paths` adds, unless the file was given explicitly (flag or environment, as
  podman), ``$XDG_CONFIG_HOME/containers/auth.json`` and docker's ``$DOCKER_CONFIG/config.json``
  (``~/.docker/config.json``).
- :func:`find_credentials` looks a registry (and repository) up as podman does: the longest
  ``registry/namespace`` key first, then the registry itself, then any key that normalises to
  it (a URL, docker.io's spellings). Credential helpers are not run: a file that delegates the
  registry to one gives a warning, never a crash.
- Writes (:func:`store`, :func:`remove`, :func:`remove_all`) hold a lock on the directory while
  they read, change and write the file, keep every other key of the file,
  replace it atomically, and leave it mode 0600 in a directory created 0700.
- Nothing here puts a secret in a message, a log line or an exception.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os

from capsa.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from capsa.drivers.registry import Credentials

log = logging.getLogger("capsa.registry")

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")


# ----------------------------------------------------------------------------- which file

def default_auth_file(environ: Mapping[str, str] | None = None) -> str:
    """podman's default: ``$XDG_RUNTIME_DIR/containers/auth.json``, else
    ``/run/containers/UID/auth.json``."""
    env = os.environ if environ is None else environ
    runtime_dir = env.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        return os.path.join(runtime_dir, "containers", "auth.json")
    return f"/run/containers/{os.getuid()}/auth.json"


def auth_file(flag: str | None, configured: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The auth file and whether it was chosen explicitly (``--authfile`` or
    ``$REGISTRY_AUTH_FILE``): then it is the only file read, as podman does."""
    env = os.environ if environ is None else environ
    if flag:
        return flag, True
    if env.get("REGISTRY_AUTH_FILE"):
        return env["REGISTRY_AUTH_FILE"], True
    if configured:
        return os.path.expanduser(configured), False
    return default_auth_file(env), False


def docker_config_file(environ: Mapping[str, str] | None = None) -> str:
    """docker's ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_CONFIG"):
        return os.path.join(env["DOCKER_CONFIG"], "config.json")
    return os.path.join(env.get("HOME") or os.path.expanduser("~"), ".docker", "config.json")


def read_paths(primary: str, explicit: bool, environ: Mapping[str, str] | None = None) -> list[str]:
    """The files credentials are read from, in order."""
    if explicit:
        return [primary]
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    paths = [primary, os.path.join(xdg, "containers", "auth.json"), docker_config_file(env)]
    return list(dict.fromkeys(paths))


# ----------------------------------------------------------------------------- keys

def normalize_key(key: str) -> str:
    """The registry a key of an auth file stands for: a URL's ``host[:port]`` (docker's
    ``https://index.docker.io/v1/``), docker.io's other names as ``docker.io``; a
    ``host/namespace`` key is kept whole."""
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme):].partition("/")[0]
            break
    host, slash, rest = key.partition("/")
    if host in DOCKER_HUB_ALIASES:
        host = DOCKER_HUB
    return host + slash + rest


def lookup_keys(registry: str, repository: str = "") -> list[str]:
    """The keys tried for ``registry/repository``, most specific first (podman's order):
    ``host/a/b``, ``host/a``, ``host``."""
    keys = [registry]
    parts = repository.split("/") if repository else []
    for n in range(1, len(parts) + 1):
        keys.append("/".join([registry, *parts[:n]]))
    return keys[::-1]


# ----------------------------------------------------------------------------- reading

def load(path: str) -> dict[str, Any]:
    """The file's JSON object; {} when it does not exist. ConfigError when it cannot be read
    or is not a JSON object (the message never quotes the content)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the auth file {path}: {exc.strerror}",
                          hint="check its permissions, or choose another with --authfile") from None
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ConfigError(f"the auth file {path} is not valid JSON{where}",
                          hint="fix or remove it, or choose another with --authfile") from None
    if not isinstance(data, dict) or not isinstance(data.get("auths", {}), dict):
        raise ConfigError(f"the auth file {path} is not an auth file (no \"auths\" object)",
                          hint="fix or remove it, or choose another with --authfile")
    return data


def decode_entry(entry: object) -> Credentials | None:
    """The credentials of one ``auths`` entry: ``auth`` (base64 ``user:password``), else an
    ``identitytoken`` (as docker: the username ``<token>``, the token as the secret); None when
    the entry holds neither (docker writes ``{}`` for registries kept in a credential store)."""
    from capsa.drivers.registry import Credentials

    if not isinstance(entry, dict):
        return None
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials("<token>", token)
    encoded = entry.get("auth")
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        return None
    return Credentials(username, password)


class Found:
    """Credentials found in an auth file, and where (``key`` as the file spells it)."""

    __slots__ = ("credentials", "path", "key")

    def __init__(self, credentials: Credentials, path: str, key: str) -> None:
        self.credentials, self.path, self.key = credentials, path, key

    def __repr__(self) -> str:
        return f"Found({self.credentials!r}, path={self.path!r}, key={self.key!r})"


def _warn(message: str) -> None:
    import sys

    print(f"Warning: {message}", file=sys.stderr)


def find_in_file(path: str, registry: str, repository: str = "", warn: Callable[[str], None] = _warn) -> Found | None:
    """The credentials ``path`` holds for ``registry`` (and ``repository``), or None."""
    data = load(path)
    auths = data.get("auths") or {}
    wanted = lookup_keys(normalize_key(registry), repository)
    by_normal: dict[str, str] = {}
    for key in auths:
        if isinstance(key, str):
            by_normal.setdefault(normalize_key(key), key)
    for want in wanted:
        key = want if want in auths else by_normal.get(want)
        if key is None:
            continue
        credentials = decode_entry(auths[key])
        if credentials is not None:
            return Found(credentials, path, key)
    _warn_helpers(data, path, normalize_key(registry), warn)
    return None


def _warn_helpers(data: Mapping[str, Any], path: str, registry: str, warn: Callable[[str], None]) -> None:
    helpers = data.get("credHelpers")
    if isinstance(helpers, dict):
        for key, helper in helpers.items():
            if isinstance(key, str) and normalize_key(key) == registry:
                warn(f"{path}: credential helpers are not supported: credHelpers names "
                     f"docker-credential-{helper} for {registry}, which capsa does not run; "
                     f"use 'capsa login {registry}' or --creds")
                return
    store = data.get("credsStore")
    if isinstance(store, str) and store:
        warn(f"{path}: credential stores are not supported: credsStore names docker-credential-{store}, "
             f"which capsa does not run; use 'capsa login {registry}' or --creds")


def find_credentials(paths: list[str], registry: str, repository: str = "",
                     warn: Callable[[str], None] = _warn) -> Found | None:
    """The first file of ``paths`` holding credentials for ``registry``, or None."""
    for path in paths:
        found = find_in_file(path, registry, repository, warn)
        if found is not None:
            log.debug("credentials for %s: user %s, from %s (key %s)", registry, found.credentials.username, path, found.key)
            return found
    return None


# ----------------------------------------------------------------------------- writing

def encode(credentials: Credentials) -> str:
    return base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode("ascii")


def _write(path: str, data: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically with ``data`` (a 0600 file: fsutil.atomic_write); the
    directory is created 0700 when missing."""
    from capsa.fsutil import atomic_write

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, mode=0o700, exist_ok=True)
    atomic_write(path, (json.dumps(data, indent="\t") + "\n").encode(), mode=0o600)


def _update(path: str, change: Callable[[dict[str, Any]], bool], create: bool) -> bool:
    """Read the file, let ``change`` edit its data (False: nothing to write), write it back:
    all under an exclusive lock on its directory, so two logins at once lose neither update.
    A missing directory is created 0700 when ``create``; else there is nothing to change. A
    symbolic link is written through: the file it points to is replaced, the link stays."""
    import fcntl

    given, path = path, os.path.realpath(path)
    parent = os.path.dirname(path)
    try:
        if create:
            os.makedirs(parent, mode=0o700, exist_ok=True)
        elif not os.path.isdir(parent):
            return False
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = load(path)
            if not change(data):
                return False
            _write(path, data)
            return True
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(f"cannot write the auth file {given}: {exc.strerror}",
                          hint="check the directory's permissions, or choose another file with --authfile") from None


def store(path: str, key: str, credentials: Credentials) -> None:
    """Record ``credentials`` under ``key``, replacing what that key held (other keys stay)."""
    def change(data: dict[str, Any]) -> bool:
        data.setdefault("auths", {})[key] = {"auth": encode(credentials)}
        return True

    _update(path, change, create=True)


def remove(path: str, key: str) -> bool:
    """Forget ``key`` (and the keys that normalise to it, when ``key`` is a registry); False
    when the file held none of them."""
    def change(data: dict[str, Any]) -> bool:
        auths = data.get("auths") or {}
        doomed = [k for k in auths if k == key or ("/" not in key and isinstance(k, str) and normalize_key(k) == key)]
        for k in doomed:
            del auths[k]
        return bool(doomed)

    return _update(path, change, create=False)


def remove_all(path: str) -> None:
    """Forget every registry's credentials (the file's other keys stay)."""
    def change(data: dict[str, Any]) -> bool:
        if not data:
            return False
        data["auths"] = {}
        return True

    _update(path, change, create=False)
