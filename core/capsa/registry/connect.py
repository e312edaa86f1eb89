"""The registry driver, configured for one registry: TLS and credentials, from the flags of
the command, the ``[registry]`` configuration and the stored auth.

Contract of :func:`client`: returns the session's registry driver after calling its
``configure(registry, Endpoint)`` with what applies to ``registry``; it makes no request.
"""
from __future__ import annotations

from capsa.errors import UsageError
from capsa.fastpath.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.drivers.registry import Credentials, RegistryDriver
    from capsa.engine.session import Session


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


def client(sess: Session, registry: str, remote: RemoteOptions) -> RegistryDriver:
    """The registry driver, configured for ``registry`` (``host[:port]``)."""
    from capsa.drivers.registry import Endpoint

    driver: RegistryDriver = sess.driver("registry")  # type: ignore[assignment]
    credentials = parse_creds(remote.creds) if remote.creds else None
    tls_verify = True if remote.tls_verify is None else remote.tls_verify
    driver.configure(registry, Endpoint(tls_verify=tls_verify, cert_dir=remote.cert_dir, credentials=credentials))
    return driver
