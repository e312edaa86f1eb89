"""``login`` and ``logout`` against real registries (htpasswd Basic, Bearer tokens, HTTPS with
a CA made by the test): what is stored where, podman's words and exit codes, TLS settings from
flags and configuration, and that no password ever shows."""
from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from capsa.engine.login import login_key
from capsa.errors import UsageError
from capsa.testing.registryserver import RegistryServer
from conftest import Capsa
from registries import BASIC_PASSWORD, BASIC_USER

SECRET = "Zq-distinctive-Pa55word-7731"  # searched for in every output
PLAIN = ["--tls-verify=false"]  # plain HTTP, as podman needs it said


class Login:
    """``capsa`` with the test's own auth files: podman's default under $XDG_RUNTIME_DIR, and
    docker's under $DOCKER_CONFIG (nothing of the machine's is read or written)."""

    def __init__(self, capsa: Capsa) -> None:
        self.capsa = capsa
        self.runtime = capsa.tmp / "xdg-run"
        self.runtime.mkdir(exist_ok=True)
        self.docker = capsa.tmp / "docker"
        self.env = {"XDG_RUNTIME_DIR": str(self.runtime), "DOCKER_CONFIG": str(self.docker)}
        self.auth = self.runtime / "containers" / "auth.json"

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.capsa(*args, store=False, input=input, env={**self.env, **(env or {})})

    def stored(self, path: Path | None = None) -> dict[str, str]:
        data = json.loads((path or self.auth).read_text())
        return {key: base64.b64decode(entry["auth"]).decode() for key, entry in data["auths"].items()}


@pytest.fixture
def login(capsa: Capsa) -> Login:
    return Login(capsa)


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_login_get_login_logout_with_basic_auth(login: Login, basic_registry: RegistryServer) -> None:
    host = basic_registry.host
    r = login("login", *PLAIN, "-u", BASIC_USER, "-p", BASIC_PASSWORD, host)
    assert (r.returncode, r.stdout, r.stderr) == (0, "Login Succeeded!\n", "")
    assert login.stored() == {host: f"{BASIC_USER}:{BASIC_PASSWORD}"}
    assert stat.S_IMODE(login.auth.stat().st_mode) == 0o600
    assert stat.S_IMODE(login.auth.parent.stat().st_mode) == 0o700
    assert ok(login("login", "--get-login", host)) == f"{BASIC_USER}\n"
    assert ok(login("logout", host)) == f"Removed login credentials for {host}\n"
    assert login.stored() == {}
    r = login("login", "--get-login", host)
    assert r.returncode == 125 and r.stderr.splitlines()[0] == f"Error: not logged into {host}"
    r = login("logout", host)
    assert (r.returncode, r.stderr.splitlines()[0]) == (125, f"Error: not logged into {host}")


def test_login_with_bearer_tokens(login: Login, token_registry: RegistryServer) -> None:
    host = token_registry.host
    assert ok(login("login", *PLAIN, "-u", "reader", "-p", "read-secret", host)) == "Login Succeeded!\n"
    assert login.stored() == {host: "reader:read-secret"}
    assert any(req.user == "reader" and req.status == 200 for req in token_registry.token.requests)
    r = login("login", *PLAIN, "-u", "reader", "-p", SECRET, host)
    assert r.returncode == 125 and r.stderr.splitlines()[0] == f'Error: logging into "{host}": invalid username/password'
    assert login.stored() == {host: "reader:read-secret"}  # the refused login changed nothing


@pytest.mark.parametrize("kind", ["basic", "token"])
def test_a_wrong_password_is_refused_stored_nowhere_and_shown_nowhere(login: Login, registry_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    from capsa.testing.tokenservice import TokenService

    server = (registry_factory(htpasswd={BASIC_USER: BASIC_PASSWORD}) if kind == "basic"
              else registry_factory(token=TokenService(users={BASIC_USER: BASIC_PASSWORD}, permissions={BASIC_USER: ("pull",)})))
    host = server.host
    for args in (["-p", SECRET], ["--password-stdin"]):
        r = login("--log-level", "debug", "login", *PLAIN, "-u", BASIC_USER, *args, host, input=SECRET + "\n")
        assert r.returncode == 125
        assert r.stderr.splitlines()[-2:] == [f'Error: logging into "{host}": invalid username/password',
                                              "check the username and password"]
        assert SECRET not in r.stdout + r.stderr
        assert base64.b64encode(f"{BASIC_USER}:{SECRET}".encode()).decode() not in r.stdout + r.stderr
        assert "Traceback" in r.stderr  # (debug shows the traceback: still without the secret)
    assert not login.auth.exists()
    r = login("--log-level", "debug", "login", *PLAIN, "-u", BASIC_USER, "-p", BASIC_PASSWORD, host)
    assert r.returncode == 0 and BASIC_PASSWORD not in r.stdout + r.stderr
    assert SECRET not in login.auth.read_text()


def test_password_stdin_and_its_rules(login: Login, basic_registry: RegistryServer) -> None:
    host = basic_registry.host
    r = login("login", *PLAIN, "-u", BASIC_USER, "--password-stdin", host, input=BASIC_PASSWORD + "\n")
    assert ok(r) == "Login Succeeded!\n"
    r = login("login", "-u", BASIC_USER, "-p", "x", "--password-stdin", host, input="x\n")
    assert (r.returncode, r.stderr.splitlines()[0]) == (125, "Error: Can't specify both --password-stdin and --password")
    r = login("login", "--password-stdin", host, input="x\n")
    assert (r.returncode, r.stderr.splitlines()[0]) == (125, "Error: Must provide --username with --password-stdin")


def test_password_stdin_is_all_of_it_less_one_line_end(login: Login, basic_registry: RegistryServer) -> None:
    """podman strips the final newline only: a password cut across lines is not the password
    (lines are not joined), and a CRLF ending is one line end."""
    host = basic_registry.host
    r = login("login", *PLAIN, "-u", BASIC_USER, "--password-stdin", host,
              input=f"{BASIC_PASSWORD[:4]}\n{BASIC_PASSWORD[4:]}\n")
    assert r.returncode == 125 and r.stderr.splitlines()[0] == f'Error: logging into "{host}": invalid username/password'
    assert not login.auth.exists()
    r = login("login", *PLAIN, "-u", BASIC_USER, "--password-stdin", host, input=BASIC_PASSWORD + "\r\n")
    assert ok(r) == "Login Succeeded!\n"
    assert login.stored() == {host: f"{BASIC_USER}:{BASIC_PASSWORD}"}


def test_without_a_terminal_nothing_is_prompted(login: Login, basic_registry: RegistryServer) -> None:
    host = basic_registry.host
    r = login("login", host, input="")
    assert (r.returncode, r.stderr.splitlines()[0]) == (125, "Error: cannot prompt for a username without a terminal")
    r = login("login", "-u", BASIC_USER, host, input="")
    assert (r.returncode, r.stderr.splitlines()[0]) == (125, "Error: cannot prompt for a password without a terminal")


def test_prompts_on_a_terminal(login: Login, basic_registry: RegistryServer) -> None:
    """Username and password asked on a pseudo-terminal (the password not echoed)."""
    import pty

    from conftest import CAPSA

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.execve(str(CAPSA), [str(CAPSA), "login", *PLAIN, basic_registry.host], {**login.capsa.env, **login.env})
    seen = b""

    def until(text: bytes) -> None:
        nonlocal seen
        while text not in seen:
            chunk = os.read(fd, 1024)
            assert chunk, seen
            seen += chunk

    try:
        until(b"Username: ")
        os.write(fd, BASIC_USER.encode() + b"\n")
        until(b"Password: ")
        os.write(fd, BASIC_PASSWORD.encode() + b"\n")
        until(b"Login Succeeded!")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert BASIC_PASSWORD.encode() not in seen  # not echoed
    assert login.stored() == {basic_registry.host: f"{BASIC_USER}:{BASIC_PASSWORD}"}


def test_existing_credentials_are_reused(login: Login, basic_registry: RegistryServer) -> None:
    host = basic_registry.host
    ok(login("login", *PLAIN, "-u", BASIC_USER, "-p", BASIC_PASSWORD, host))
    assert ok(login("login", *PLAIN, host)) == (f"Authenticating with existing credentials for {host}\n"
                                        f"Existing credentials are valid. Already logged in to {host}\n")


def test_existing_login_is_the_engines(login: Login, basic_registry: RegistryServer) -> None:
    """What ``login`` without a username or password checks is the engine's (any front end
    gets it): None without stored credentials, else whether the registry still takes them."""
    from capsa.engine import login as engine
    from capsa.engine.session import GlobalOptions, Session

    host = basic_registry.host
    remote = engine.RemoteOptions(tls_verify=False, authfile=str(login.auth))
    sess = Session(GlobalOptions(str(login.capsa.root), str(login.capsa.runroot)))
    assert engine.existing_login(sess, host, remote) is None
    ok(login("login", *PLAIN, "-u", BASIC_USER, "-p", BASIC_PASSWORD, host))
    assert engine.existing_login(sess, host, remote) == engine.ExistingLogin(host, host, BASIC_USER, valid=True)
    login.auth.write_text(json.dumps({"auths": {host: {"auth": base64.b64encode(f"{BASIC_USER}:{SECRET}".encode()).decode()}}}))
    assert engine.existing_login(sess, host, remote) == engine.ExistingLogin(host, host, BASIC_USER, valid=False)
    r = login("login", *PLAIN, host, input="")
    assert r.stdout == (f"Authenticating with existing credentials for {host}\n"
                        "Existing credentials are invalid, please enter valid username and password\n")
    assert r.returncode == 125 and SECRET not in r.stdout + r.stderr


def test_unreachable_registry(login: Login) -> None:
    r = login("login", "-u", "u", "-p", SECRET, "127.0.0.1:1")
    assert r.returncode == 125
    assert r.stderr.startswith('Error: authenticating creds for "127.0.0.1:1": ')
    assert SECRET not in r.stdout + r.stderr and not login.auth.exists()


def test_tls_verify_and_cert_dir(login: Login, basic_tls_registry: RegistryServer) -> None:
    host, tls = basic_tls_registry.host, basic_tls_registry.tls
    creds = ["-u", BASIC_USER, "-p", BASIC_PASSWORD]
    r = login("login", *creds, host)  # a CA nobody trusts
    assert r.returncode == 125 and r.stderr.startswith(f'Error: authenticating creds for "{host}"'), r.stderr
    assert ok(login("login", *creds, "--cert-dir", str(tls.cert_dir), host)) == "Login Succeeded!\n"
    assert ok(login("login", *creds, "--tls-verify=false", host)) == "Login Succeeded!\n"
    r = login("login", *creds, "--tls-verify=true", host)
    assert r.returncode == 125
    r = login("login", *creds, "--tls-verify", "--cert-dir", str(tls.cert_dir), host)  # a bare --tls-verify is true
    assert r.returncode == 0, r.stderr


def test_certs_d_and_insecure_from_the_configuration(login: Login, basic_tls_registry: RegistryServer) -> None:
    host = basic_tls_registry.host
    creds = ["-u", BASIC_USER, "-p", BASIC_PASSWORD]
    login.capsa.write_config(f'[registry]\ncerts_dir = "{basic_tls_registry.certs_d}"\n')
    assert ok(login("login", *creds, host)) == "Login Succeeded!\n"
    login.capsa.write_config(f'[registry.registries."{host}"]\ninsecure = true\n')
    assert ok(login("login", *creds, host)) == "Login Succeeded!\n"
    r = login("login", *creds, "--tls-verify=true", host)  # the flag wins over the setting
    assert r.returncode == 125


def test_auth_file_choice(login: Login, basic_registry: RegistryServer, tmp_path: Path) -> None:
    host = basic_registry.host
    creds = [*PLAIN, "-u", BASIC_USER, "-p", BASIC_PASSWORD, host]
    flag, env_file, conf = tmp_path / "flag.json", tmp_path / "env.json", tmp_path / "conf" / "auth.json"
    ok(login("login", "--authfile", str(flag), *creds, env={"REGISTRY_AUTH_FILE": str(env_file)}))
    ok(login("login", *creds, env={"REGISTRY_AUTH_FILE": str(env_file)}))
    login.capsa.write_config(f'[registry]\nauth_file = "{conf}"\n')
    r = login("login", "-v", *creds)
    assert ok(r) == f"Used: {conf}\nLogin Succeeded!\n"
    assert [login.stored(p) for p in (flag, env_file, conf)] == [{host: f"{BASIC_USER}:{BASIC_PASSWORD}"}] * 3
    assert not login.auth.exists()
    assert ok(login("logout", "--authfile", str(flag), host)) == f"Removed login credentials for {host}\n"
    assert login.stored(flag) == {} and login.stored(conf) != {}


def test_registry_spellings(login: Login, basic_registry: RegistryServer) -> None:
    host = basic_registry.host
    creds = [*PLAIN, "-u", BASIC_USER, "-p", BASIC_PASSWORD]
    ok(login("login", *creds, f"http://{host}/v2/"))
    ok(login("login", *creds, f"{host}/team/app"))
    assert set(login.stored()) == {host, f"{host}/team/app"}
    assert ok(login("login", "--get-login", f"https://{host}")) == f"{BASIC_USER}\n"
    r = login("login", *creds, f"{host}/app:tag")
    assert r.returncode == 125 and "invalid registry" in r.stderr


def test_login_keys() -> None:
    assert login_key("https://index.docker.io/v1/").key == "docker.io"
    assert login_key("registry-1.docker.io").key == "docker.io"
    assert (login_key("r.example:5000/ns/app").key, login_key("r.example:5000/ns/app").registry) == \
        ("r.example:5000/ns/app", "r.example:5000")
    for bad in ("", "UPPER CASE", "r.example/app@sha256:" + "a" * 64, "r.example/a:1", "ftp://x"):
        with pytest.raises(UsageError):
            login_key(bad)


def test_logout_all_and_docker_logins(login: Login, basic_registry: RegistryServer) -> None:
    host = basic_registry.host
    ok(login("login", *PLAIN, "-u", BASIC_USER, "-p", BASIC_PASSWORD, host))
    data = json.loads(login.auth.read_text())
    data["other"] = {"kept": True}
    login.auth.write_text(json.dumps(data))
    assert ok(login("logout", "--all")) == "Removed login credentials for all registries\n"
    assert json.loads(login.auth.read_text()) == {"auths": {}, "other": {"kept": True}}
    r = login("logout", "-a", host)
    assert (r.returncode, r.stderr.splitlines()[0]) == (125, "Error: --all takes no arguments")
    login.docker.mkdir()
    entry = {"auth": base64.b64encode(b"dockeruser:pw").decode()}
    (login.docker / "config.json").write_text(json.dumps({"auths": {f"https://{host}/v1/": entry}}))
    assert ok(login("login", "--get-login", host)) == "dockeruser\n"  # read from docker's file too
    assert ok(login("logout", host)) == (f"Not logged into {host} with current tool. Existing credentials were "
                                         "established via docker login. Please use docker logout instead.\n")
    assert (login.docker / "config.json").exists()


def test_no_registry_means_the_first_search_registry(login: Login) -> None:
    login.capsa.write_config('[registry]\nunqualified_search = ["r.example:5000", "docker.io"]\n')
    r = login("login", "--get-login")
    assert (r.returncode, r.stderr.splitlines()[0]) == (125, "Error: not logged into r.example:5000")
    login.capsa.write_config('[registry]\nunqualified_search = []\n')
    r = login("logout")
    assert (r.returncode, r.stderr.splitlines()[0]) == (125, "Error: please provide a registry to log into")


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed (the file format is tested above)")
def test_podman_and_capsa_read_each_others_logins(login: Login, basic_registry: RegistryServer, tmp_path: Path) -> None:
    import tempfile

    host, path = basic_registry.host, tmp_path / "shared.json"
    ok(login("login", *PLAIN, "--authfile", str(path), "-u", BASIC_USER, "-p", BASIC_PASSWORD, host))
    short = Path(tempfile.mkdtemp(prefix="pl", dir="/tmp"))  # (podman wants a runroot under 50 characters)
    podman = ["podman", "--root", str(short / "root"), "--runroot", str(short / "run")]
    try:
        _podman_round_trip(login, podman, host, path)
    finally:
        shutil.rmtree(short, ignore_errors=True)


def _podman_round_trip(login: Login, podman: list[str], host: str, path: Path) -> None:
    r = subprocess.run([*podman, "login", "--get-login", "--authfile", str(path), host], capture_output=True, text=True,
                       env={**login.capsa.env, **login.env}, timeout=60)
    assert (r.returncode, r.stdout) == (0, f"{BASIC_USER}\n"), r.stderr
    r = subprocess.run([*podman, "logout", "--authfile", str(path), host], capture_output=True, text=True,
                       env={**login.capsa.env, **login.env}, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*podman, "login", "--tls-verify=false", "--authfile", str(path), "-u", BASIC_USER,
                        "--password-stdin", f"{host}/team"], input=BASIC_PASSWORD, capture_output=True, text=True,
                       env={**login.capsa.env, **login.env}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ok(login("login", "--get-login", "--authfile", str(path), f"{host}/team")) == f"{BASIC_USER}\n"
    assert ok(login("logout", "--authfile", str(path), f"{host}/team")) == f"Removed login credentials for {host}/team\n"


def test_a_client_certificate_from_cert_dir_or_certs_d(login: Login, mtls_registry: RegistryServer) -> None:
    host = mtls_registry.host
    creds = ["-u", "anyone", "-p", "anything"]  # (no htpasswd: the certificate is what is checked)
    r = login("login", *creds, "--cert-dir", str(mtls_registry.tls.cert_dir), host)
    assert ok(r) == "Login Succeeded!\n"
    ca_only = login.capsa.tmp / "ca-only"
    ca_only.mkdir()
    (ca_only / "ca.crt").write_bytes(Path(mtls_registry.tls.ca_cert).read_bytes())
    r = login("login", *creds, "--cert-dir", str(ca_only), host)
    assert r.returncode == 125 and r.stderr.startswith(f'Error: authenticating creds for "{host}"'), r.stderr
    login.capsa.write_config(f'[registry]\ncerts_dir = "{mtls_registry.certs_d}"\n')
    assert ok(login("login", *creds, host)) == "Login Succeeded!\n"
