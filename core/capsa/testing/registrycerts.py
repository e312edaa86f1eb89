"""Certificates for test registries, made with :mod:`cryptography` (EC P-256: fast to make).

::

    tls = make_tls_files(tmp_path / "tls", require_client_cert=True)
    tls.ca_cert         # PEM of the test CA: requests' verify=, podman's ca.crt
    tls.cert_dir        # a --cert-dir style folder: ca.crt, client.cert, client.key
    tls.server_cert, tls.server_key, tls.client_cert, tls.client_key

The server certificate is for IP 127.0.0.1 (and DNS localhost), signed by the CA; the client
certificate (clientAuth) too. :class:`CertificateAuthority` issues more, e.g. the token
service's signing certificate.
"""
from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _crypto() -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def key_pem(key: Any) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    _, _, serialization, _, _, _ = _crypto()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: Any) -> bytes:
    _, _, serialization, _, _, _ = _crypto()
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_der(cert: Any) -> bytes:
    _, _, serialization, _, _, _ = _crypto()
    return cert.public_bytes(serialization.Encoding.DER)


class CertificateAuthority:
    """A self-signed CA (key and certificate) that issues leaf certificates."""

    def __init__(self, name: str = "capsa test CA") -> None:
        x509, hashes, _, ec, _, NameOID = _crypto()
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    def issue(self, common_name: str, *, ips: tuple[str, ...] = (), dns: tuple[str, ...] = (),
              server: bool = False, client: bool = False) -> tuple[Any, Any]:
        """A new key and a certificate for it signed by this CA: ``(cert, key)``. ``server``
        and ``client`` set the extended key usages (serverAuth, clientAuth); neither: a
        signing certificate (digitalSignature only)."""
        x509, hashes, _, ec, ExtendedKeyUsageOID, NameOID = _crypto()
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=server or client,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False))
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        names = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips] + [x509.DNSName(name) for name in dns]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


@dataclass
class TlsFiles:
    """The files of a TLS test set-up, all under ``directory`` (see the module docstring)."""

    directory: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    cert_dir: Path  # ca.crt, client.cert, client.key: what podman's --cert-dir / certs.d/HOST holds
    require_client_cert: bool = False

    def certs_d(self, root: Path, host: str) -> Path:
        """Lay out ``root/HOST/{ca.crt,client.cert,client.key}`` (a certs.d root for ``host``,
        e.g. ``127.0.0.1:5000``); returns ``root``."""
        target = root / host
        target.mkdir(parents=True, exist_ok=True)
        for name in ("ca.crt", "client.cert", "client.key"):
            (target / name).write_bytes((self.cert_dir / name).read_bytes())
        return root


def make_tls_files(directory: Path, *, require_client_cert: bool = False, ips: tuple[str, ...] = ("127.0.0.1",),
                   dns: tuple[str, ...] = ("localhost",)) -> TlsFiles:
    """A fresh CA, a server certificate for ``ips``/``dns`` and a client certificate, written
    under ``directory`` (created). Keys are written mode 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority()
    server_cert, server_key = ca.issue("capsa test registry", ips=ips, dns=dns, server=True)
    client_cert, client_key = ca.issue("capsa test client", client=True)
    cert_dir = directory / "certs"
    cert_dir.mkdir(exist_ok=True)
    files = {
        directory / "ca.pem": ca.cert_pem,
        directory / "server.crt": cert_pem(server_cert),
        directory / "server.key": key_pem(server_key),
        cert_dir / "ca.crt": ca.cert_pem,
        cert_dir / "client.cert": cert_pem(client_cert),
        cert_dir / "client.key": key_pem(client_key),
    }
    for path, data in files.items():
        path.write_bytes(data)
        if path.suffix == ".key":
            path.chmod(0o600)
    return TlsFiles(directory=directory, ca_cert=directory / "ca.pem", server_cert=directory / "server.crt",
                    server_key=directory / "server.key", client_cert=cert_dir / "client.cert",
                    client_key=cert_dir / "client.key", cert_dir=cert_dir, require_client_cert=require_client_cert)
