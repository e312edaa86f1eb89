"""The isolation conformance suite over both built-in drivers: ``linux`` and ``oci`` (with crun
and with runc), on real containers from the core's bundles."""
from __future__ import annotations

from capsa.testing.isolation import IsolationConformance


class TestLinuxConformance(IsolationConformance):
    name = "linux"


class TestOciCrunConformance(IsolationConformance):
    name = "oci"
    options = {"runtime": "crun"}


class TestOciRuncConformance(IsolationConformance):
    name = "oci"
    options = {"runtime": "runc"}


def test_the_suites_bundles_are_valid_oci_runtime_configs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What every driver above ran: the core's config.json, valid against the runtime-spec
    schemas, with the security sections resolved (no conditions left for a runtime to know)."""
    import json

    from capsa.testing.isolation import busybox_bundle
    from oci_runtime_schema import assert_runtime_valid

    for n, extra in enumerate(({}, {"tty": True}, {"cap_add": ["SYS_ADMIN"], "memory": 64 << 20})):
        (tmp_path / str(n)).mkdir()
        spec = json.loads((busybox_bundle(tmp_path / str(n), ["true"], **extra) / "config.json").read_text())
        assert_runtime_valid(spec)
        seccomp = spec["linux"]["seccomp"]
        assert all(set(rule) <= {"names", "action", "errnoRet", "args"} for rule in seccomp["syscalls"])
        assert {d["path"] for d in spec["linux"]["devices"]} >= {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/tty"}
