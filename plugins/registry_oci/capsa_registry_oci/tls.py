"""TLS for one registry's session: the CAs to trust and the client certificate, from a docker
``certs.d``-style directory.

Contracts: :func:`read_cert_dir` returns the ``*.crt`` CAs and the first ``NAME.cert`` /
``NAME.key`` pair (sorted by name); a ``.cert`` without its ``.key`` (or the reverse) is a
RegistryError, as in podman; a missing directory holds nothing. :func:`apply` sets up a
``requests.Session``: with verification, the system's CAs plus the directory's, held in an
``ssl.SSLContext`` (no combined bundle file is written anywhere); without, no verification at all.
"""
from __future__ import annotations

import os
import ssl
from typing import Any

import requests
import requests.certs
import urllib3
from requests.adapters import HTTPAdapter

from capsa.errors import RegistryError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.drivers.registry import Endpoint


def read_cert_dir(cert_dir: str | None) -> tuple[list[str], tuple[str, str] | None]:
    """``(ca_files, (cert_file, key_file) or None)`` found in ``cert_dir``."""
    if not cert_dir or not os.path.isdir(cert_dir):
        return [], None
    names = sorted(os.listdir(cert_dir))
    cas = [os.path.join(cert_dir, n) for n in names if n.endswith(".crt")]
    pairs = []
    for name in names:
        stem, ext = os.path.splitext(name)
        if ext == ".cert":
            if stem + ".key" not in names:
                raise RegistryError(f"client certificate {os.path.join(cert_dir, name)} has no key {stem}.key",
                                    "put NAME.cert and NAME.key side by side in the certificate directory")
            pairs.append((os.path.join(cert_dir, name), os.path.join(cert_dir, stem + ".key")))
        elif ext == ".key" and stem + ".cert" not in names:
            raise RegistryError(f"client key {os.path.join(cert_dir, name)} has no certificate {stem}.cert",
                                "put NAME.cert and NAME.key side by side in the certificate directory")
    return cas, (pairs[0] if pairs else None)


def verifying_context(cas: list[str], client: tuple[str, str] | None) -> ssl.SSLContext:
    """The system's CAs (and requests' bundle), plus ``cas``; with the client certificate."""
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=requests.certs.where())
    except (OSError, ssl.SSLError):
        pass  # the system's store is loaded already
    for ca in cas:
        try:
            context.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise RegistryError(f"cannot load CA certificate {ca}: {_reason(exc)}",
                                "it must be a PEM certificate") from None
    if client:
        _load_client(context, client)
    return context


def unverified_context(client: tuple[str, str] | None) -> ssl.SSLContext:
    """A context that verifies nothing (no CA store loaded), with the client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client:
        _load_client(context, client)  # a bad pair fails now, as with verification
    return context


def _load_client(context: ssl.SSLContext, client: tuple[str, str]) -> None:
    try:
        context.load_cert_chain(client[0], client[1])
    except (OSError, ssl.SSLError) as exc:
        raise RegistryError(f"cannot load client certificate {client[0]} with key {client[1]}: {_reason(exc)}",
                            "they must be a PEM certificate and its unencrypted private key") from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc) or type(exc).__name__


class Session(requests.Session):
    """A session whose own ``verify`` setting wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``
    (requests lets those override a session's ``verify=False`` and its CA choice); proxies from
    the environment still apply."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None:
            settings["verify"] = self.verify
        return settings


def apply(session: requests.Session, endpoint: Endpoint) -> None:
    """Set up ``session`` for ``endpoint``'s TLS settings (reads the certificate directory now)."""
    cas, client = read_cert_dir(endpoint.cert_dir)
    if not endpoint.tls_verify:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the user asked for it
        session.verify = False
        # A context of our own: urllib3 loads the system's CA store (~20 ms) into any context
        # it makes itself, even one that verifies nothing.
        session.mount("https://", _ContextAdapter(unverified_context(client)))
        return
    if cas or client:
        session.mount("https://", _ContextAdapter(verifying_context(cas, client)))
        session.verify = True  # the context holds the CAs: no bundle path on top


class _ContextAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections use one prepared ``ssl.SSLContext``."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(proxy, **kwargs)
