"""Parity with podman 4.3 for the global flags, boolean flag values and the CLI's messages
(podman(1); issue 15 points 1, 2, 5 and 8): tests/parity.py runs each case in capsa and podman."""
from __future__ import annotations

import re

import pytest

from parity import Case, parity_fixtures

LOG_LEVEL = r'^Log Level "bogus" is not supported, choose from: trace, debug, info, warn, warning, error, fatal, panic$'
BAD_BOOL = r'^Error: invalid argument "yes" for "-a, --all" flag: strconv.ParseBool: parsing "yes": invalid syntax$'


def _not_in(word: str, r) -> None:  # type: ignore[no-untyped-def]
    assert word not in r.stdout.split(), r.stdout


def _empty_map(r) -> None:  # type: ignore[no-untyped-def]
    assert r.stdout == "map[]\n", r.stdout


CASES = [
    # --noout: the command's standard output goes nowhere; only before the command word
    Case("noout-version", "--noout version", stdout=r"\A\Z"),
    Case("noout-images", "--noout images", stdout=r"\A\Z"),
    Case("noout-true", "--noout=true version", stdout=r"\A\Z"),
    Case("noout-t", "--noout=t images", stdout=r"\A\Z"),
    Case("noout-false", "--noout=false version --format {{.Client.Os}}", stdout=r"\Alinux\n\Z"),
    Case("noout-true-then-false", "--noout --noout=0 version --format {{.Client.Os}}", stdout=r"\Alinux\n\Z"),
    Case("noout-error-still-shows", "--noout rm nosuch", code=1, stdout=r"\A\Z", stderr=r"^Error: "),
    Case("noout-after-the-command", "info --noout", code=125, stderr=r"^Error: unknown flag: --noout$"),
    Case("noout-after-run", "run --noout --rm {image} true", code=125, stderr=r"^Error: unknown flag: --noout$"),
    Case("noout-after-create", "create --noout=true {image} true", code=125, stderr=r"^Error: unknown flag: --noout$"),
    Case("noout-after-exec", "exec --noout nosuch true", code=125, stderr=r"^Error: unknown flag: --noout$"),
    Case("noout-run-keeps-the-container-output", "--noout run --rm {image} echo hi", stdout=r"\Ahi\n\Z"),
    Case("noout-run-detached", "--noout run -d --rm {image} true", stdout=r"\A\Z"),
    # --log-level: an unknown level is refused as podman refuses it (no "Error:", exit 1)
    Case("log-level-bogus", "--log-level bogus info", code=1, stderr=LOG_LEVEL, stdout=r"\A\Z"),
    Case("log-level-bogus-after", "info --log-level=bogus", code=1, stderr=LOG_LEVEL),
    Case("log-level-upper", "--log-level ERROR version --format {{.Client.Os}}", stdout=r"^linux$"),
    # --storage-opt "": no storage options
    Case("storage-opt-empty", "--storage-opt= info --format {{.Store.GraphOptions}}", check=_empty_map),
    Case("storage-opt-given", "--storage-opt overlay.mountopt=nodev info --format {{.Store.GraphOptions}}",
         stdout=r"^map\[overlay.mountopt:nodev\]$"),
    # --cgroup-manager: cgroupfs works, a bogus one is podman's error
    Case("cgroup-manager-cgroupfs", "--cgroup-manager cgroupfs info --format {{.Host.CgroupManager}}", stdout=r"^cgroupfs$"),
    Case("cgroup-manager-after", "info --cgroup-manager=cgroupfs --format {{.Host.CgroupManager}}", stdout=r"^cgroupfs$"),
    Case("cgroup-manager-bogus", "--cgroup-manager bogus info", code=125,
         stderr=r"^Error: .*cgroup manager must be one of cgroupfs and systemd: invalid argument$"),
    Case("cgroup-manager-systemd", "--cgroup-manager systemd info", code=125,
         stderr=r"^Error: --cgroup-manager systemd is not supported: ", podman_skip="podman runs under systemd's cgroups"),
    # --tmpdir, --runtime-flag, global flags after the command word
    Case("tmpdir", "--tmpdir {tmp}/t version --format {{.Client.Os}}", stdout=r"^linux$"),
    Case("runtime-flag-oci", "--runtime crun --runtime-flag log-format=json run --rm {image} echo hi", stdout=r"\Ahi\n\Z"),
    Case("runtime-flag-after-run", "--runtime crun run --runtime-flag log-format=json --rm {image} echo hi", stdout=r"\Ahi\n\Z"),
    Case("runtime-flag-reaches-the-runtime", "--runtime crun --runtime-flag bogus run --rm {image} true", code=126,
         stderr=r"^Error: .*crun"),  # (without the flag the run succeeds: crun refused --bogus)
    Case("runtime-flag-linux-driver", "--runtime-flag debug run --rm {image} true", code=125,
         stderr=r"^Error: --runtime-flag applies to an OCI runtime, and the linux isolation driver runs none$",
         podman_skip="podman always runs an OCI runtime; capsa's linux driver runs none"),
    Case("network-config-dir", "--network-config-dir {tmp}/nets network ls --format {{.Name}}",
         setup=("--network-config-dir {tmp}/nets network create cfgdir1",), stdout=r"^cfgdir1$"),
    Case("network-config-dir-elsewhere", "network ls --format {{.Name}}",
         setup=("--network-config-dir {tmp}/nets network create cfgdir2",), check=lambda r: _not_in("cfgdir2", r)),
    Case("root-after-the-command", "images --root {tmp}/other --format {{.ID}}", stdout=r"\A\Z"),
    # remote-client and libpod-only flags: refused in one line, before or after the command word
    Case("remote", "--remote info", code=125, stderr=r"^Error: --remote is not supported: podman's remote client only",
         podman_skip="podman's remote client connects to a service"),
    Case("remote-short", "-r info", code=125, stderr=r"^Error: -r is not supported: ", podman_skip="podman's remote client"),
    Case("url-after", "info --url=unix:/x", code=125, stderr=r"^Error: --url is not supported: ", podman_skip="remote client"),
    Case("connection", "-c x version", code=125, stderr=r"^Error: -c is not supported: ", podman_skip="remote client"),
    Case("syslog", "--syslog version", code=125, stderr=r"^Error: --syslog is not supported: ", podman_skip="podman logs to syslog"),
    Case("conmon", "--conmon /x version", code=125, stderr=r"^Error: --conmon is not supported: ", podman_skip="podman runs conmon"),
    # boolean flags: --flag=true|false and pflag's other spellings, for every command
    Case("bool-history-human-false", "history --human=false {image}", stdout=r"^[0-9a-f]{12}\s+\d{4}-\d\d-\d\dT"),
    Case("bool-history-human-true", "history --human=true {image}", stdout=r"^[0-9a-f]{12}\s+(\d+|About an?) \w+ ago"),
    Case("bool-images-noheading-true", "images --noheading=true", stdout=r"\A\S+/busybox\s"),
    Case("bool-images-noheading-false", "images --noheading=false", header=("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")),
    Case("bool-ps-all-0", "ps --all=0 --format {{.ID}}", setup=("create {image} true",), stdout=r"\A\Z"),
    Case("bool-ps-all-t", "ps --all=t --format {{.ID}}", setup=("create {image} true",), stdout=r"^[0-9a-f]{12}$"),
    Case("bool-ps-all-True", "ps --all=True --quiet=F", setup=("create {image} true",), header=("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")),
    Case("bool-rm-force-true", "rm --force=true --time 0 {cid}", setup=("run -d {image} sleep 60",), stdout=r"^[0-9a-f]{64}$"),
    Case("bool-ps-no-trunc-1", "ps -a --no-trunc=1 --format {{.ID}}", setup=("create {image} true",), stdout=r"^[0-9a-f]{64}$"),
    Case("bool-short-false", "ps -a=false --format {{.ID}}", setup=("create {image} true",), stdout=r"\A\Z"),
    Case("bool-short-cluster-true", "ps -qa=true", setup=("create {image} true",), stdout=r"\A[0-9a-f]{12}\n\Z"),
    Case("bool-bad-value", "ps --all=yes", code=125, stderr=BAD_BOOL),
    Case("bool-no-negation", "history --no-human {image}", code=125, stderr=r"^Error: unknown flag: --no-human$"),
    Case("bool-no-negation-false", "history --no-human=false {image}", code=125, stderr=r"^Error: unknown flag: --no-human$"),
    # unknown commands and flags, a missing command (podman(1) EXIT STATUS: 125)
    Case("unknown-command", "foo", code=125, stderr=r"^Error: unrecognized command `(podman|capsa) foo`$"),
    Case("unknown-subcommand", "system foo", code=125, stderr=r"^Error: unrecognized command `(podman|capsa) system foo`$"),
    Case("missing-command", "", code=125, stderr=r"^Error: missing command '(podman|capsa) COMMAND'$", stdout=r"^Usage:$"),
    Case("missing-subcommand", "system", code=125, stderr=r"^Error: missing command '(podman|capsa) system COMMAND'$",
         stdout=r"^Available Commands:$"),
    Case("unknown-flag", "version --bogus", code=125, stderr=r"^Error: unknown flag: --bogus$"),
    Case("unknown-global-flag", "--bogus version", code=125, stderr=r"^Error: unknown flag: --bogus$"),
]
store, podman_store, test_parity = parity_fixtures("global", CASES)


def test_volumepath_holds_the_named_volumes(store) -> None:  # type: ignore[no-untyped-def]
    """``--volumepath DIR``: named volumes live in DIR (podman records it in its database, so its
    store cannot be given another one: capsa alone here)."""
    vols = store.tmp / "vols"
    r = store("--volumepath", str(vols), "volume", "create", "v1")
    assert r.returncode == 0, r.stderr
    try:
        r = store("volume", "inspect", "--volumepath", str(vols), "--format", "{{.Mountpoint}}", "v1")
        assert r.stdout == f"{vols}/v1/_data\n", r.stderr
        assert (vols / "v1" / "_data").is_dir()
        assert store("--volumepath", str(vols), "info", "--format", "{{.Store.VolumePath}}").stdout == f"{vols}\n"
        r = store("--volumepath", str(vols), "run", "--rm", "-v", "v1:/data", "busybox", "sh", "-c", "echo x > /data/f")
        assert r.returncode == 0, r.stderr
        assert (vols / "v1" / "_data" / "f").read_text() == "x\n"
        assert store("volume", "ls", "-q").stdout == ""  # (the default directory has none)
    finally:
        store("--volumepath", str(vols), "volume", "rm", "-f", "v1")


def test_the_global_flags_are_declared_alike() -> None:
    """main.VALUED_GLOBALS, runflags.GLOBAL_FLAGS and the root callback's options name the same flags
    (and the three parsers the same before-the-command-only ones)."""
    from capsa.cli import main, runflags
    from capsa.cli.app import build_command

    root = build_command(["version"])
    typer_flags = {o for p in root.params if p.name not in ("version",) for o in p.opts}
    run_flags = {n for _p, names, _k, _d, _h in runflags.GLOBAL_FLAGS for n in names}
    assert typer_flags == run_flags
    valued = {n for _p, names, kind, _d, _h in runflags.GLOBAL_FLAGS for n in names if kind != runflags.BOOL}
    assert valued == set(main.VALUED_GLOBALS)
    assert run_flags - valued == set(main.BOOL_GLOBALS)
    from capsa.cli import app, dispatch

    assert app.BEFORE_COMMAND_ONLY == dispatch.BEFORE_COMMAND_ONLY == runflags.BEFORE_COMMAND_ONLY


def test_false_is_said_to_typer_too() -> None:
    """The typer route (no parse table, a slow command) reads ``--flag=false`` as the fast one."""
    from capsa.cli.app import build_command, explicit_bools

    command = build_command(["history"])
    assert explicit_bools(command, ["history", "--human=false", "x"]) == ["history", "--no-human", "x"]
    assert explicit_bools(command, ["history", "-H", "--no-trunc=1", "x"]) == ["history", "-H", "--no-trunc", "x"]
    assert explicit_bools(command, ["history", "--no-trunc=f", "x"]) == ["history", "x"]
    assert explicit_bools(command, ["--noout=true", "history", "x"]) == ["--noout", "history", "x"]  # (the root's)
    assert explicit_bools(command, ["--noout=false", "history", "x"]) == ["history", "x"]
    assert explicit_bools(command, ["history", "--noout=false", "x"]) == ["history", "--noout=false", "x"]  # (click: unknown)
    from capsa.errors import UsageError

    for typed in ("--no-human", "--no-human=true"):  # (capsa's own negation: podman has no such flag)
        with pytest.raises(UsageError, match="^unknown flag: --no-human$"):
            explicit_bools(command, ["history", typed, "x"])
    from capsa.cli.helpformat import render

    page = render(command.commands["history"], "capsa history")
    assert re.search(r"^  -H, --human +", page, re.M) and "--no-human" not in page  # (the negation is capsa's own)


def test_an_empty_storage_opt_drops_the_files_options_too(store) -> None:  # type: ignore[no-untyped-def]
    """podman's ``--storage-opt ""``: no storage options at all, not even the configuration's."""
    conf = store.tmp / "storage-opts.toml"
    conf.write_text('[storage.options.overlay]\nmountopt = "nodev"\n')
    env = {"CAPSA_CONFIG": str(conf)}
    fmt = ("info", "--format", "{{.Store.GraphOptions}}")
    assert store("--storage-driver", "overlay", *fmt, env=env).stdout == "map[overlay.mountopt:nodev]\n"
    assert store("--storage-driver", "overlay", "--storage-opt", "", *fmt, env=env).stdout == "map[]\n"
    assert store("--storage-driver", "overlay", *fmt[:1], "--storage-opt=", *fmt[1:], env=env).stdout == "map[]\n"
