"""What every benchmark shares: timing commands in alternation and reporting ratios."""
from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


def capsa_binary() -> str:
    """The ``capsa`` next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / "capsa"
    found = str(local) if local.exists() else shutil.which("capsa")
    if not found:
        sys.exit("capsa is not installed: run 'bash scripts/setup.sh' first")
    return found


def podman_binary() -> str | None:
    return shutil.which("podman")


def time_once(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one run in milliseconds; a failing command aborts the benchmark."""
    start = time.perf_counter()
    proc = subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode().strip()}")
    return elapsed


def alternate(commands: dict[str, Sequence[str]], runs: int, env: dict[str, str] | None = None) -> dict[str, list[float]]:
    """Run every command once per round, ``runs`` rounds, so drift hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(time_once(argv, env))
    return times


def side_by_side(cases: dict[str, tuple[Sequence[str], Sequence[str] | None]], runs: int,
                 env: dict[str, str] | None = None) -> dict[str, dict[str, list[float]]]:
    """``cases``: name -> (capsa's argv, podman's argv or None). Each runs once to warm caches,
    then all alternate for ``runs`` rounds (capsa's with ``env``); the times in
    :func:`print_ratios`' shape."""
    for ours, theirs in cases.values():
        time_once(ours, env)
        if theirs:
            time_once(theirs)
    results: dict[str, dict[str, list[float]]] = {name: {"capsa": [], "podman": []} for name in cases}
    for _ in range(runs):
        for name, (ours, theirs) in cases.items():
            results[name]["capsa"].append(time_once(ours, env))
            if theirs:
                results[name]["podman"].append(time_once(theirs))
    return results


def report(times: dict[str, list[float]], baseline: str) -> dict[str, float]:
    """Print median and best per command and the median ratio to ``baseline``; return ratios."""
    base = statistics.median(times[baseline])
    ratios = {}
    print(f"{'command':<28}{'median ms':>10}{'best ms':>10}{'ratio':>8}")
    for name, values in times.items():
        med = statistics.median(values)
        ratios[name] = med / base
        print(f"{name:<28}{med:>10.1f}{min(values):>10.1f}{ratios[name]:>7.2f}x")
    return ratios


def isolated_env(tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPSA_")}
    env["CAPSA_CACHE_DIR"] = os.path.join(tmp, "cache")
    env["XDG_CONFIG_HOME"] = os.path.join(tmp, "config")
    return env


@contextlib.contextmanager
def busybox_store(prefix: str) -> Iterator[tuple[dict[str, str], list[str]]]:
    """A temporary capsa store holding scripts/busybox-image.sh's busybox image, synced to disk:
    yields (the environment to run capsa in, ``capsa --root R --runroot RR``); removed at the end.

    podman's image was built long before and sits on disk; capsa's was just extracted and is
    still in the page cache, dirty. Until the kernel writes it back, every fsync waits on that
    writeback (measured: capsa's `create` 22.9 ms before a sync, 15.7 after), so it is settled
    first and both engines measure their own work."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    env = isolated_env(str(tmp))
    capsa = [capsa_binary(), "--root", str(tmp / "root"), "--runroot", str(tmp / "run")]
    try:
        subprocess.run(["bash", str(Path(__file__).resolve().parent.parent / "scripts" / "busybox-image.sh"),
                        "--root", str(tmp / "root"), "--runroot", str(tmp / "run")], check=True,
                       env=dict(env, CAPSA=capsa[0]), stdout=subprocess.DEVNULL)
        os.sync()
        yield env, capsa
    finally:
        subprocess.run([*capsa, "system", "reset", "-f"], capture_output=True, env=env)
        shutil.rmtree(tmp, ignore_errors=True)


def free_subnet() -> str:
    """A /24 in 10.100-10.199 that nothing on the host routes, for a benchmark's own bridge."""
    import ipaddress
    import random
    import socket
    import struct

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


@contextlib.contextmanager
def bridge_store(prefix: str) -> Iterator[tuple[dict[str, str], list[str]]]:
    """:func:`busybox_store` whose default network has a bridge and subnet of the benchmark's
    own (``capsab<random>``, :func:`free_subnet`), removed at the end with its firewall table."""
    import secrets

    bridge, subnet = "capsab" + secrets.token_hex(4), free_subnet()
    with busybox_store(prefix) as (env, capsa):
        config = Path(env["XDG_CONFIG_HOME"]) / "capsa" / "capsa.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(f'[network.options.bridge]\nbridge = "{bridge}"\nsubnet = "{subnet}"\n')
        try:
            yield env, capsa
        finally:
            from capsa.drivers import load_driver

            load_driver("network", "bridge", {"bridge": bridge, "subnet": subnet}, root=capsa[2],
                        runroot=capsa[4]).remove_network({})


def print_ratios(results: dict[str, dict[str, list[float]]], goal: float = 0.5) -> list[str]:
    """Print each benchmark's median times (capsa's, podman's) and their ratio against
    ``goal``; returns the names that missed it."""
    failures = []
    print(f"{'benchmark':<22}{'capsa ms':>10}{'podman ms':>11}{'ratio':>8}   goal")
    for name, res in results.items():
        ours = statistics.median(res["capsa"])
        theirs = statistics.median(res["podman"]) if res["podman"] else float("nan")
        ratio = ours / theirs if res["podman"] else float("nan")
        print(f"{name:<22}{ours:>10.1f}{theirs:>11.1f}{ratio:>7.2f}x   <= {goal:.2f}x")
        if res["podman"] and ratio > goal:
            failures.append(name)
    return failures
