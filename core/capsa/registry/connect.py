"""How to reach a registry: TLS and credentials, from the flags of the command, the
``[registry]`` configuration and the stored auth; and where a pull or a push of a reference goes
(mirrors, locations, blocked registries).

The registry layer knows nothing of the engine: its caller (``capsa.engine.registries``) hands
it an :class:`Access` (the configuration and the hook callers) and, to the transfers, the
configured registry driver.

Contract of :func:`endpoint` (what the driver's ``configure(registry, Endpoint)`` gets):

- TLS verification: ``--tls-verify`` > the registry's ``insecure`` setting (insecure: no
  verification, plain HTTP allowed) > verify.
- Certificates: ``--cert-dir`` > ``CERTS_DIR/HOST[:PORT]`` of the configured (or default)
  certs.d tree, when that directory exists.
- Credentials: ``--creds`` > the ``capsa_registry_credentials`` hook > the auth file > the
  other auth files podman and docker read (see :mod:`capsa.registry.authfile`) > anonymous.
"""
from __future__ import annotations

import logging

from capsa.errors import RegistryError, UsageError
from capsa.fastpath.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from capsa.config import Config
    from capsa.drivers.registry import Credentials, Endpoint
    from capsa.image.reference import Reference
    from capsa.registry.settings import Settings


def _no_credentials(registry: str) -> Credentials | None:
    return None


def _no_resolution(short: str, search: list[str]) -> str | None:
    return None


@record(frozen=True)
class Access:
    """What the registry layer gets from its caller (besides the driver, which its transfers
    take as an argument): the ``config`` (its ``[registry]`` table), and the hook callers:
    ``credentials_hook(registry)`` (``capsa_registry_credentials``: Credentials or None) and
    ``short_name_hook(short, search_registries)`` (``capsa_resolve_short_name``: a fully
    qualified name or None), both answering checked values."""

    config: Config
    credentials_hook: Callable[[str], Credentials | None] = _no_credentials
    short_name_hook: Callable[[str, list[str]], str | None] = _no_resolution


log = logging.getLogger("capsa.registry")


@record(frozen=True)
class RemoteOptions:
    """The flags every registry command shares (None: not given on the command line)."""

    tls_verify: bool | None = None  # --tls-verify
    cert_dir: str | None = None  # --cert-dir
    authfile: str | None = None  # --authfile
    creds: str | None = None  # --creds USERNAME[:PASSWORD]

    def __repr__(self) -> str:  # --creds holds a password
        return (f"RemoteOptions(tls_verify={self.tls_verify!r}, cert_dir={self.cert_dir!r}, "
                f"authfile={self.authfile!r}, creds={'<hidden>' if self.creds else None})")


def parse_creds(creds: str) -> Credentials:
    """``USERNAME[:PASSWORD]`` from ``--creds``; UsageError for an empty username."""
    from capsa.drivers.registry import Credentials

    username, _, password = creds.partition(":")
    if not username:
        raise UsageError("--creds needs a username: USERNAME[:PASSWORD]", hint="e.g. --creds alice:secret")
    return Credentials(username, password)


def settings(access: Access) -> Settings:
    """The ``[registry]`` settings of the configuration."""
    from capsa.registry.settings import Settings

    return Settings(access.config)


def auth_file(access: Access, remote: RemoteOptions) -> tuple[str, bool]:
    """The auth file ``login``/``logout`` write, and whether it was given explicitly (see
    :func:`capsa.registry.authfile.auth_file`)."""
    from capsa.registry import authfile

    return authfile.auth_file(remote.authfile, settings(access).auth_file)


def credentials_for(access: Access, registry: str, remote: RemoteOptions, repository: str = "") -> Credentials | None:
    """The credentials for ``registry`` (and ``repository``, for ``host/namespace`` keys of an
    auth file), in the order of the module's contract; None: anonymous."""
    from capsa.registry import authfile

    if remote.creds:
        return parse_creds(remote.creds)
    offered = access.credentials_hook(registry)
    if offered is not None:
        return offered
    primary, explicit = auth_file(access, remote)
    found = authfile.find_credentials(authfile.read_paths(primary, explicit), registry, repository)
    return found.credentials if found is not None else None


def endpoint(access: Access, registry: str, remote: RemoteOptions, *, repository: str = "",
             credentials: Credentials | None = None) -> Endpoint:
    """How to reach ``registry``: TLS settings and credentials (``credentials`` given: those)."""
    from capsa.drivers.registry import Endpoint

    conf = settings(access)
    if remote.tls_verify is not None:
        tls_verify = remote.tls_verify
    else:
        tls_verify = not conf.insecure(registry, repository)
    cert_dir = remote.cert_dir or conf.cert_dir(registry)
    if credentials is None:
        credentials = credentials_for(access, registry, remote, repository)
    log.debug("registry %s: tls_verify=%s cert_dir=%s user=%s", registry, tls_verify, cert_dir,
              credentials.username if credentials else None)
    return Endpoint(tls_verify=tls_verify, cert_dir=cert_dir, credentials=credentials)


# ----------------------------------------------------------------------------- where to go

@record(frozen=True)
class Source:
    """One place a pull of an image tries: ``reference`` as that registry names the image
    (``registry`` and ``repository`` rewritten for a mirror or a ``location``), and whether it
    is a mirror (a failure there moves on to the next source)."""

    reference: Reference
    mirror: bool = False


def _blocked(what: str, prefix: str) -> RegistryError:
    return RegistryError(f"{what}: registry {prefix} is blocked by the configuration "
                         f"([registry.registries.\"{prefix}\"] blocked = true)",
                         hint="use another registry, or remove 'blocked = true' from that table (see docs/registries.md)",
                         code="BLOCKED")


def _rewrite(ref: Reference, prefix: str, location: str) -> Reference:
    from capsa.fastpath.record import replace

    name = ref.name
    if not prefix:
        return ref
    rest = name[len(prefix):].lstrip("/")
    host, _, path = location.partition("/")
    repository = "/".join(part for part in (path, rest) if part)
    return replace(ref, registry=host, repository=repository)


def sources(access: Access, ref: Reference) -> list[Source]:
    """Where a pull of ``ref`` (fully qualified) looks, in order: the mirrors of its registry's
    settings, then the registry (at its ``location``). RegistryError ``BLOCKED`` when the
    configuration blocks it."""
    entry = settings(access).entry(ref.name)
    if entry.blocked:
        raise _blocked(f"cannot pull {ref}", entry.prefix)
    out = [Source(_rewrite(ref, entry.prefix, mirror), mirror=True) for mirror in entry.mirrors]
    out.append(Source(_rewrite(ref, entry.prefix, entry.location)))
    return out


def push_target(access: Access, ref: Reference) -> Reference:
    """Where a push of ``ref`` goes: its registry, at its ``location`` (never a mirror).
    RegistryError ``BLOCKED`` when the configuration blocks it."""
    entry = settings(access).entry(ref.name)
    if entry.blocked:
        raise _blocked(f"cannot push {ref}", entry.prefix)
    return _rewrite(ref, entry.prefix, entry.location)
