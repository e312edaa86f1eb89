"""pytest fixtures: real registries for tests (capsa's tests/conftest.py imports them; a
third-party package's conftest.py does ``from capsa.testing.registryfixtures import *``).
Each fixture starts its own ``docker-registry`` on 127.0.0.1 (capsa.testing.registryserver;
docs/testing.md) and stops it, removing its storage and certificates, when the test ends,
passed or failed. Every fixture
gives a :class:`RegistryServer` (``host``, ``url``, ``storage_dir``, ``blob_path()``,
``requests_seen()``, ``session()``, ``tls``, ``certs_d``, ``users``, ``credentials``, ``token``).

- ``registry``: plain HTTP, anonymous pull and push.
- ``tls_registry``: HTTPS with a CA made for the test (``tls.ca_cert``, ``tls.cert_dir``,
  ``certs_d``); client certificates exist but are not required.
- ``mtls_registry``: HTTPS that requires a client certificate signed by the test CA.
- ``basic_registry``: plain HTTP, htpasswd Basic auth: ``BASIC_USER``/``BASIC_PASSWORD``.
- ``basic_tls_registry``: the same over HTTPS.
- ``token_registry``: plain HTTP, Bearer tokens from a TokenService (``server.token``): users
  ``pusher``/``push-secret`` (pull, push, delete) and ``reader``/``read-secret`` (pull);
  anonymous may pull. ``server.token.requests`` records what was asked and granted.
- ``registry_factory``: ``registry_factory(**RegistryServer options)`` for any other mix (a
  TokenService passed as ``token=`` is started and stopped too).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from capsa.testing.registryserver import REGISTRY_BINARY, RegistryServer, registry_available

__all__ = ["BASIC_PASSWORD", "BASIC_USER", "basic_registry", "basic_tls_registry", "mtls_registry", "registry",
           "registry_factory", "started_registries", "tls_registry", "token_registry"]

BASIC_USER = "capsa-user"
BASIC_PASSWORD = "Secret-pw-4-tests"


def _need_registry() -> None:
    if not registry_available():
        pytest.skip(f"{REGISTRY_BINARY} is not installed (scripts/setup.sh installs Debian's docker-registry)")


@contextmanager
def started_registries() -> Iterator[Callable[..., RegistryServer]]:
    """A function starting registries with any RegistryServer options (a TokenService given as
    ``token=`` and not yet started is started too); all are stopped on leaving."""
    with ExitStack() as stack:
        def start(**options: Any) -> RegistryServer:
            token = options.get("token")
            if token is not None and token.workdir is None:
                stack.enter_context(token)
            return stack.enter_context(RegistryServer(**options))

        yield start


@pytest.fixture
def registry_factory() -> Iterator[Callable[..., RegistryServer]]:
    """Start registries with any RegistryServer options; all are stopped after the test."""
    _need_registry()
    with started_registries() as start:
        yield start


@pytest.fixture
def registry(registry_factory: Callable[..., RegistryServer]) -> RegistryServer:
    """A plain-HTTP registry, anonymous pull and push; its own storage (a test may corrupt it)."""
    return registry_factory()


@pytest.fixture
def tls_registry(registry_factory: Callable[..., RegistryServer]) -> RegistryServer:
    return registry_factory(tls=True)


@pytest.fixture
def mtls_registry(registry_factory: Callable[..., RegistryServer]) -> RegistryServer:
    return registry_factory(tls=True, client_certs=True)


@pytest.fixture
def basic_registry(registry_factory: Callable[..., RegistryServer]) -> RegistryServer:
    return registry_factory(htpasswd={BASIC_USER: BASIC_PASSWORD})


@pytest.fixture
def basic_tls_registry(registry_factory: Callable[..., RegistryServer]) -> RegistryServer:
    return registry_factory(tls=True, htpasswd={BASIC_USER: BASIC_PASSWORD})


@pytest.fixture
def token_registry(registry_factory: Callable[..., RegistryServer]) -> RegistryServer:
    from capsa.testing.tokenservice import TokenService

    return registry_factory(token=TokenService())
