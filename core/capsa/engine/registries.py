"""The engine's side of :mod:`capsa.registry`: what a session gives the registry layer (an
:class:`~capsa.registry.connect.Access`: the configuration and the hook callers), and the
session's registry driver configured for a registry.

Contract of :func:`client`: the session's registry driver, configured (``configure(registry,
Endpoint)``) with what applies to ``registry`` for these remote options (see
:func:`capsa.registry.connect.endpoint`); it makes no request. Within one session the endpoint
of a (registry, repository, remote options) is worked out once (the credentials hook, the hook
plugins and the auth files are read once, however many tags or candidates a pull tries), and
the driver is configured again only when a registry's endpoint changes.
"""
from __future__ import annotations

import logging

from capsa.errors import UsageError
from capsa.registry.connect import Access, RemoteOptions, endpoint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.drivers.registry import Credentials, Endpoint, RegistryDriver
    from capsa.engine.session import Session

__all__ = ["RemoteOptions", "access", "auth_file", "client"]

log = logging.getLogger("capsa.registry")


class _Remotes:
    """A session's registry state: its Access, the endpoints worked out, and the endpoint the
    driver was last configured with for each registry."""

    def __init__(self, access: Access) -> None:
        self.access = access
        self.endpoints: dict[tuple[str, str, RemoteOptions], Endpoint] = {}
        self.configured: dict[str, Endpoint] = {}


def _remotes(sess: Session) -> _Remotes:
    state: Any = sess.memo.get("registries")
    if state is None:
        state = sess.memo["registries"] = _Remotes(Access(
            config=sess.config, credentials_hook=credentials_hook, short_name_hook=short_name_hook))
    return state  # type: ignore[no-any-return]


def access(sess: Session) -> Access:
    """The session's :class:`~capsa.registry.connect.Access` (one per session)."""
    return _remotes(sess).access


def auth_file(sess: Session, remote: RemoteOptions) -> tuple[str, bool]:
    """The auth file ``login``/``logout`` write, and whether it was given explicitly."""
    from capsa.registry.connect import auth_file as which

    return which(access(sess), remote)


def client(sess: Session, registry: str, remote: RemoteOptions, *, repository: str = "",
           credentials: Credentials | None = None) -> RegistryDriver:
    """The registry driver, configured for ``registry`` (``host[:port]``; see the module's
    contract). ``repository`` lets an auth file's ``host/namespace`` key apply; ``credentials``
    replaces the lookup (login)."""
    state = _remotes(sess)
    if credentials is not None:  # (not kept: no secret in a cache key)
        wanted = endpoint(state.access, registry, remote, repository=repository, credentials=credentials)
    else:
        key = (registry, repository, remote)
        wanted = state.endpoints.get(key)  # type: ignore[assignment]
        if wanted is None:
            wanted = state.endpoints[key] = endpoint(state.access, registry, remote, repository=repository)
    driver: RegistryDriver = sess.driver("registry")  # type: ignore[assignment]
    if state.configured.get(registry) != wanted:
        driver.configure(registry, wanted)
        state.configured[registry] = wanted
    return driver


def credentials_hook(registry: str) -> Credentials | None:
    """What a ``capsa_registry_credentials`` hook plugin offers for ``registry``, or None. A
    plugin that raises or answers something other than (username, password) fails the command
    in one line naming the plugin (the answer itself is never shown)."""
    from capsa import plugins
    from capsa.drivers.registry import Credentials

    plugins.load_hook_plugins()
    if not plugins.wants("capsa_registry_credentials"):
        return None
    try:
        answer = plugins.registry_credentials(registry=registry)
    except Exception as exc:
        raise plugins.HookFailed(f"capsa_registry_credentials failed for {registry}: {type(exc).__name__}",
                                 hint="fix the hook plugin, or uninstall it (see 'capsa plugins')") from None
    if answer is None:
        return None
    if (not isinstance(answer, (tuple, list)) or len(answer) != 2
            or not all(isinstance(part, str) for part in answer) or not answer[0]):
        raise plugins.HookFailed(f"capsa_registry_credentials answered for {registry} with something other than "
                                 "(username, password)", hint="fix the hook plugin (docs/hooks.md)")
    log.debug("credentials for %s: user %s, from a capsa_registry_credentials hook", registry, answer[0])
    return Credentials(answer[0], answer[1])


def short_name_hook(short: str, search: list[str]) -> str | None:
    """The ``capsa_resolve_short_name`` plugins' answer for ``short``, checked (fully qualified,
    valid), or None. A plugin that raises or answers something else fails in one line."""
    from capsa import plugins
    from capsa.image.reference import is_qualified, parse_reference

    plugins.load_hook_plugins()
    if not plugins.wants("capsa_resolve_short_name"):
        return None
    try:
        answer = plugins.resolve_short_name(name=short, search_registries=list(search))
    except Exception as exc:
        raise plugins.HookFailed(f"capsa_resolve_short_name failed for {short!r}: {type(exc).__name__}: {exc}",
                                 hint="fix the hook plugin, or uninstall it (see 'capsa plugins')") from None
    if answer is None:
        return None
    if not isinstance(answer, str) or not is_qualified(answer):
        raise plugins.HookFailed(f"capsa_resolve_short_name answered {answer!r} for {short!r}: not a fully qualified name",
                                 hint="fix the hook plugin: it must answer REGISTRY/NAME[:TAG] or None (docs/hooks.md)")
    try:
        parse_reference(answer)
    except UsageError as exc:
        raise plugins.HookFailed(f"capsa_resolve_short_name answered for {short!r}: {exc.message}",
                                 hint="fix the hook plugin (docs/hooks.md)") from None
    return answer


