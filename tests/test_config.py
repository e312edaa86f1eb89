"""Configuration: layering order, merge rules, validation, and the flags that override files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from capsa import config
from capsa.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_search_paths_follow_the_documented_order(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "CAPSA_CONFIG": str(tmp_path / "explicit.toml")}
    assert config.default_search_paths(env) == [
        "/usr/share/capsa/capsa.toml",
        "/etc/capsa/capsa.toml",
        str(tmp_path / "xdg" / "capsa" / "capsa.toml"),
        str(tmp_path / "explicit.toml"),
    ]
    assert config.default_search_paths({"HOME": "/home/u"})[2] == "/home/u/.config/capsa/capsa.toml"


def test_layers_merge_tables_key_by_key_and_lists_replace(tmp_path: Path) -> None:
    low = write(tmp_path / "low.toml", """
[storage]
driver = "vfs"
root = "/low"
[storage.options.overlay]
mountopt = "nodev"
max_layers = 50
[registry]
unqualified_search = ["a.example", "b.example"]
""")
    high = write(tmp_path / "high.toml", """
[storage]
root = "/high"
[storage.options.overlay]
mountopt = "nodev,metacopy=on"
[registry]
unqualified_search = ["c.example"]
""")
    cfg = config.load(search_paths=[low, tmp_path / "missing.toml", high], environ={})
    assert cfg.files == (str(low), str(high))
    assert cfg.driver("storage") == "vfs"
    assert cfg.root == "/high"
    assert cfg.driver_options("storage", "overlay") == {"mountopt": "nodev,metacopy=on", "max_layers": 50}
    assert cfg.unqualified_search == ["c.example"]


def test_overrides_win_over_every_file(tmp_path: Path) -> None:
    f = write(tmp_path / "c.toml", '[storage]\ndriver = "vfs"\nroot = "/from-file"\n')
    cfg = config.load({"storage": {"driver": "overlay"}}, search_paths=[f], environ={})
    assert cfg.driver("storage") == "overlay" and cfg.root == "/from-file"


def test_defaults_without_any_file() -> None:
    cfg = config.load(search_paths=[], environ={})
    assert [cfg.driver(k) for k in config.KINDS] == ["overlay", "bridge", "linux", "oci"]
    assert cfg.root == "/var/lib/capsa" and cfg.runroot == "/run/capsa"


def test_only_the_selected_driver_options_are_handed_out(tmp_path: Path) -> None:
    f = write(tmp_path / "c.toml", """
[storage]
driver = "vfs"
[storage.options.overlay]
mountopt = "nodev"
""")
    cfg = config.load(search_paths=[f], environ={})
    assert cfg.driver_options("storage") == {}
    assert cfg.driver_options("storage", "overlay") == {"mountopt": "nodev"}


@pytest.mark.parametrize("text, words", [
    ("[storgae]\ndriver = 'vfs'\n", ["unknown table [storgae]", "known tables"]),
    ("[storage]\ndriverr = 'vfs'\n", ["unknown key 'driverr'", "known keys"]),
    ("[storage]\ndriver = 3\n", ["driver must be a str"]),
    ("[storage.options]\noverlay = 1\n", ["[storage.options.overlay] must be a table"]),
])
def test_invalid_content_is_refused_with_file_name(tmp_path: Path, text: str, words: list[str]) -> None:
    f = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as err:
        config.load(search_paths=[f], environ={})
    full = f"{err.value.message} {err.value.hint}"
    assert str(f) in err.value.message
    for word in words:
        assert word in full


def test_invalid_toml_names_file_and_line_and_exits_125(capsa) -> None:
    path = capsa.write_config('[storage]\ndriver = "vfs"\nroot = \n')
    r = capsa("info")
    assert r.returncode == 125
    first = r.stderr.splitlines()[0]
    assert first.startswith("Error: invalid TOML in ") and str(path) in first and "line 3" in first
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


def test_capsa_config_layer_wins_and_is_listed(capsa, tmp_path: Path) -> None:
    user = capsa.write_config('[storage]\ndriver = "vfs"\n')
    explicit = write(tmp_path / "explicit.toml", '[storage]\ndriver = "overlay"\n')
    r = capsa("info", "--format", "json", env={"CAPSA_CONFIG": str(explicit)})
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["configFiles"] == [str(user), str(explicit)]
    assert data["drivers"]["storage"]["name"] == "overlay"


def test_missing_capsa_config_file_is_an_error(capsa, tmp_path: Path) -> None:
    r = capsa("info", env={"CAPSA_CONFIG": str(tmp_path / "nope.toml")})
    assert r.returncode == 125 and "nope.toml" in r.stderr and "does not exist" in r.stderr


def test_root_and_runroot_flags_select_a_separate_store(capsa) -> None:
    capsa.write_config('[storage]\nroot = "/somewhere/else"\nrunroot = "/run/else"\n')
    r = capsa("info", "--format", "{{.Store.GraphRoot}} {{.Store.RunRoot}}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(capsa.root), str(capsa.runroot)]
    r = capsa("info", "--format", "{{.store.graphRoot}}", store=False)
    assert r.stdout.strip() == "/somewhere/else"


def test_storage_driver_flag_overrides_the_file(capsa) -> None:
    capsa.write_config('[storage]\ndriver = "overlay"\n')
    r = capsa("--storage-driver", "vfs", "info", "--format", "{{.Drivers.Storage.Name}}")
    assert (r.returncode, r.stdout.strip()) == (0, "vfs")


def test_storage_opt_reaches_the_selected_driver(capsa) -> None:
    r = capsa("--storage-opt", "mountopt=nodev,noatime", "info", "--format", "{{.drivers.storage.mountopt}}")
    assert (r.returncode, r.stdout.strip()) == (0, "nodev,noatime"), r.stderr
    r = capsa("--storage-opt", "overlay.mountopt=nosuid", "info", "--format", "{{.drivers.storage.mountopt}}")
    assert (r.returncode, r.stdout.strip()) == (0, "nosuid"), r.stderr


def test_storage_opt_for_another_driver_does_not_reach_the_selected_one(capsa) -> None:
    r = capsa("--storage-driver", "overlay", "--storage-opt", "vfs.whatever=1", "info", "--format", "{{.drivers.storage.mountopt}}")
    assert (r.returncode, r.stdout.strip()) == (0, "nodev"), r.stderr


@pytest.mark.parametrize("opt", ["bogus=1", "noequals", "=x"])
def test_bad_storage_opt_exits_125(capsa, opt: str) -> None:
    r = capsa("--storage-opt", opt, "info")
    assert r.returncode == 125
    assert len([line for line in r.stderr.splitlines() if line.startswith("Error:")]) == 1


def test_driver_option_with_wrong_type_is_refused(capsa) -> None:
    capsa.write_config('[storage.options.overlay]\nmax_layers = "many"\n')
    r = capsa("info")
    assert r.returncode == 125 and "max_layers" in r.stderr and "int" in r.stderr


def test_a_parsed_file_is_cached_until_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second read of an unchanged capsa.toml comes from the cache (no TOML parser);
    any change of the file (its size, times or inode) is a miss."""
    import os
    import sys

    monkeypatch.setenv("CAPSA_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "capsa.toml"
    path.write_text('[network]\ndriver = "host"\n')
    assert config.read_toml(str(path)) == {"network": {"driver": "host"}}
    monkeypatch.setitem(sys.modules, "tomli", None)  # importing it now fails: only the cache can answer
    assert config.read_toml(str(path)) == {"network": {"driver": "host"}}
    path.write_text('[network]\ndriver = "none"\n')
    os.utime(path, ns=(1, 1))  # (same size, even old times: the content tells)
    with pytest.raises(ImportError):
        config.read_toml(str(path))
    monkeypatch.delitem(sys.modules, "tomli")
    assert config.read_toml(str(path)) == {"network": {"driver": "none"}}
    # a cache file someone else could have written is not believed
    cached = next((tmp_path / "cache").glob("config-*"))
    cached.chmod(0o666)
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ImportError):
        config.read_toml(str(path))
