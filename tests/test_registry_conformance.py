"""The registry conformance suite (capsa.testing.registry) over the built-in ``oci`` driver,
against real docker-registry processes on 127.0.0.1: plain HTTP here; HTTPS, Basic and Bearer
auth below as their servers exist."""
from __future__ import annotations

from capsa.testing.drivers import DriverContract
from capsa.testing.registry import RegistryConformance


class TestOciPlainHttp(DriverContract, RegistryConformance):
    kind = "registry"
    name = "oci"
    chunked_options = {"chunk_size": 65536}
