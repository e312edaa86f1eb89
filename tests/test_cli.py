"""CLI conventions: version, help (and its cache), errors and exit codes, --format, completion."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CAPSA, Capsa


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


@pytest.mark.parametrize("argv", [["--version"], ["-v"]])
def test_version_flag(capsa: Capsa, argv: list[str]) -> None:
    r = capsa(*argv, store=False)
    assert (r.returncode, r.stdout, r.stderr) == (0, "capsa version 0.1.0\n", "")


def test_python_dash_m_is_the_same_entry_point(capsa: Capsa) -> None:
    r = subprocess.run([sys.executable, "-m", "capsa", "--version"], capture_output=True, text=True, env=capsa.env)
    assert (r.returncode, r.stdout) == (0, "capsa version 0.1.0\n")
    r = subprocess.run([sys.executable, "-m", "capsa", "version", "--format", "json"], capture_output=True,
                       text=True, env=capsa.env)
    assert r.returncode == 0 and json.loads(r.stdout)["Client"]["Version"] == "0.1.0"


def test_version_command_human_and_formats(capsa: Capsa) -> None:
    r = capsa("version")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "Version:        0.1.0"
    assert lines[1] == "API Version:    0.1.0"
    assert lines[2].startswith("Python Version: 3.") and lines[3].startswith("OS/Arch:        linux/")
    data = json.loads(capsa("version", "--format", "json").stdout)
    assert set(data["Client"]) == {"APIVersion", "Version", "GoVersion", "GitCommit", "BuiltTime", "Built",
                                   "PythonVersion", "OsArch", "Os"}
    assert capsa("version", "--format", "{{.Client.Os}}/{{json .Client.Version}}").stdout == 'linux/"0.1.0"\n'


def test_help_lists_the_commands_and_global_flags(capsa: Capsa) -> None:
    r = capsa("--help", store=False)
    assert r.returncode == 0
    for word in ("info", "version", "plugins", "completion", "system", "--root", "--runroot",
                 "--storage-driver", "--storage-opt", "--log-level"):
        assert word in r.stdout


def test_help_is_served_from_the_cache_unchanged(capsa: Capsa) -> None:
    help_dir = Path(capsa.env["CAPSA_CACHE_DIR"]) / "help"
    first = capsa("info", "--help", store=False)
    assert first.returncode == 0 and "--format" in first.stdout
    pages = list(help_dir.iterdir())
    assert len(pages) == 1 and pages[0].read_text().split("\n", 1)[1] == first.stdout
    # Prove the second answer comes from the page: alter the recorded body, keep its key.
    key = pages[0].read_text().split("\n", 1)[0]
    pages[0].write_text(key + "\n" + "RECORDED PAGE\n")
    assert capsa("info", "--help", store=False).stdout == "RECORDED PAGE\n"
    # A different terminal width is a different key, hence a fresh page from typer.
    wide = capsa("info", "--help", store=False, env={"COLUMNS": "140"})
    assert wide.returncode == 0 and "--format" in wide.stdout


def test_no_command_is_an_error(capsa: Capsa) -> None:
    r = capsa(store=False)
    assert r.returncode == 125
    assert error_lines(r.stderr) == ["Error: missing command 'capsa COMMAND'"]
    r = capsa("system")
    assert r.returncode == 125 and error_lines(r.stderr) == ["Error: missing command 'capsa system COMMAND'"]


@pytest.mark.parametrize("argv, words", [
    (["no-such-command"], ["unrecognized command `capsa no-such-command`"]),
    (["--bogus-flag", "info"], ["unknown flag: --bogus-flag"]),
    (["info", "--format"], ["--format"]),
])
def test_usage_errors_exit_125_with_one_line_and_a_hint(capsa: Capsa, argv: list[str], words: list[str]) -> None:
    r = capsa(*argv)
    assert r.returncode == 125
    errors = error_lines(r.stderr)
    assert len(errors) == 1, r.stderr
    for word in words:
        assert word in errors[0]
    assert "capsa" in r.stderr.splitlines()[1] and "--help" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_an_unknown_log_level_is_podmans_message_and_exit_1(capsa: Capsa) -> None:
    for argv in (["--log-level", "loud", "info"], ["info", "--log-level=loud"]):
        r = capsa(*argv)
        assert (r.returncode, r.stdout) == (1, "")
        assert r.stderr == ('Log Level "loud" is not supported, choose from: '
                            "trace, debug, info, warn, warning, error, fatal, panic\n")


def test_bad_template_exits_125(capsa: Capsa) -> None:
    r = capsa("info", "--format", "{{.Nope}}")
    assert r.returncode == 125
    assert error_lines(r.stderr) == ['Error: template: unknown field "Nope" in {{.Nope}}']
    r = capsa("version", "--format", "{{.Client.Version")
    assert r.returncode == 125 and len(error_lines(r.stderr)) == 1


def test_log_level_debug_is_accepted_and_shows_tracebacks_only_then(capsa: Capsa) -> None:
    capsa.write_config("[storage\n")
    quiet = capsa("info")
    loud = capsa("--log-level", "debug", "info")
    assert quiet.returncode == loud.returncode == 125
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr


def test_info_human_output_is_yaml_like(capsa: Capsa) -> None:
    r = capsa("info")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    for top in ("host:", "store:", "drivers:", "plugins:", "version:"):
        assert top in lines
    assert f"  graphRoot: {capsa.root}" in lines
    assert "  cgroupVersion: v1" in lines or "  cgroupVersion: v2" in lines


def test_info_reports_host_facts(capsa: Capsa) -> None:
    import platform

    from capsa.hostinfo import cgroup_layout

    data = json.loads(capsa("info", "--format", "json").stdout)
    layout = cgroup_layout()
    assert data["host"]["kernel"] == platform.release()
    assert (data["host"]["cgroupVersion"], data["host"]["cgroupMode"]) == (layout.version, layout.mode)
    own = Path("/proc/self/cgroup").read_text()
    assert data["host"]["cgroupPaths"]  # the CLI's own cgroups, read from /proc
    assert all(path in own for path in data["host"]["cgroupPaths"].values())
    assert data["configFiles"] == [str(Path(capsa.env["XDG_CONFIG_HOME"]) / "capsa" / "capsa.toml")]  # (the tests' own)


def test_plugins_table_json_template_and_quiet(capsa: Capsa) -> None:
    r = capsa("plugins")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "ENTRY", "POINT", "PACKAGE", "VERSION", "SELECTED"]
    storage = [line.split() for line in lines[1:] if line.startswith("storage")]
    assert ["storage", "overlay", "capsa_storage_overlay:OverlayDriver", "capsa", "0.1.0", "yes"] in storage
    assert ["storage", "vfs", "capsa_storage_vfs:VfsDriver", "capsa", "0.1.0"] in storage
    rows = json.loads(capsa("plugins", "--format", "json").stdout)
    assert {"Kind", "Name", "EntryPoint", "Package", "Version", "Selected"} == set(rows[0])
    assert capsa("plugins", "-q").stdout.split() == [row["Name"] for row in rows]
    r = capsa("--storage-driver", "vfs", "plugins", "--format", "{{if .Selected}}{{.Kind}}={{.Name}}{{end}}")
    assert sorted(filter(None, r.stdout.splitlines())) == ["isolation=linux", "network=bridge", "registry=oci", "storage=vfs"]


def test_plugins_lists_without_importing_drivers(capsa: Capsa) -> None:
    r = subprocess.run([sys.executable, "-X", "importtime", str(CAPSA), "plugins"], capture_output=True, text=True,
                       env=capsa.env)
    assert r.returncode == 0
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert not {m for m in imported if m.startswith("capsa_")}


def test_completion_scripts_and_real_completions(capsa: Capsa) -> None:
    for shell, marker in (("bash", "complete_bash"), ("zsh", "complete_zsh"), ("fish", "complete_fish")):
        r = capsa("completion", shell, store=False)
        assert r.returncode == 0 and marker in r.stdout and "_CAPSA_COMPLETE" in r.stdout
    r = capsa("completion", "tcsh", store=False)
    assert r.returncode == 125
    env = {"_CAPSA_COMPLETE": "complete_bash", "COMP_WORDS": "capsa inf", "COMP_CWORD": "1"}
    assert capsa(store=False, env=env).stdout.split() == ["info"]
    env = {"_CAPSA_COMPLETE": "complete_bash", "COMP_WORDS": "capsa --log-level ", "COMP_CWORD": "2"}
    assert capsa(store=False, env=env).stdout.split() == ["trace", "debug", "info", "warn", "warning", "error",
                                                           "fatal", "panic"]


@pytest.mark.parametrize("unbuffered", ["1", ""])
@pytest.mark.parametrize("argv", [["plugins"], ["--version"], ["--help"], ["info"]])
def test_a_reader_that_goes_away_is_not_an_error(capsa: Capsa, argv: list[str], unbuffered: str) -> None:
    if argv == ["--help"]:
        capsa("--help", store=False)  # the cached page is what a closed pipe meets
    env = {**capsa.env, "PYTHONUNBUFFERED": unbuffered}
    proc = subprocess.Popen([str(CAPSA), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # closed before capsa writes anything
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == b""


def test_global_flags_also_work_after_the_command(capsa: Capsa, tmp_path: Path) -> None:
    r = capsa("info", "--root", str(tmp_path / "a"), "--runroot", "rel-run", "--storage-driver", "vfs",
              "--format", "{{.Store.GraphRoot}} {{.Store.RunRoot}} {{.Drivers.Storage.Name}}", store=False)
    assert r.returncode == 0, r.stderr
    root, runroot, driver = r.stdout.split()
    assert (root, driver) == (str(tmp_path / "a"), "vfs")
    assert Path(runroot).is_absolute() and runroot.endswith("/rel-run")
    r = capsa("--root", str(tmp_path), "--version", store=False)
    assert (r.returncode, r.stdout) == (0, "capsa version 0.1.0\n")
    r = capsa("system", "info", "--storage-opt", "mountopt=noatime", "--format", "{{.Drivers.Storage.Mountopt}}")
    assert (r.returncode, r.stdout) == (0, "noatime\n"), r.stderr


def test_only_pure_command_paths_are_cached_as_help(capsa: Capsa) -> None:
    help_dir = Path(capsa.env["CAPSA_CACHE_DIR"]) / "help"
    r = capsa("info", "--format", "-h")  # "-h" is the --format value here, not a help request
    assert r.returncode == 0 and r.stdout == "-h\n"
    r = capsa("info", "--format", "-h")
    assert r.stdout == "-h\n"
    assert not help_dir.exists() or not list(help_dir.iterdir())
    assert capsa("system", "info", "--help", store=False).returncode == 0
    assert len(list(help_dir.iterdir())) == 1
