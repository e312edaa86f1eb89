"""The ``recorder`` network driver: gives containers a namespace with loopback (like ``none``)
and appends one JSON line per call to the file its ``log`` option names: the operation, the
container, and what the driver could see of the namespace. With ``fail_add`` its ``add`` fails
after it half set up (it still records the call)."""
from __future__ import annotations

import json
import os
from typing import Any

from capsa.drivers.base import Option
from capsa.drivers.network import AttachResult, NetworkDriver
from capsa.errors import NetworkError


class RecorderDriver(NetworkDriver):
    OPTIONS = {
        "log": Option(str, "", "file to append one JSON line per call to"),
        "fail_add": Option(bool, False, "make add fail"),
    }

    def _record(self, op: str, **fields: Any) -> None:
        with open(self.options["log"], "a") as fh:
            fh.write(json.dumps({"op": op, "pid": os.getpid(), **fields}) + "\n")

    def _netns(self, netns: str | None) -> dict[str, Any]:
        if netns is None:
            return {"netns": None}
        try:
            inode = os.stat(netns).st_ino
        except OSError:
            return {"netns": netns, "exists": False}
        return {"netns": netns, "exists": True, "own": inode != os.stat("/proc/self/ns/net").st_ino,
                "inode": inode}

    def add(self, attachment: Any) -> AttachResult:
        self._record("add", id=attachment.container_id, name=attachment.container_name,
                     **self._netns(attachment.netns))
        if self.options["fail_add"]:
            raise NetworkError("recorder: add failed as asked", hint="unset fail_add")
        return AttachResult(interfaces=[{"name": "lo"}], ips=["127.0.0.1/8"])

    def delete(self, attachment: Any) -> None:
        self._record("delete", id=attachment.container_id, name=attachment.container_name,
                     **self._netns(attachment.netns))

    def check(self, attachment: Any) -> None:
        self._record("check", id=attachment.container_id)

    def gc(self, live: Any) -> None:
        self._record("gc", live=sorted(live))

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = f"records calls to {self.options['log'] or '(nowhere)'}"
        return out
