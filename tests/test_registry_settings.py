"""Per-registry settings (capsa.registry.settings) and where they lead (capsa.registry.connect):
the validation of ``[registry]``'s contents, insecure registries, certs.d trees, mirrors,
locations and blocked registries, and how ``connect.endpoint`` combines flags, settings and
stored credentials."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from capsa import config
from capsa.engine.registries import access
from capsa.engine.session import GlobalOptions, Session
from capsa.errors import ConfigError, RegistryError
from capsa.image.reference import parse_reference
from capsa.registry import connect
from capsa.registry.connect import RemoteOptions
from conftest import Capsa

Configure = Callable[[str], connect.Access]


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """Write a capsa.toml, point $CAPSA_CONFIG at it, and return the Access (what the registry
    layer gets) of a Session reading it. The auth
    files of this process are the test's own (nothing of the user's is read)."""
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))

    def make(text: str) -> connect.Access:
        path = tmp_path / "capsa.toml"
        path.write_text(text)
        monkeypatch.setenv("CAPSA_CONFIG", str(path))
        return access(Session(GlobalOptions()))

    yield make


# ----------------------------------------------------------------------------- validation

BAD = [
    ('[registry]\nshort_name_mode = "lax"', "[registry] short_name_mode must be one of enforcing, permissive, disabled"),
    ('[registry]\nunqualified_search = ["docker.io", 5]', "[registry] unqualified_search holds 5"),
    ('[registry]\nunqualified_search = ["https://quay.io"]', "[registry] unqualified_search holds 'https://quay.io'"),
    ('[registry.aliases]\nbusybox = "busybox"', '[registry.aliases] "busybox" must name a registry and a repository'),
    ('[registry.aliases]\nbusybox = "docker.io/library/busybox:1"', '[registry.aliases] "busybox" must name a registry'),
    ('[registry.aliases]\n"quay.io/x" = "quay.io/x"', '[registry.aliases] "quay.io/x" is not a short name'),
    ('[registry.aliases]\nbusybox = 3', '[registry.aliases] "busybox" must be a string, not int'),
    ('[registry.registries."r.example"]\ninsecure = "yes"', '[registry.registries."r.example"] insecure must be a bool, not str'),
    ('[registry.registries."r.example"]\nblocked = 1', '[registry.registries."r.example"] blocked must be a bool, not int'),
    ('[registry.registries."r.example"]\nmirror = ["m.example"]', '[registry.registries."r.example"] mirror is not a known key'),
    ('[registry.registries."r.example"]\nmirrors = "m.example"', '[registry.registries."r.example"] mirrors must be a list'),
    ('[registry.registries."r.example"]\nmirrors = ["http://m.example"]', "mirrors holds 'http://m.example'"),
    ('[registry.registries."r.example"]\nlocation = "Bad Host"', "location 'Bad Host' is not HOST[:PORT][/PATH]"),
    ('[registry.registries."not a host"]\ninsecure = true', '[registry.registries."not a host"] does not name a registry'),
    ('[registry]\nregistries = {"r.example" = 1}', '[registry.registries."r.example"] must be a table, not int'),
    ('[registry]\ncerts_dir = ""', "[registry] certs_dir must not be empty"),
    ('[registry]\nauth_file = 7', "[registry] auth_file must be a str, not int"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_registry_settings_are_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "capsa.toml"
    path.write_text(text)
    from capsa.registry.settings import Settings

    with pytest.raises(ConfigError) as info:
        Settings(config.load(search_paths=[path], environ={}))
    assert message in info.value.message and str(path) in info.value.message
    assert "\n" not in info.value.message and info.value.hint


@pytest.mark.parametrize("command", [["pull", "-q", "r.example:5000/x"], ["login", "--get-login", "r.example:5000"],
                                     ["logout", "-a"]])
def test_a_bad_setting_fails_a_registry_command_in_one_line(capsa: Capsa, command: list[str]) -> None:
    path = capsa.write_config('[registry.registries."r.example:5000"]\ninsecure = "no"\n')
    r = capsa(*command, env={"REGISTRY_AUTH_FILE": str(capsa.tmp / "auth.json")})
    assert r.returncode == 125
    lines = r.stderr.splitlines()
    assert lines[0] == f'Error: {path}: [registry.registries."r.example:5000"] insecure must be a bool, not str'
    assert len(lines) == 2 and "Traceback" not in r.stderr  # the message and its hint


def test_the_run_path_imports_nothing_of_the_registry_package(capsa: Capsa) -> None:
    """``create`` of a present image reads the configuration, [registry] included, without
    importing capsa.registry: its contents are checked when a registry is used."""
    import subprocess
    import sys

    from conftest import CAPSA, make_rootfs_tar

    capsa.write_config('[registry]\nunqualified_search = ["quay.io", "docker.io"]\n'
                       '[registry.aliases]\nbusybox = "docker.io/library/busybox"\n'
                       '[registry.registries."quay.io"]\nmirrors = ["m.example"]\n')
    tar = make_rootfs_tar(capsa.tmp / "rootfs.tar", busybox=False)
    assert capsa("import", "-q", str(tar), "local/img:1").returncode == 0
    capsa("version")  # warm the caches
    r = subprocess.run([sys.executable, "-X", "importtime", str(CAPSA), "--root", str(capsa.root), "--runroot",
                        str(capsa.runroot), "create", "--name", "c1", "local/img:1", "true"],
                       capture_output=True, text=True, env=capsa.env, timeout=60)
    assert r.returncode == 0, r.stderr
    mods = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert not {m for m in mods if m.startswith(("capsa.registry", "capsa_registry"))}
    assert capsa("rm", "c1").returncode == 0
    assert capsa("rmi", "local/img:1").returncode == 0


def test_good_settings_load() -> None:
    text = '''
[registry]
unqualified_search = ["quay.io", "docker.io"]
short_name_mode = "permissive"
certs_dir = "/srv/certs.d"
auth_file = "~/auth.json"
[registry.aliases]
busybox = "docker.io/library/busybox"
"team/app" = "registry.example:5000/team/app"
[registry.registries."docker.io"]
mirrors = ["mirror.example:5000", "cache.example/hub"]
[registry.registries."mirror.example:5000"]
insecure = true
[registry.registries."registry.example/blocked"]
blocked = true
[registry.registries."old.example/ns"]
location = "new.example:5000/other"
'''
    from capsa.registry.settings import validate_registry_table
    import tomli

    validate_registry_table(tomli.loads(text)["registry"], "t")


# ----------------------------------------------------------------------------- reading

def test_the_longest_prefix_applies(configure: Configure) -> None:
    sess = configure('''
[registry.registries."r.example"]
insecure = true
[registry.registries."r.example/team"]
blocked = true
[registry.registries."r.example/team/app"]
mirrors = ["m.example"]
''')
    conf = connect.settings(sess)
    assert conf.entry("r.example/other/x").prefix == "r.example"
    assert conf.entry("r.example/team/x").blocked and not conf.entry("r.example/team/x").insecure
    assert conf.entry("r.example/team/app").mirrors == ["m.example"]
    assert conf.entry("r.example/teamwork/x").prefix == "r.example"  # whole components only
    assert conf.entry("r.example.org/x").prefix == ""
    assert conf.insecure("r.example") and not conf.insecure("other.example")


def test_defaults(configure: Configure) -> None:
    conf = connect.settings(configure(""))
    assert conf.search == ["docker.io"] and conf.short_name_mode == "enforcing" and conf.aliases == {}
    assert conf.certs_dirs() == ["/etc/capsa/certs.d", "/etc/containers/certs.d", "/etc/docker/certs.d"]
    assert not conf.entry("docker.io/library/busybox").blocked


def test_sources_try_the_mirrors_in_order_then_the_registry(configure: Configure) -> None:
    sess = configure('''
[registry.registries."docker.io"]
mirrors = ["m1.example:5000", "m2.example/hub/cache"]
''')
    ref = parse_reference("docker.io/library/busybox:1.36")
    got = connect.sources(sess, ref)
    assert [(str(s.reference), s.mirror) for s in got] == [
        ("m1.example:5000/library/busybox:1.36", True),
        ("m2.example/hub/cache/library/busybox:1.36", True),
        ("docker.io/library/busybox:1.36", False),
    ]
    other = parse_reference("quay.io/x/y@sha256:" + "a" * 64)
    assert [(s.reference, s.mirror) for s in connect.sources(sess, other)] == [(other, False)]


def test_a_location_rewrites_the_prefix_for_pulls_and_pushes(configure: Configure) -> None:
    sess = configure('''
[registry.registries."old.example/ns"]
location = "new.example:5000/other"
mirrors = ["m.example"]
''')
    ref = parse_reference("old.example/ns/app:1")
    assert [str(s.reference) for s in connect.sources(sess, ref)] == ["m.example/app:1", "new.example:5000/other/app:1"]
    assert str(connect.push_target(sess, ref)) == "new.example:5000/other/app:1"
    assert connect.push_target(sess, parse_reference("old.example/x:1")) == parse_reference("old.example/x:1")


def test_a_blocked_registry_is_refused_for_pulls_and_pushes(configure: Configure) -> None:
    sess = configure('[registry.registries."blocked.example:5000"]\nblocked = true\nmirrors = ["m.example"]\n')
    ref = parse_reference("blocked.example:5000/app:1")
    for call in (connect.sources, connect.push_target):
        with pytest.raises(RegistryError) as info:
            call(sess, ref)
        assert info.value.code == "BLOCKED"
        assert "registry blocked.example:5000 is blocked by the configuration" in info.value.message
        assert "\n" not in info.value.message and "blocked = true" in info.value.hint
    assert connect.sources(sess, parse_reference("blocked.example:5001/app"))  # another port: not blocked


# ----------------------------------------------------------------------------- endpoint

def test_tls_verify_flag_beats_the_insecure_setting(configure: Configure) -> None:
    sess = configure('[registry.registries."insecure.example:5000"]\ninsecure = true\n')
    assert connect.endpoint(sess, "insecure.example:5000", RemoteOptions()).tls_verify is False
    assert connect.endpoint(sess, "insecure.example:5000", RemoteOptions(tls_verify=True)).tls_verify is True
    assert connect.endpoint(sess, "secure.example", RemoteOptions()).tls_verify is True
    assert connect.endpoint(sess, "secure.example", RemoteOptions(tls_verify=False)).tls_verify is False


def test_cert_dir_flag_beats_the_certs_d_tree(configure: Configure, tmp_path: Path) -> None:
    tree = tmp_path / "certs.d"
    (tree / "r.example:5000").mkdir(parents=True)
    sess = configure(f'[registry]\ncerts_dir = "{tree}"\n')
    assert connect.endpoint(sess, "r.example:5000", RemoteOptions()).cert_dir == str(tree / "r.example:5000")
    assert connect.endpoint(sess, "r.example:5000", RemoteOptions(cert_dir="/given")).cert_dir == "/given"
    assert connect.endpoint(sess, "r.example:5001", RemoteOptions()).cert_dir is None
    assert connect.endpoint(sess, "r.example", RemoteOptions()).cert_dir is None


def test_credentials_come_from_creds_then_the_auth_file_then_docker(configure: Configure, tmp_path: Path) -> None:
    import base64

    def auth(user: str, password: str) -> dict[str, str]:
        return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}

    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": auth("hubuser", "hubpass"), "both.example": auth("dockeruser", "x")}}))
    (tmp_path / "auth.json").write_text(json.dumps({"auths": {"both.example": auth("podmanuser", "y")}}))
    sess = configure("")

    def user(registry: str, remote: RemoteOptions = RemoteOptions()) -> str | None:
        return getattr(connect.endpoint(sess, registry, remote).credentials, "username", None)

    # $REGISTRY_AUTH_FILE names the file explicitly: it alone is read, as podman does
    assert user("both.example") == "podmanuser"
    assert user("docker.io") is None
    assert user("both.example", RemoteOptions(creds="cli:pw")) == "cli"
    assert user("nobody.example") is None


def test_without_an_explicit_file_docker_config_is_read_too(configure: Configure, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    monkeypatch.delenv("REGISTRY_AUTH_FILE")
    (tmp_path / "docker").mkdir()
    entry = {"auth": base64.b64encode(b"hubuser:hubpass").decode()}
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {"https://index.docker.io/v1/": entry}}))
    (tmp_path / "mine.json").write_text(json.dumps({"auths": {"r.example": {"auth": base64.b64encode(b"me:pw").decode()}}}))
    sess = configure(f'[registry]\nauth_file = "{tmp_path / "mine.json"}"\n')
    found = connect.endpoint(sess, "docker.io", RemoteOptions()).credentials
    assert found is not None and (found.username, found.password) == ("hubuser", "hubpass")
    assert connect.endpoint(sess, "r.example", RemoteOptions()).credentials.username == "me"
    assert connect.auth_file(sess, RemoteOptions()) == (str(tmp_path / "mine.json"), False)
    assert connect.auth_file(sess, RemoteOptions(authfile="/x.json")) == ("/x.json", True)
