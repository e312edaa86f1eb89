"""A real registry for tests: Debian's ``docker-registry`` (CNCF distribution 2.8) on 127.0.0.1.

::

    from capsa.testing.registryserver import RegistryServer

    with RegistryServer() as server:          # plain HTTP, anonymous push and pull
        requests.get(f"{server.url}/v2/")     # -> 200
        server.requests_seen("GET", "/blobs/")  # access-log lines, to count requests

Each server has a free port, its own temporary directory (storage, config, log) and a config
this module writes (no notifications, no reporting, no debug server). ``__exit__`` kills the
process, waits for it and removes the directory, also when the test failed. Options:

- ``tls``: True (a fresh CA and certificates in the server's directory) or a
  :class:`capsa.testing.registrycerts.TlsFiles`; with ``client_certs`` (or the TlsFiles'
  ``require_client_cert``) the registry demands a client certificate signed by that CA.
  ``server.tls`` is then the TlsFiles (``ca_cert``, ``cert_dir``...) and ``server.certs_d`` a
  certs.d root holding ``127.0.0.1:PORT/{ca.crt,client.cert,client.key}``;
- ``htpasswd``: a dict of user -> password (Basic auth; bcrypt hashes, needs the ``bcrypt``
  package);
- ``token``: a :class:`capsa.testing.tokenservice.TokenService` already started (Bearer auth).

Only one of ``htpasswd``/``token`` may be given (the registry has one auth provider).
``session()`` gives a :mod:`requests` session that trusts the CA and presents the client
certificate; credentials are the caller's business (see :mod:`capsa.testing.registryupload`).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

    from capsa.testing.registrycerts import TlsFiles
    from capsa.testing.tokenservice import TokenService

REGISTRY_BINARY = "/usr/bin/docker-registry"
START_TIMEOUT = 15.0
PROBE_AGENT = "capsa-testing-registry-probe"  # the start-up probe's requests, left out of access_log()


class RegistryStartError(RuntimeError):
    """The registry did not answer ``/v2/`` in time or exited; the message has its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def registry_available() -> bool:
    return os.access(REGISTRY_BINARY, os.X_OK)


class RegistryServer:
    """One ``docker-registry serve`` process; a context manager (see the module docstring)."""

    def __init__(self, *, tls: TlsFiles | bool = False, client_certs: bool = False,
                 htpasswd: dict[str, str] | None = None, token: TokenService | None = None, delete: bool = True,
                 binary: str = REGISTRY_BINARY) -> None:
        if htpasswd is not None and token is not None:
            raise ValueError("a registry has one auth provider: htpasswd or token, not both")
        self._make_tls = tls is True
        self.tls: TlsFiles | None = None if isinstance(tls, bool) else tls
        self.client_certs = client_certs or bool(self.tls and self.tls.require_client_cert)
        self.htpasswd = htpasswd
        self.token = token
        self.delete = delete
        self.binary = binary
        self.port = 0
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    # -- addresses and files ------------------------------------------------------------------
    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of an image reference."""
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls or self._make_tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def storage_dir(self) -> Path:
        assert self.workdir is not None, "the server is not started"
        return self.workdir / "storage"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "the server is not started"
        return self.workdir / "registry.log"

    @property
    def config_path(self) -> Path:
        assert self.workdir is not None, "the server is not started"
        return self.workdir / "config.yml"

    def blob_path(self, digest: str) -> Path:
        """Where the registry keeps the blob ``digest`` (``sha256:HEX``) on disk (it may not
        exist): overwrite it to make the registry serve corrupt content."""
        algorithm, _, hexdigest = digest.partition(":")
        return (self.storage_dir / "docker/registry/v2/blobs" / algorithm / hexdigest[:2] / hexdigest / "data")

    @property
    def certs_d(self) -> Path:
        """A certs.d root with ``HOST/{ca.crt,client.cert,client.key}`` for this server (TLS)."""
        assert self.workdir is not None and self.tls, "a started TLS server"
        return self.workdir / "certs.d"

    @property
    def users(self) -> dict[str, str]:
        """user -> password of the htpasswd users, or of the token service's users."""
        if self.htpasswd is not None:
            return dict(self.htpasswd)
        return dict(self.token.users) if self.token is not None else {}

    @property
    def credentials(self) -> tuple[str, str] | None:
        """(user, password) of the first user (the one allowed to push, for a token service
        with its default users), or None for an anonymous registry."""
        return next(iter(self.users.items()), None)

    def repository_dir(self, repository: str) -> Path:
        return self.storage_dir / "docker/registry/v2/repositories" / repository

    # -- the log --------------------------------------------------------------------------------
    def log_lines(self) -> list[str]:
        """Every line the registry wrote so far (its application log and its access log)."""
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def access_log(self, settle: float = 0.1) -> list[tuple[str, str, int]]:
        """(METHOD, target, status) of every request the registry served, in order, without
        this module's start-up probe. The registry logs a request just after answering it, so
        this first waits until the log has not grown for ``settle`` seconds (at most 3 s)."""
        self._settle(settle)
        out = []
        for line in self.log_lines():
            request = _access_log_request(line)
            if request is not None:
                out.append(request)
        return out

    def requests_seen(self, method: str | None = None, contains: str = "", settle: float = 0.1) -> list[str]:
        """The targets (``/v2/...?query``) of the requests served, in order, optionally only
        those with ``method`` and containing ``contains``: e.g.
        ``requests_seen("GET", "/blobs/sha256:...")`` or ``requests_seen("POST", "mount=")``."""
        return [target for verb, target, _ in self.access_log(settle)
                if (method is None or verb == method.upper()) and contains in target]

    def _settle(self, quiet: float) -> None:
        if quiet <= 0:
            return
        deadline = time.monotonic() + 3
        size = -1
        while time.monotonic() < deadline:
            try:
                now = self.log_path.stat().st_size
            except FileNotFoundError:
                return
            if now == size:
                return
            size = now
            time.sleep(quiet)

    def clear_log(self) -> None:
        """Forget the lines logged so far (counts after this start from zero)."""
        self.log_path.write_bytes(b"")

    # -- client side ----------------------------------------------------------------------------
    @property
    def verify(self) -> str | bool:
        """What :mod:`requests` needs in ``verify=`` to trust this server."""
        return str(self.tls.ca_cert) if self.tls else True

    @property
    def client_cert(self) -> tuple[str, str] | None:
        return (str(self.tls.client_cert), str(self.tls.client_key)) if self.tls else None

    def session(self) -> requests.Session:
        """A :mod:`requests` session trusting this server's CA, with the client certificate."""
        import requests

        sess = requests.Session()
        sess.verify = self.verify
        if self.client_cert:
            sess.cert = self.client_cert
        sess.trust_env = False  # never a proxy from the environment: the server is on 127.0.0.1
        return sess

    # -- life cycle -----------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The registry's configuration (YAML; JSON is YAML)."""
        assert self.workdir is not None
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False},
                    "fields": {"service": "registry"}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage_dir)},
                        "delete": {"enabled": self.delete},
                        "maintenance": {"uploadpurging": {"enabled": False}},
                        "redirect": {"disable": True}},
            "http": {"addr": self.host, "secret": os.urandom(16).hex(),
                     "headers": {"X-Content-Type-Options": ["nosniff"]}},
            "health": {"storagedriver": {"enabled": False}},
        }
        if self.tls:
            tls: dict[str, Any] = {"certificate": str(self.tls.server_cert), "key": str(self.tls.server_key)}
            if self.client_certs:
                tls["clientcas"] = [str(self.tls.ca_cert)]
            cfg["http"]["tls"] = tls
        if self.htpasswd is not None:
            path = self.workdir / "htpasswd"
            path.write_text(htpasswd_text(self.htpasswd))
            cfg["auth"] = {"htpasswd": {"realm": "capsa-test", "path": str(path)}}
        elif self.token is not None:
            cfg["auth"] = {"token": self.token.registry_auth_config()}
        return cfg

    def start(self) -> RegistryServer:
        if not registry_available():
            raise RegistryStartError(f"{self.binary} is not installed (scripts/setup.sh installs docker-registry)")
        self.workdir = Path(tempfile.mkdtemp(prefix="capsa-registry-"))
        try:
            if self._make_tls:
                from capsa.testing.registrycerts import make_tls_files

                self.tls = make_tls_files(self.workdir / "tls", require_client_cert=self.client_certs)
            for attempt in range(5):  # the free port may be taken between finding and binding it
                self.port = free_port()
                self.storage_dir.mkdir(exist_ok=True)
                self.config_path.write_text(json.dumps(self.config(), indent=1))
                self._spawn()
                try:
                    self._wait_ready()
                    if self.tls:
                        self.tls.certs_d(self.certs_d, self.host)
                    return self
                except RegistryStartError:
                    in_use = any("address already in use" in line for line in self.log_lines())
                    self._kill()
                    if not in_use or attempt == 4:
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([self.binary, "serve", str(self.config_path)],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                            cwd=self.workdir, start_new_session=True)

    def _wait_ready(self) -> None:
        import requests

        deadline = time.monotonic() + START_TIMEOUT
        sess = self.session()
        sess.headers["User-Agent"] = PROBE_AGENT
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RegistryStartError(f"docker-registry exited with {self.process.returncode}: "
                                             + " | ".join(self.log_lines()[-5:]))
                # "listening on" proves this process bound the port (another one, having taken
                # the port since free_port(), would otherwise answer the probe)
                if not any(f"listening on {self.host}" in line for line in self.log_lines()):
                    time.sleep(0.02)
                    continue
                try:
                    sess.get(f"{self.url}/v2/", timeout=2)  # any answer (200, 401) means it serves
                    return
                except requests.RequestException:
                    time.sleep(0.05)
        finally:
            sess.close()
        raise RegistryStartError(f"docker-registry did not answer {self.url}/v2/ within {START_TIMEOUT:.0f}s: "
                                 + " | ".join(self.log_lines()[-5:]))

    def _kill(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def stop(self) -> None:
        """Kill the process, wait for it, remove the temporary directory. Idempotent."""
        try:
            self._kill()
        finally:
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RegistryServer({self.url})"


def htpasswd_text(users: dict[str, str]) -> str:
    """An htpasswd file with bcrypt hashes (the only kind the registry accepts)."""
    import bcrypt

    return "".join(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
                   for user, password in users.items())


def _access_log_request(line: str) -> tuple[str, str, int] | None:
    """(METHOD, target, status) of a combined-log-format line (``... "GET /v2/x HTTP/1.1" 200
    2 "" "agent"``), None for other lines and for the start-up probe's."""
    start = line.find('] "')
    if start < 0 or line.endswith(f'"{PROBE_AGENT}"'):
        return None
    end = line.find('"', start + 3)
    parts = line[start + 3:end].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    status = line[end + 1:].split()[:1]
    return parts[0], parts[1], int(status[0]) if status and status[0].isdigit() else 0
