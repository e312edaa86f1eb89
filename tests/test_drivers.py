"""Driver contracts and loading: built-in drivers through their entry points, errors, laziness."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from capsa.drivers import installed, load_driver
from capsa.entrypoints import load_index
from capsa.errors import DriverNotFound, OperationNotSupported
from capsa.testing.drivers import DriverContract

BUILTIN = [
    ("storage", "overlay"), ("storage", "vfs"),
    ("network", "bridge"), ("network", "host"), ("network", "none"),
    ("isolation", "linux"), ("isolation", "oci"), ("registry", "oci"),
]
MODULES = {("storage", "overlay"): "capsa_storage_overlay", ("storage", "vfs"): "capsa_storage_vfs",
           ("network", "bridge"): "capsa_net_bridge", ("network", "host"): "capsa_net_host",
           ("network", "none"): "capsa_net_host", ("isolation", "linux"): "capsa_isolation_linux",
           ("isolation", "oci"): "capsa_isolation_oci", ("registry", "oci"): "capsa_registry_oci"}


# The shared contract suite, run over every built-in driver: one test class per driver.
for _kind, _name in BUILTIN:
    _cls = type(f"Test{_name.title()}Contract", (DriverContract,), {"kind": _kind, "name": _name})
    globals()[_cls.__name__] = _cls


def test_every_builtin_driver_is_declared_as_an_entry_point() -> None:
    found = {(e.group.split(".")[1], e.name, e.value.split(":")[0]) for e in load_index(refresh=True)}
    for kind, name in BUILTIN:
        assert (kind, name, MODULES[kind, name]) in found


def test_installed_lists_without_importing(run_python) -> None:
    r = run_python(
        "import sys; from capsa.drivers import installed\n"
        "names = sorted(e.name for k in ('storage','network','isolation','registry') for e in installed(k))\n"
        "print(names); print(sorted(m for m in sys.modules if m.startswith('capsa_')))"
    )
    assert r.returncode == 0, r.stderr
    names, modules = r.stdout.splitlines()
    assert names == str(sorted(n for _, n in BUILTIN))
    assert modules == "[]"


@pytest.mark.parametrize("kind, name", BUILTIN)
def test_loading_one_driver_imports_only_that_driver(run_python, tmp_path: Path, kind: str, name: str) -> None:
    r = run_python(
        "import sys; from pathlib import Path; from capsa.drivers import load_driver\n"
        f"d = load_driver({kind!r}, {name!r}, root=Path({str(tmp_path / 'root')!r}), runroot=Path({str(tmp_path / 'run')!r}))\n"
        "print(type(d).__name__); print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('capsa_')}))"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == str([MODULES[kind, name]])  # (its package's own modules aside)


def test_fast_path_and_stevedore_discovery_load_the_same_class(tmp_path: Path) -> None:
    fast = load_driver("storage", "vfs", root=tmp_path, runroot=tmp_path)
    full = load_driver("storage", "vfs", root=tmp_path, runroot=tmp_path, discover=True)
    assert type(fast) is type(full)


def test_entry_point_index_is_cached_and_invalidated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import capsa.entrypoints as ep
    from capsa.cache import install_state

    monkeypatch.setenv("CAPSA_CACHE_DIR", str(tmp_path))
    first = ep.load_index()
    key, body = (tmp_path / "entrypoints.json").read_text().split("\n", 1)
    assert key == install_state() and len(json.loads(body)) == len(first)
    # A cached index is trusted while its key matches...
    (tmp_path / "entrypoints.json").write_text(key + "\n" + json.dumps(json.loads(body)[:1]))
    assert len(ep.load_index()) == 1
    # ...and rebuilt as soon as the installed distributions (sys.path mtimes) change.
    stale = tmp_path / "site"
    stale.mkdir()
    monkeypatch.syspath_prepend(str(stale))
    assert len(ep.load_index()) == len(first)


def test_unknown_driver_names_it_and_lists_installed(capsa) -> None:
    r = capsa("--storage-driver", "zfs-nope", "info")
    assert r.returncode == 125
    lines = r.stderr.splitlines()
    assert lines[0] == "Error: unknown storage driver 'zfs-nope'"
    assert "installed storage drivers: overlay, vfs" in lines[1]


def test_unknown_network_driver_from_toml(capsa) -> None:
    capsa.write_config('[network]\ndriver = "weave"\n')
    r = capsa("info")
    assert r.returncode == 125 and "unknown network driver 'weave'" in r.stderr
    assert "bridge, host, none" in r.stderr


def test_unknown_option_of_the_selected_driver_exits_125(capsa) -> None:
    capsa.write_config('[storage]\ndriver = "vfs"\n[storage.options.vfs]\nsize = "10G"\n')
    r = capsa("info")
    assert r.returncode == 125
    assert r.stderr.splitlines()[0] == "Error: unknown option 'size' for storage driver 'vfs'"


def test_options_of_an_unselected_driver_are_not_checked(capsa) -> None:
    capsa.write_config('[storage]\ndriver = "vfs"\n[storage.options.overlay]\nnot_a_real_option = 1\n')
    r = capsa("info")
    assert r.returncode == 0 and r.stderr == ""


def test_options_for_a_driver_that_is_not_installed_warn(capsa) -> None:
    capsa.write_config('[storage.options.overlya]\nmountopt = "nodev"\n')
    r = capsa("info", "--format", "{{.Drivers.Storage.Name}}")
    assert (r.returncode, r.stdout) == (0, "overlay\n")
    assert r.stderr == ("Warning: [storage.options.overlya] configures no installed storage driver "
                        "(installed: overlay, vfs)\n")


def test_bad_bridge_subnet_is_a_config_error(capsa) -> None:
    capsa.write_config('[network]\ndriver = "bridge"\n[network.options.bridge]\nsubnet = "10.90.0.0/99"\n')
    r = capsa("info")
    assert r.returncode == 125 and "invalid subnet" in r.stderr
    for name in ("a/b", "x" * 16, "..", "", "br 0"):
        capsa.write_config(f'[network.options.bridge]\nbridge = "{name}"\nsubnet = "10.90.0.0/16"\n')
        r = capsa("info")
        assert r.returncode == 125 and f"invalid bridge name {name!r}" in r.stderr, (name, r.stderr)


def test_unimplemented_operation_is_refused_with_exit_125(tmp_path: Path) -> None:
    from capsa.drivers.base import DriverContext, refuse_unimplemented
    from capsa.drivers.network import NetworkDriver

    @refuse_unimplemented("it lands later")
    class Partial(NetworkDriver):
        def add(self, attachment: object) -> None:  # type: ignore[override]
            pass

    driver = Partial(DriverContext("network", "partial", str(tmp_path / "r"), str(tmp_path / "rr")))
    with pytest.raises(OperationNotSupported) as err:
        driver.gc([])
    assert err.value.exit_code == 125
    assert err.value.message == "network driver 'partial' does not implement gc" and err.value.hint == "it lands later"
    assert not (tmp_path / "r").exists()


def test_the_bridge_driver_implements_every_operation(tmp_path: Path) -> None:
    driver = load_driver("network", "bridge", root=tmp_path / "r", runroot=tmp_path / "rr")
    assert driver.unimplemented() == [] and driver.status()["ready"] is True
    assert not (tmp_path / "r").exists() and not (tmp_path / "rr").exists()


def test_info_reports_each_selected_driver_with_status(capsa) -> None:
    r = capsa("--storage-driver", "vfs", "info", "--format", "json")
    assert r.returncode == 0, r.stderr
    drivers = json.loads(r.stdout)["drivers"]
    assert {k: v["name"] for k, v in drivers.items()} == {
        "storage": "vfs", "network": "bridge", "isolation": "linux", "registry": "oci"}
    for report in drivers.values():
        assert isinstance(report["ready"], bool) and report["detail"]
    assert "namespaces available" in drivers["isolation"]["detail"]


def test_not_found_error_type() -> None:
    with pytest.raises(DriverNotFound):
        load_driver("registry", "nope", root=Path("/nonexistent"), runroot=Path("/nonexistent"))
    assert [e.name for e in installed("registry")] == ["oci"]


def test_unimplemented_operations_are_computed_per_class(tmp_path: Path) -> None:
    from capsa.drivers.base import DriverContext, refuse_unimplemented
    from capsa.drivers.storage import StorageDriver

    @refuse_unimplemented("not yet")
    class Half(StorageDriver):
        def create(self, layer_id: str, parent: str | None, writable: bool = False) -> None:
            pass

    class MoreOfIt(Half):
        def mount(self, layer_id: str, volatile: bool = False) -> Path:
            return tmp_path

    assert "create" not in Half.unimplemented() and {"mount", "apply_diff", "remove"} <= set(Half.unimplemented())
    assert "mount" not in MoreOfIt.unimplemented() and "remove" in MoreOfIt.unimplemented()
    driver = MoreOfIt(DriverContext("storage", "more", tmp_path, tmp_path))
    assert driver.status()["ready"] is False and "mount" not in driver.status()["unimplemented"]
    with pytest.raises(OperationNotSupported):
        driver.remove("x")


@pytest.mark.parametrize("value", ["--5", "many", "1.5"])
def test_bad_integer_option_from_a_flag_is_a_config_error(capsa, value: str) -> None:
    r = capsa("--storage-opt", f"max_layers={value}", "info")
    assert r.returncode == 125 and "max_layers" in r.stderr and "internal error" not in r.stderr
