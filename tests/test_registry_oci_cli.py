"""The ``oci`` registry driver seen from the command line and the engine's session: no
upload state, password or token in a ``--log-level debug`` pull or push, a plain-HTTP token
realm of a verified registry refused in one line, and the session closing the driver's
connections when a command ends."""
from __future__ import annotations

import base64
from pathlib import Path

from capsa.drivers.registry import Endpoint
from capsa.engine.session import GlobalOptions, Session
from capsa.testing.imagebuilder import busybox_image
from capsa.testing.registrytargets import established_to
from capsa.testing.registryupload import upload_image

from conftest import Capsa

INSECURE = "--tls-verify=false"
CREDS = ("pusher", "push-secret")


def push(server, repo: str, tag: str, auth=None) -> None:  # type: ignore[no-untyped-def]
    image = busybox_image("gzip", "oci")
    upload_image(server, repo, tag, [(layer.data, layer.media_type) for layer in image.layers], image.config,
                 image.manifest_media_type, auth=auth)


def test_debug_logs_of_pull_and_push_hold_no_secret_nor_upload_state(capsa: Capsa, token_registry,
                                                                      registry_factory) -> None:  # type: ignore[no-untyped-def]
    from capsa.testing.tokenservice import TokenService

    source, dest = token_registry, registry_factory(token=TokenService())
    push(source, "dbg/src", "1", auth=CREDS)
    creds = f"{CREDS[0]}:{CREDS[1]}"
    pulled = capsa("--log-level", "debug", "pull", INSECURE, "--creds", creds, f"{source.host}/dbg/src:1")
    assert pulled.returncode == 0, pulled.stderr
    pushed = capsa("--log-level", "debug", "push", INSECURE, "--creds", creds, f"{source.host}/dbg/src:1",
                   f"{dest.host}/dbg/dst:1")
    assert pushed.returncode == 0, pushed.stderr
    assert dest.requests_seen("PUT", "_state=")  # the uploads did carry state...
    log = pulled.stderr + pushed.stderr
    assert '"PUT /v2/dbg/dst/blobs/uploads/' in log, log  # (urllib3's line of an upload)
    assert "_state=" not in log  # ...which the log does not show
    basic = base64.b64encode(creds.encode()).decode()
    for secret in (CREDS[1], basic, "eyJ", "account="):  # eyJ: how every JWT (a token) starts
        assert secret not in log, secret


def test_a_plain_http_realm_of_a_verified_registry_is_refused(capsa: Capsa, registry_factory) -> None:  # type: ignore[no-untyped-def]
    from capsa.testing.tokenservice import TokenService

    server = registry_factory(tls=True, token=TokenService())
    r = capsa("pull", "--cert-dir", str(server.tls.cert_dir), "--creds", "pusher:push-secret",
              f"{server.host}/x/y:1")
    assert r.returncode == 125, r.stderr
    lines = r.stderr.splitlines()
    assert lines[-2].startswith("Error: ") and "--tls-verify=false" in lines[-1], r.stderr
    assert sum(line.startswith("Error: ") for line in lines) == 1 and "Traceback" not in r.stderr
    assert server.token.realm in r.stderr and "push-secret" not in r.stderr
    assert server.token.requests == []


def test_ending_a_session_closes_the_registry_drivers_connections(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    sess = Session(GlobalOptions(root=str(tmp_path / "root"), runroot=str(tmp_path / "run")))
    driver = sess.driver("registry")
    driver.configure(registry.host, Endpoint(tls_verify=False))
    driver.check_login(registry.host)
    assert established_to(registry.port) == 1
    sess.close()
    assert established_to(registry.port) == 0
    driver.configure(registry.host, Endpoint(tls_verify=False))  # usable again
    driver.check_login(registry.host)
    sess.close()


SNIPPET = """
import sys
from capsa_registry_oci import OciRegistryDriver
closed = []
real_close = OciRegistryDriver.close
def close(self):
    closed.append(self)
    real_close(self)
OciRegistryDriver.close = close
from capsa.cli.main import main
code = main(sys.argv[1:])
print("closed", len(closed), "exit", code)
"""


def test_commands_end_their_session(tmp_path: Path, run_python, registry) -> None:  # type: ignore[no-untyped-def]
    push(registry, "end/img", "1")
    store = ["--root", str(tmp_path / "root"), "--runroot", str(tmp_path / "run")]
    for args in (["pull", "-q", INSECURE, f"{registry.host}/end/img:1"],
                 ["login", INSECURE, "-u", "any", "-p", "any", "--authfile", str(tmp_path / "auth.json"),
                  registry.host]):
        r = run_python(SNIPPET, *store, *args)
        assert r.stdout.splitlines()[-1] == "closed 1 exit 0", (args, r.stdout, r.stderr)
