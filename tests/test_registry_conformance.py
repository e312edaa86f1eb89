"""The registry conformance suite (capsa.testing.registry) over the built-in ``oci`` driver,
against real docker-registry processes on 127.0.0.1: plain HTTP, HTTPS with a CA made for the
test (verified through a cert dir, unverified, and with client certificates required), htpasswd
Basic auth (over HTTP and HTTPS) and Bearer token auth."""
from __future__ import annotations

from capsa.testing.drivers import DriverContract
from capsa.testing.registry import RegistryConformance


class OciConformance(RegistryConformance):
    name = "oci"
    chunked_options = {"chunk_size": 65536}


class TestOciPlainHttp(OciConformance, DriverContract):
    kind = "registry"


class TestOciTls(OciConformance):
    target = "tls"


class TestOciTlsWithoutVerification(OciConformance):
    target = "tls-noverify"


class TestOciClientCertificates(OciConformance):
    target = "mtls"


class TestOciBasicAuth(OciConformance):
    target = "basic"


class TestOciBasicAuthOverTls(OciConformance):
    target = "basic-tls"


class TestOciTokenAuth(OciConformance):
    target = "token"
