"""Real registries for tests (imported by conftest.py): each fixture starts its own
``docker-registry`` on 127.0.0.1 (see capsa.testing.registryserver and docs/testing.md) and
stops it, removing its storage, when the test ends, passed or failed.

- ``registry``: plain HTTP, anonymous pull and push.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from capsa.testing.registryserver import REGISTRY_BINARY, RegistryServer, registry_available

__all__ = ["registry"]


def _need_registry() -> None:
    if not registry_available():
        pytest.skip(f"{REGISTRY_BINARY} is not installed (scripts/setup.sh installs Debian's docker-registry)")


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    """A plain-HTTP registry, anonymous pull and push; its own storage (a test may corrupt it)."""
    _need_registry()
    with RegistryServer() as server:
        yield server
