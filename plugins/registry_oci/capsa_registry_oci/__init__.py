"""The ``oci`` registry driver: an OCI distribution-spec client on requests."""
from __future__ import annotations

import importlib.util
from typing import Any

from capsa.drivers.base import Option, refuse_unimplemented
from capsa.drivers.registry import RegistryDriver
from capsa.errors import DriverNotSupported


@refuse_unimplemented("pulling and pushing land with the registry issue")
class OciRegistryDriver(RegistryDriver):
    OPTIONS = {
        "timeout": Option(int, 30, "seconds to wait for a registry to answer"),
        "insecure": Option(list, [], "registries reached over plain HTTP or with unverified TLS"),
    }

    def check_host(self) -> None:
        if importlib.util.find_spec("requests") is None:
            raise DriverNotSupported("requests is not installed", hint="pip install requests")

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = f"OCI distribution client, timeout {self.options['timeout']}s"
        return out
