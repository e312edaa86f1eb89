"""Throughput through a published port (issue 11's goal: within 2x of podman's).

A busybox ``httpd`` in a container serves a large file (a host temporary directory bound
read-only at /var/www) on container port 80, published on a free host port; a plain Python
HTTP client GETs it through 127.0.0.1 (so through the DNAT of the output hook, route_localnet
and the masquerade) several times; the median MB/s is reported. The same with podman (its
default bridge network, netavark; the ``localhost/busybox`` image) when it is installed.

capsa uses a temporary store (bench/common.py) and a bridge of its own (``capsab<random>``, a
free /24 in 10.100-10.199), removed at the end with its firewall tables. Traffic goes to
127.0.0.1 only. Usage: ``.venv/bin/python bench/ports.py [--size-mb N] [--runs N]``.
"""
from __future__ import annotations

import argparse
import http.client
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from common import bridge_store, podman_binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_rate(port: int, size: int) -> float:
    """One GET of /big through 127.0.0.1:port; MB/s."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/big")
    resp = conn.getresponse()
    got = 0
    while True:
        chunk = resp.read(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    conn.close()
    elapsed = time.perf_counter() - start
    if got != size:
        raise RuntimeError(f"got {got} bytes of {size}")
    return size / elapsed / 1e6


def wait_ready(port: int, size: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            get_rate(port, size)
            return
        except (OSError, RuntimeError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def measure(start: list[str], stop: list[str], env: dict[str, str] | None, port: int, size: int, runs: int) -> list[float]:
    subprocess.run(start, env=env, check=True, capture_output=True)
    try:
        wait_ready(port, size)
        return [get_rate(port, size) for _ in range(runs)]
    finally:
        subprocess.run(stop, env=env, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mb << 20
    podman = podman_binary()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="capsa-bench-ports-") as www:
        with open(os.path.join(www, "big"), "wb") as f:
            for _ in range(args.size_mb):
                f.write(os.urandom(1 << 20))
        os.chmod(www, 0o755)
        serve = ["-v", f"{www}:/var/www:ro"]
        httpd = ["httpd", "-f", "-p", "80", "-h", "/var/www"]
        with bridge_store("capsa-bench-ports-") as (env, capsa):
            port = free_port()
            results["capsa"] = measure([*capsa, "run", "-d", "--name", "web", "--network", "bridge", "-p", f"{port}:80",
                                        *serve, "busybox", *httpd], [*capsa, "rm", "-f", "web"], env, port, size, args.runs)
        if podman:
            name = "capsa-bench-ports-" + secrets.token_hex(3)
            port = free_port()
            results["podman"] = measure([podman, "run", "-d", "--name", name, "-p", f"{port}:80", *serve,
                                         "localhost/busybox", *httpd], [podman, "rm", "-f", name], None, port, size, args.runs)
    print(f"GET of {args.size_mb} MB through a published port on 127.0.0.1, median of {args.runs}")
    for who, rates in results.items():
        print(f"  {who:<8}{statistics.median(rates):>10.0f} MB/s   (min {min(rates):.0f}, max {max(rates):.0f})")
    if "podman" in results:
        ratio = statistics.median(results["podman"]) / statistics.median(results["capsa"])
        print(f"  podman/capsa throughput: {ratio:.2f}x (goal: capsa within 2x, i.e. <= 2.00x)")
        return 0 if ratio <= 2 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
