"""``login`` and ``logout``: credentials checked against a registry and kept in an auth file.

Contracts:

- :func:`login` configures the registry driver with the credentials, authenticates
  (``check_login``) and only then stores them under the login key; a refused login stores
  nothing (RegistryError: ``logging into "HOST": invalid username/password``).
- :func:`logout` removes one key (or every key) from the auth file; a key it does not hold is
  ``not logged into KEY`` (exit 125), as podman.
- :func:`get_login` is the username stored for a key.
- :func:`existing_login` (podman's ``login`` without a username or password): the stored
  credentials for the key, checked against the registry (``valid``), or None when none is stored.

The login key is what podman writes: ``host[:port]`` (a URL is reduced to it, docker.io's other
names become ``docker.io``) or ``host[:port]/namespace``. No image event is fired.
"""
from __future__ import annotations

import logging

from capsa.engine.registries import RemoteOptions, auth_file
from capsa.errors import RegistryError, UsageError
from capsa.fastpath.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.drivers.registry import Credentials
    from capsa.engine.session import Session

__all__ = ["ExistingLogin", "LoginKey", "LoginResult", "LogoutResult", "RemoteOptions", "auth_file", "check",
           "existing_login", "get_login", "login", "login_key", "logout", "stored_credentials", "target"]

log = logging.getLogger("capsa.registry")


@record(frozen=True)
class LoginKey:
    """What ``login``/``logout`` were given, normalised: the auth file ``key`` and the
    ``registry`` (``host[:port]``) to authenticate against."""

    key: str
    registry: str


def login_key(text: str) -> LoginKey:
    """``host[:port]``, ``host[:port]/namespace`` or a URL (``https://host/v2/``) -> the key
    podman writes; UsageError for anything else (a tag, a digest, a bad host)."""
    from capsa.registry.authfile import normalize_key
    from capsa.registry.settings import split_location

    raw = text.strip()
    key = normalize_key(raw)  # a URL's host, docker.io's spellings
    registry, _, namespace = key.partition("/")
    if "@" in key or (namespace and ":" in namespace) or split_location(key) is None:
        raise UsageError(f"invalid registry {text!r}", hint="give HOST[:PORT], HOST[:PORT]/NAMESPACE or https://HOST[:PORT]")
    return LoginKey(key=key, registry=registry)


def target(sess: Session, registry: str | None) -> LoginKey:
    """The login key of ``registry``; None: the first unqualified-search registry, as podman."""
    from capsa.registry.settings import Settings

    if registry:
        return login_key(registry)
    search = Settings(sess.config).search
    if not search:
        raise UsageError("please provide a registry to log into", hint="e.g. capsa login registry.example:5000")
    return login_key(search[0])


@record(frozen=True)
class LoginResult:
    key: str
    auth_file: str


def check(sess: Session, key: LoginKey, credentials: Credentials | None, remote: RemoteOptions) -> None:
    """Authenticate against the target's registry with ``credentials`` (None: anonymous);
    RegistryError in podman's words when it fails."""
    from capsa.engine.registries import client

    driver = client(sess, key.registry, remote, repository=key.key.partition("/")[2], credentials=credentials)
    try:
        driver.check_login(key.registry)
    except RegistryError as exc:
        if exc.code in ("UNAUTHORIZED", "DENIED"):
            raise RegistryError(f'logging into "{key.key}": invalid username/password',
                                hint="check the username and password", code=exc.code) from None
        raise RegistryError(f'authenticating creds for "{key.key}": {exc.message}',
                            hint=exc.hint or "check the registry's address and that it is running", code=exc.code) from None


def login(sess: Session, registry: str | LoginKey | None, username: str, password: str,
          remote: RemoteOptions) -> LoginResult:
    """Check ``username``/``password`` against ``registry``, then store them (see module)."""
    from capsa.drivers.registry import Credentials
    from capsa.registry import authfile

    if not username:
        raise UsageError("a username is needed to log in", hint="give one with --username")
    if not password:
        raise UsageError("a password is needed to log in", hint="give one with --password-stdin or at the prompt")
    key = _key(sess, registry)
    credentials = Credentials(username, password)
    check(sess, key, credentials, remote)
    path, _ = auth_file(sess, remote)
    authfile.store(path, key.key, credentials)
    log.debug("stored credentials of user %s for %s in %s", username, key.key, path)
    return LoginResult(key.key, path)


def _key(sess: Session, registry: str | LoginKey | None) -> LoginKey:
    return registry if isinstance(registry, LoginKey) else target(sess, registry)


def stored_credentials(sess: Session, registry: str | LoginKey | None, remote: RemoteOptions) -> Credentials | None:
    """The credentials the auth files hold for the key (read as a pull would), or None."""
    from capsa.registry import authfile

    key = _key(sess, registry)
    path, explicit = auth_file(sess, remote)
    repository = key.key.partition("/")[2]
    found = authfile.find_credentials(authfile.read_paths(path, explicit), key.registry, repository)
    return found.credentials if found is not None else None


@record(frozen=True)
class ExistingLogin:
    """The credentials stored for a key: whose (``username``) and whether the registry still
    takes them (``valid``)."""

    key: str
    registry: str
    username: str
    valid: bool


def existing_login(sess: Session, registry: str | LoginKey | None, remote: RemoteOptions) -> ExistingLogin | None:
    """The stored credentials for the key, checked against its registry; None when none are
    stored. A refusal (or a registry that cannot be reached) is ``valid`` False, as podman then
    asks for a username and password."""
    key = _key(sess, registry)
    stored = stored_credentials(sess, key, remote)
    if stored is None:
        return None
    try:
        check(sess, key, stored, remote)
    except RegistryError as exc:
        log.debug("stored credentials for %s: %s", key.key, exc.message)
        return ExistingLogin(key.key, key.registry, stored.username, valid=False)
    return ExistingLogin(key.key, key.registry, stored.username, valid=True)


def get_login(sess: Session, registry: str | LoginKey | None, remote: RemoteOptions) -> str:
    """The username stored for the key; RegistryError ``not logged into KEY`` when none."""
    key = _key(sess, registry)
    credentials = stored_credentials(sess, key, remote)
    if credentials is None:
        raise RegistryError(f"not logged into {key.key}", hint=f"log in with 'capsa login {key.key}'")
    return credentials.username


@record(frozen=True)
class LogoutResult:
    """What :func:`logout` did: ``removed`` (the key, or "all"), or, when only docker's file
    holds the key, ``docker_only`` True and nothing removed."""

    removed: str
    auth_file: str
    docker_only: bool = False


def logout(sess: Session, registry: str | LoginKey | None, remote: RemoteOptions, *,
           all_registries: bool = False) -> LogoutResult:
    """Forget the credentials stored for ``registry`` (None: the default registry), or every
    registry's (``all_registries``), in the auth file."""
    from capsa.registry import authfile

    path, explicit = auth_file(sess, remote)
    if all_registries:
        authfile.remove_all(path)
        return LogoutResult("all", path)
    target = _key(sess, registry)
    if authfile.remove(path, target.key):
        return LogoutResult(target.key, path)
    if not explicit:
        docker = authfile.docker_config_file()
        repository = target.key.partition("/")[2]
        if authfile.find_in_file(docker, target.registry, repository, warn=lambda _: None) is not None:
            return LogoutResult(target.key, docker, docker_only=True)
    raise RegistryError(f"not logged into {target.key}", hint=f"'capsa login --get-login {target.key}' shows who is logged in")
