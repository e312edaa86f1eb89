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
import sys

from common import bridge_store, podman_binary, print_ratios, side_by_side


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    podman = podman_binary()
    with bridge_store("capsa-bench-net-") as (env, capsa):
        cases = {
            # the default network, as a user runs it (the bridge and its nft table are made
            # and removed by every run, as podman's netavark does for its own)
            "run --rm (default)": ([*capsa, "run", "--rm", "busybox", "true"],
                                   [podman, "run", "--rm", "localhost/busybox", "true"] if podman else None),
            "run --rm none": ([*capsa, "run", "--rm", "--network", "none", "busybox", "true"],
                              [podman, "run", "--rm", "--network", "none", "localhost/busybox", "true"] if podman else None),
        }
        results = side_by_side(cases, args.runs, env)  # (its warm-up run creates the bridge once)
    failures = print_ratios(results)
    for name in failures:
        print(f"GOAL MISSED: {name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
