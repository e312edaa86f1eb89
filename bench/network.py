"""Bridge networking benchmark, side by side with podman when it is installed (issue 11's goal):

- ``run --rm busybox true`` on the default network (bridge) against ``podman run --rm
  localhost/busybox true`` (podman's default network, a bridge set up by netavark): goal at
  most 0.5x podman's time.
  ``--network none`` is measured too, for what the bridge adds.

capsa uses a temporary store (bench/common.py) and a bridge of the benchmark's own
(``capsab<random>``, a /24 in 10.100-10.199 that nothing on the host routes), removed at the
end with its firewall table; podman uses its own store, the ``localhost/busybox`` image that
../shared/tools/podman-setup.sh builds, and its own default network. Runs alternate; medians.
No traffic is sent anywhere. Usage: ``.venv/bin/python bench/network.py [--runs N]``.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import random
import secrets
import socket
import statistics
import struct
import sys
from pathlib import Path

from common import busybox_store, podman_binary, time_once


def free_subnet() -> str:
    routed = []
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        f = line.split()
        mask = socket.inet_ntoa(struct.pack("<I", int(f[7], 16)))
        if mask != "0.0.0.0":
            routed.append(ipaddress.IPv4Network(f"{socket.inet_ntoa(struct.pack('<I', int(f[1], 16)))}/{mask}", strict=False))
    for _ in range(200):
        net = ipaddress.IPv4Network(f"10.{random.randint(100, 199)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(r) for r in routed):
            return str(net)
    sys.exit("no free subnet for the benchmark's bridge")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    podman = podman_binary()
    bridge, subnet = "capsab" + secrets.token_hex(4), free_subnet()
    with busybox_store("capsa-bench-net-") as (env, capsa):
        config = Path(env["XDG_CONFIG_HOME"]) / "capsa" / "capsa.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(f'[network.options.bridge]\nbridge = "{bridge}"\nsubnet = "{subnet}"\n')
        root, runroot = capsa[2], capsa[4]
        try:
            cases = {
                # the default network, as a user runs it (the bridge and its nft table are made
                # and removed by every run, as podman's netavark does for its own)
                "run --rm (default)": ([*capsa, "run", "--rm", "busybox", "true"],
                                       [podman, "run", "--rm", "localhost/busybox", "true"] if podman else None),
                "run --rm none": ([*capsa, "run", "--rm", "--network", "none", "busybox", "true"],
                                  [podman, "run", "--rm", "--network", "none", "localhost/busybox", "true"] if podman else None),
            }
            for ours, theirs in cases.values():  # warm caches (and create the bridge once)
                time_once(ours, env)
                if theirs:
                    time_once(theirs)
            results = {name: {"capsa": [], "podman": []} for name in cases}
            for _ in range(args.runs):
                for name, (ours, theirs) in cases.items():
                    results[name]["capsa"].append(time_once(ours, env))
                    if theirs:
                        results[name]["podman"].append(time_once(theirs))
        finally:
            from capsa.drivers import load_driver

            load_driver("network", "bridge", {"bridge": bridge, "subnet": subnet}, root=root,
                        runroot=runroot).remove_network({})
    failures = []
    print(f"{'benchmark':<22}{'capsa ms':>10}{'podman ms':>11}{'ratio':>8}   goal")
    for name, res in results.items():
        ours = statistics.median(res["capsa"])
        theirs = statistics.median(res["podman"]) if res["podman"] else float("nan")
        ratio = ours / theirs if res["podman"] else float("nan")
        print(f"{name:<22}{ours:>10.1f}{theirs:>11.1f}{ratio:>7.2f}x   <= 0.50x")
        if res["podman"] and ratio > 0.5:
            failures.append(name)
    for name in failures:
        print(f"GOAL MISSED: {name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
