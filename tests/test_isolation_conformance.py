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
