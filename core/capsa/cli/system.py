"""``capsa info``, ``capsa version`` and the ``capsa system`` group."""
from __future__ import annotations

import os
import platform
import socket
from typing import Any

import typer

from capsa import __version__
from capsa.cli import output
from capsa.cli.output import FormatOpt
from capsa.cli.state import Session, session
from capsa.config import KINDS


def version_data() -> dict[str, Any]:
    from capsa.hostinfo import go_arch

    return {
        "Client": {
            "Version": __version__,
            "PythonVersion": platform.python_version(),
            "OsArch": f"linux/{go_arch()}",
            "Os": "linux",
        }
    }


def _driver_report(sess: Session, kind: str) -> dict[str, Any]:
    """Name and status of the selected driver; an unsupported host is a status, not an error."""
    from capsa.errors import DriverNotSupported

    name = sess.config.driver(kind)
    try:
        status = sess.driver(kind, discover=True).status()
    except DriverNotSupported as exc:
        status = {"ready": False, "detail": f"{exc.message} ({exc.hint})" if exc.hint else exc.message}
    return {"name": name, **status}


def _image_count(sess: Session) -> int:
    from capsa.cli.state import open_store
    from capsa.errors import CapsaError

    try:
        store = open_store(sess)
        with store.reading():
            return len(store.images.all())
    except CapsaError:
        return 0


def info_data(sess: Session) -> dict[str, Any]:
    """What ``capsa info`` reports: host, store, drivers, plugins, configuration files, version."""
    from capsa import plugins
    from capsa.entrypoints import HOOKS_GROUP, entries_in
    from capsa.hostinfo import cgroup_layout, go_arch, own_cgroups

    cfg = sess.config
    layout = cgroup_layout()
    drivers = {kind: _driver_report(sess, kind) for kind in KINDS}
    return {
        "host": {
            "arch": go_arch(),
            "os": "linux",
            "kernel": platform.release(),
            "hostname": socket.gethostname(),
            "cgroupVersion": layout.version,
            "cgroupMode": layout.mode,
            "cgroupControllers": sorted(layout.v2_controllers if layout.version == "v2" else layout.v1_controllers),
            "cgroupPaths": {(k or "unified"): v for k, v in own_cgroups().items()},
            "uid": os.getuid(),
        },
        "store": {
            "graphRoot": str(cfg.root),
            "runRoot": str(cfg.runroot),
            "graphDriverName": drivers["storage"]["name"],
            "imageStore": {"number": _image_count(sess)},
        },
        "drivers": drivers,
        "plugins": {
            "hooks": [e.name for e in entries_in(HOOKS_GROUP)],
            "hooksLoaded": plugins.loaded_plugin_names(),
        },
        "configFiles": [str(p) for p in cfg.files],
        "version": version_data()["Client"],
    }


def info(ctx: typer.Context, format: FormatOpt = None) -> None:
    """Display capsa related system information."""
    output.emit_one(info_data(session(ctx)), format, output.to_yaml)


def version(format: FormatOpt = None) -> None:
    """Display the capsa version information."""

    def human(data: dict[str, Any]) -> str:
        c = data["Client"]
        rows = [("Version:", c["Version"]), ("Python Version:", c["PythonVersion"]), ("OS/Arch:", c["OsArch"])]
        return "".join(f"{k:<16}{v}\n" for k, v in rows)

    output.emit_one(version_data(), format, human)


def register(app: typer.Typer) -> None:
    """Add ``info``, ``version`` and the ``system`` group to the root app."""
    app.command("info")(info)
    app.command("version")(version)
    group = typer.Typer(help="Manage capsa", no_args_is_help=True)
    group.command("info")(info)
    from capsa.cli import system_ops

    system_ops.register(group)
    app.add_typer(group, name="system")
