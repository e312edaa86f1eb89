"""``run``/``create`` flags: the typer-free parser (podman's pflag rules) and its one table."""
from __future__ import annotations

import re

import pytest

from capsa.cli import runflags
from capsa.cli.runflags import HelpRequested, parse
from capsa.errors import UsageError
from conftest import Capsa


def test_flags_before_the_image_and_the_command_verbatim_after_it() -> None:
    opts, image, cmd = parse("run", ["--rm", "--name", "web", "-e", "A=1", "busybox", "ls", "-l", "--rm", "--", "-x"])
    assert (image, cmd) == ("busybox", ["ls", "-l", "--rm", "--", "-x"])
    assert opts["rm"] is True and opts["name"] == "web" and opts["env"] == ["A=1"]
    assert opts["detach"] is False and opts["pids_limit"] == 1024 and opts["stop_timeout"] == 10  # defaults


def test_inline_values_clusters_and_booleans() -> None:
    opts, _, _ = parse("run", ["-dit", "-ePATH=/bin", "-e=B=2", "--name=x", "--rm=false", "--cpus=0.5",
                               "--pids-limit", "-1", "-m", "64m", "-v/a:/b", "busybox"])
    assert opts["detach"] and opts["interactive"] and opts["tty"]
    assert opts["env"] == ["PATH=/bin", "B=2"] and opts["name"] == "x" and opts["rm"] is False
    assert opts["cpus"] == 0.5 and opts["pids_limit"] == -1 and opts["memory"] == "64m" and opts["volume"] == ["/a:/b"]
    opts, _, _ = parse("run", ["-itehello=1", "busybox"])  # the last of a cluster takes the rest as its value
    assert opts["env"] == ["hello=1"] and opts["tty"]


def test_double_dash_ends_the_flags_and_global_flags_are_accepted() -> None:
    opts, image, cmd = parse("run", ["--root", "/r", "--storage-opt", "a=b", "--log-level=debug", "--", "-weird-image"])
    assert (opts["root"], opts["storage_opt"], opts["log_level"], image, cmd) == ("/r", ["a=b"], "debug", "-weird-image", [])


def test_create_has_every_flag_of_run_but_detach() -> None:
    parse("create", ["--rm", "--init", "busybox"])
    with pytest.raises(UsageError, match="unknown shorthand flag: 'd'"):
        parse("create", ["-d", "busybox"])
    run_flags = {n for _, names, *_ in runflags.FLAGS for n in names}
    assert {"--detach", "-d"} <= run_flags


@pytest.mark.parametrize(("argv", "message"), [
    (["--bogus", "busybox"], "unknown flag: --bogus"),
    (["-Z", "busybox"], "unknown shorthand flag: 'Z' in -Z"),
    (["--name"], "flag needs an argument: --name"),
    (["busybox", "--name"], None),  # after the image it is the command's
    (["--cpu-shares", "many", "busybox"], 'invalid argument "many" for "--cpu-shares" flag'),
    (["--rm=maybe", "busybox"], 'invalid argument "maybe" for "--rm" flag'),
    (["--rm"], "'capsa run' requires at least 1 argument"),
    (["--log-level", "loud", "busybox"], "invalid --log-level 'loud'"),
])
def test_bad_input_is_a_usage_error_with_podmans_wording(argv: list[str], message: str | None) -> None:
    if message is None:
        assert parse("run", argv)[2] == ["--name"]
        return
    with pytest.raises(UsageError) as info:
        parse("run", argv)
    assert message in info.value.message and info.value.exit_code == 125
    assert info.value.hint  # every error says what to do


def test_help_among_the_flags_asks_for_the_help_page() -> None:
    with pytest.raises(HelpRequested):
        parse("run", ["--rm", "--help"])


def test_the_typer_command_is_built_from_the_same_table(capsa: Capsa) -> None:
    for command in ("run", "create"):
        page = capsa(command, "--help").stdout
        for param, names, *_ in runflags.FLAGS:
            if command == "create" and param in runflags.CREATE_ONLY_SKIPS:
                assert not re.search(rf"{re.escape(names[0])}\b(?!-)", page), f"create --help has {names[0]}"
                continue
            assert names[0] in page, f"{command} --help lacks {names[0]}"


def test_cli_errors_from_the_parser_exit_125_with_one_line_and_a_hint(capsa: Capsa) -> None:
    r = capsa("run", "--bogus", "busybox")
    assert r.returncode == 125
    assert r.stderr.splitlines() == ["Error: unknown flag: --bogus", "See 'capsa run --help'"]
    r = capsa("container", "create", "--memory", "lots", "busybox")
    assert r.returncode == 125 and r.stderr.startswith("Error: invalid size 'lots' for --memory")


@pytest.mark.parametrize(("argv", "route"), [
    (["run", "busybox"], ("run", ["busybox"], 0)),
    (["--root", "/r", "run", "--rm", "x"], ("run", ["--root", "/r", "--rm", "x"], 2)),
    (["--root=/r", "container", "create", "x"], ("create", ["--root=/r", "x"], 1)),
    (["--log-level", "debug", "container", "--root", "/z", "run", "x"], ("run", ["--log-level", "debug", "--root", "/z", "x"], 4)),
    (["container", "ls"], None),
    (["images"], None),
    (["--version"], None),
])
def test_main_routes_run_and_create_past_typer(argv: list[str], route: tuple[str, list[str], int] | None) -> None:
    from capsa.cli.main import _launch_route

    assert _launch_route(argv) == route


@pytest.mark.parametrize(("command", "args", "flag"), [
    ("run", ["--secret", "s", "busybox"], "--secret"),
    ("run", ["--uidmap=0:1:2", "busybox"], "--uidmap"),
    ("create", ["--init-ctr", "always", "busybox"], "--init-ctr"),
    ("create", ["--preserve-fds", "1", "busybox"], None),  # (not create's: unknown, as podman's)
])
def test_refused_flags_of_run_and_create_are_refused_in_one_line(command: str, args: list[str], flag: str | None) -> None:
    with pytest.raises(UsageError) as err:
        parse(command, args)
    if flag is None:
        assert str(err.value) == f"unknown flag: {args[0]}"
    else:
        assert str(err.value).startswith(f"{flag} is not supported: ")


def test_container_run_and_create_refuse_as_run_and_create(capsa: Capsa) -> None:
    for words in (["container", "run"], ["container", "create"]):
        r = capsa(*words, "--secret", "s", "busybox", "true")
        assert r.returncode == 125 and r.stderr.startswith("Error: --secret is not supported: "), r.stderr
