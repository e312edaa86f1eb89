"""Hook specs: every hook documented, every hook tested, and the calling rules each one has.

The container hooks and the image events are tested through real commands in
tests/test_hook_plugin.py, with a hook plugin package installed into the venv; the tests named
``test_hook_<name>`` there count for the rule that every hook has a test."""
from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from capsa import hookspecs, plugins
from capsa.drivers.network import Attachment
from capsa.hookspecs import hookimpl
from conftest import REPO

HOOKS = sorted(name for name, fn in vars(hookspecs).items() if name.startswith("capsa_") and callable(fn))


@pytest.fixture(autouse=True)
def clean_manager() -> Iterator[None]:
    plugins.reset_manager()
    yield
    plugins.reset_manager()


def register(*objs: Any) -> None:
    for i, obj in enumerate(objs):
        plugins.get_manager().register(obj, name=f"test-plugin-{i}")


def test_every_hook_is_documented_with_its_signature() -> None:
    text = (REPO / "docs" / "hooks.md").read_text()
    documented = dict(re.findall(r"^### `(capsa_\w+)\(([^)]*)\)`", text, flags=re.M))
    for name in HOOKS:
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert documented.get(name) == params, f"docs/hooks.md lacks '### `{name}({params})`'"
    assert set(documented) == set(HOOKS), "docs/hooks.md documents hooks that do not exist"


def test_every_hook_has_a_test_of_its_own() -> None:
    import test_hook_plugin

    here = sys.modules[__name__]
    missing = [name for name in HOOKS if not any(callable(getattr(m, f"test_hook_{name}", None))
                                                 for m in (here, test_hook_plugin))]
    assert missing == []


def test_hooks_take_keyword_arguments_only() -> None:
    class P:
        @hookimpl
        def capsa_image_event(self, action: str, image_id: str, names: list[str]) -> None:
            pass

    register(P())
    with pytest.raises(TypeError):
        plugins.get_manager().hook.capsa_image_event("pull", "sha256:x", [])


def test_hook_capsa_resolve_short_name() -> None:
    assert plugins.resolve_short_name("busybox", ["docker.io"]) is None  # no plugin: the core decides

    class Declines:
        @hookimpl
        def capsa_resolve_short_name(self, name: str, search_registries: list[str]) -> str | None:
            return None

    class Answers:
        @hookimpl
        def capsa_resolve_short_name(self, name: str, search_registries: list[str]) -> str | None:
            return f"{search_registries[0]}/library/{name}"

    register(Answers(), Declines())
    assert plugins.resolve_short_name("busybox", ["registry.example"]) == "registry.example/library/busybox"


def test_hook_capsa_adjust_network_attachment() -> None:
    class P:
        @hookimpl
        def capsa_adjust_network_attachment(self, container: dict[str, Any], attachment: Attachment) -> None:
            attachment.aliases.append("extra-alias")

    register(P())
    att = Attachment(container_id="c", container_name="web", netns=None)
    plugins.call("capsa_adjust_network_attachment", container={"Id": "c"}, attachment=att)
    assert att.aliases == ["extra-alias"]


def test_hook_capsa_registry_credentials() -> None:
    assert plugins.registry_credentials("127.0.0.1:5000") is None

    class P:
        @hookimpl
        def capsa_registry_credentials(self, registry: str) -> tuple[str, str] | None:
            return ("user", "secret") if registry == "127.0.0.1:5000" else None

    register(P())
    assert plugins.registry_credentials("127.0.0.1:5000") == ("user", "secret")
    assert plugins.registry_credentials("other.example") is None


def test_hook_capsa_register_commands(capsys: pytest.CaptureFixture[str]) -> None:
    class P:
        @hookimpl
        def capsa_register_commands(self, app: Any) -> None:
            @app.command("from-plugin")
            def from_plugin() -> None:
                print("plugin command ran")

    register(P())
    from capsa.cli.app import build_command, run_command

    assert run_command(build_command(), ["from-plugin"]) == 0
    assert capsys.readouterr().out == "plugin command ran\n"


def test_failing_register_commands_only_warns(capsys: pytest.CaptureFixture[str]) -> None:
    class Bad:
        @hookimpl
        def capsa_register_commands(self, app: Any) -> None:
            raise ValueError("no commands today")

    register(Bad())
    from capsa.cli.app import build_command, run_command

    assert run_command(build_command(), ["version", "--format", "{{.Client.Version}}"]) == 0
    out = capsys.readouterr()
    assert out.out == "0.1.0\n" and "capsa_register_commands of plugin 'test-plugin-0' failed" in out.err


def test_a_failing_hook_marks_its_plugin_as_failed() -> None:
    class Exits:
        @hookimpl
        def capsa_container_poststop(self, container: dict[str, Any], exit_code: int) -> None:
            raise SystemExit(3)

    register(Exits())
    warnings: list[str] = []
    plugins.call_each_warning("capsa_container_poststop", warn=warnings.append, container={}, exit_code=0)
    assert plugins.failed_plugins == ["test-plugin-0"] and "SystemExit" in warnings[0]


def test_a_plugin_that_exits_while_importing_is_only_a_warning(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from capsa.entrypoints import PluginEntry

    (tmp_path / "capsa_test_exiting_plugin.py").write_text("import sys\nsys.exit('missing dependency')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    warnings: list[str] = []
    entry = PluginEntry("capsa.hooks", "exiter", "capsa_test_exiting_plugin", "capsa-exiter", "1.0")
    assert plugins.load_hook_plugins([entry], warn=warnings.append) == []
    assert plugins.failed_plugins == ["exiter"]
    assert "capsa-exiter 1.0" in warnings[0] and "SystemExit: missing dependency" in warnings[0]


def test_hook_capsa_network_event(tmp_path: Any) -> None:
    """``network create`` and ``rm``/``prune`` fire it once the change is recorded; ``--ignore``
    finding the network there does not; a failing implementation only warns."""
    from capsa.engine import networks
    from capsa.engine.session import GlobalOptions, Session

    seen: list[tuple[str, str, str]] = []

    class P:
        @hookimpl
        def capsa_network_event(self, action: str, network_id: str, name: str, container_id: str) -> None:
            seen.append((action, network_id, name) + ((container_id,) if container_id else ()))

    class Fails:
        @hookimpl
        def capsa_network_event(self, action: str) -> None:
            raise RuntimeError("boom")

    register(P(), Fails())
    sess = Session(GlobalOptions(str(tmp_path / "root"), str(tmp_path / "run"), "vfs"))
    routed: list[Any] = []
    records = networks.network_records(sess)
    a, _ = records.create("a", "10.123.7.0/24", routed=routed)  # (no event: the records alone)
    b = networks.create(sess, "b", "bridge", "10.123.8.0/24", None, False, {}, {}, None, False)
    networks.create(sess, "b", "bridge", None, None, False, {}, {}, None, True)
    # network connect and disconnect of a container (created, not running: recorded only)
    from capsa.container.model import ContainerConfig
    from capsa.engine import containers, netconnect

    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    config = containers.create(sess, ContainerConfig(id=os.urandom(32).hex(), name="hooked", image_id=None, image_name=str(rootfs),
                                                     rootfs=str(rootfs), cmd=["true"], network="bridge"))
    netconnect.connect(sess, "b", "hooked", [], None)
    netconnect.disconnect(sess, "b", "hooked", False)
    assert networks.remove(sess, ["b"], False) == ["b"]
    assert networks.prune(sess, []) == ["a"]
    assert seen == [("create", b.id, "b"), ("connect", b.id, "b", config.id), ("disconnect", b.id, "b", config.id),
                    ("remove", b.id, "b"), ("remove", a.id, "a")]
