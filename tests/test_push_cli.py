"""``push``'s command line: podman's (pflag's) ``--tls-verify=false`` spelling read alike by the
parse table's dispatcher and by typer, and the transfer progress renderer."""
from __future__ import annotations

import io
from typing import Any

import pytest

from capsa.cli import dispatch, parsetable
from capsa.cli.transfer_progress import TransferRenderer
from capsa.engine.push import TransferEvent


@pytest.fixture(scope="module")
def table() -> parsetable.Table:
    from capsa.cli.app import build_command

    return parsetable.Table(parsetable.serialize(parsetable.derive(build_command(None))))


def _typer_values(args: list[str]) -> dict[str, Any]:
    from capsa.cli.app import build_command, explicit_bools

    root = build_command(None)
    command = root.commands["push"]
    wrapper = command.callback
    cells = dict(zip(wrapper.__code__.co_freevars, wrapper.__closure__))
    seen: dict[str, Any] = {}
    context_name = cells["context_param_name"].cell_contents

    def record(**kwargs: Any) -> None:
        kwargs.pop(context_name, None)
        seen.update(kwargs)

    cells["callback"].cell_contents = record
    root.main(args=explicit_bools(root, args), prog_name="capsa", standalone_mode=False)
    return seen


@pytest.mark.parametrize("flags,tls_verify,compress", [
    ([], None, False),
    (["--tls-verify"], True, False),
    (["--tls-verify=true"], True, False),
    (["--tls-verify=false"], False, False),
    (["--tls-verify=false", "--compress=true"], False, True),
    (["--compress=false", "--tls-verify=true"], True, False),
])
def test_explicit_bools_parse_alike(table: parsetable.Table, flags: list[str], tls_verify: bool | None,
                                    compress: bool) -> None:
    args = ["push", *flags, "img", "127.0.0.1:5000/x:1"]
    _name, _spec, _root, fast, _late = dispatch.parse(args, table)
    slow = _typer_values(args)
    for values in (fast, slow):
        assert values.get("tls_verify") == tls_verify
        assert bool(values.get("compress")) is compress
        assert values["image"] == "img" and values["destination"] == "127.0.0.1:5000/x:1"


def test_other_values_after_equals_still_refused(capsa: Any) -> None:
    r = capsa("push", "--tls-verify=maybe", "img")
    assert r.returncode == 125 and "Traceback" not in r.stderr


def _events() -> list[TransferEvent]:
    return [TransferEvent("trying", detail="example.com/a:1"), TransferEvent("begin"), TransferEvent("blob", "start", "sha256:" + "a" * 64, 10),
            TransferEvent("blob", "progress", "sha256:" + "a" * 64, 10, 5),
            TransferEvent("blob", "done", "sha256:" + "a" * 64, 10, 10),
            TransferEvent("blob", "skipped", "sha256:" + "b" * 64, 3, detail="already exists"),
            TransferEvent("config", "start", "sha256:" + "c" * 64, 2),
            TransferEvent("config", "done", "sha256:" + "c" * 64, 2, 2),
            TransferEvent("manifest"), TransferEvent("signatures")]


def test_plain_progress_lines_are_podmans() -> None:
    out = io.StringIO()
    with TransferRenderer(stream=out) as progress:
        for event in _events():
            progress(event)
    assert out.getvalue().splitlines() == [  # podman 4.3's, off a terminal: no "done", no "skipped"
        "Trying to pull example.com/a:1...",
        "Getting image source signatures",
        f"Copying blob sha256:{'a' * 64}",
        f"Copying blob sha256:{'b' * 64}",
        f"Copying config sha256:{'c' * 64}",
        "Writing manifest to image destination",
        "Storing signatures",
    ]


def test_bars_and_quiet() -> None:
    out = io.StringIO()
    with TransferRenderer(stream=out, bars=True) as progress:
        for event in _events():
            progress(event)
    text = out.getvalue()
    assert "Copying blob aaaaaaaaaaaa done" in text and "Copying blob bbbbbbbbbbbb skipped: already exists" in text
    assert "Copying config cccccccccc done" in text
    assert text.rstrip().endswith("Storing signatures")
    quiet = io.StringIO()
    with TransferRenderer(quiet=True, stream=quiet) as progress:
        for event in _events():
            progress(event)
    assert quiet.getvalue() == ""
