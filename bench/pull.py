"""Pull benchmarks against a local registry, side by side with podman when it is installed
(issue 10's goals):

- cold pull of a ~200 MB image of two gzip layers (incompressible file content, so the
  transfer is the size) into an empty store: goal at most 0.7x podman's time;
- pull of the same image when it is already present: goal at most 1.0x podman's;
- capsa's peak RSS during the cold pull (the CLI process, ``ru_maxrss``): goal under 100 MB.

A ``docker-registry`` (capsa.testing.registryserver) serves the image on 127.0.0.1; both
engines pull with ``--tls-verify=false`` into temporary stores of their own (podman's with
``--root``/``--runroot``), runs alternate, medians are compared. Before every cold pull the
stores are removed, dirty pages synced and, when this process may, the page cache dropped
(``/proc/sys/vm/drop_caches``), so neither engine finds the other's or its own data cached.
Usage: ``.venv/bin/python bench/pull.py [--runs N] [--size MB]``.
"""
from __future__ import annotations

import argparse
import gzip
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

from common import capsa_binary, isolated_env, podman_binary


def layer(total: int, files: int, seed: int) -> bytes:
    """A gzip layer of ``files`` files of random content, ``total`` bytes in all."""
    raw = io.BytesIO()
    rnd = __import__("random").Random(seed)
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data{seed}")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        for n in range(files):
            data = rnd.randbytes(total // files)
            info = tarfile.TarInfo(f"data{seed}/file{n:04d}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)


def drop_caches() -> None:
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
    except OSError:
        pass


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall time (ms) and peak RSS (KB) of the process itself (``ru_maxrss`` of the child)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    err = proc.stderr.read().decode().strip()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)} failed: {err}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="cold pulls per engine (warm pulls: twice as many)")
    parser.add_argument("--size", type=int, default=200, help="image size in MB (two layers, 3:1)")
    args = parser.parse_args()

    from capsa.testing.registryserver import RegistryServer
    from capsa.testing.registryupload import upload_image

    size = args.size << 20
    print(f"building a {args.size} MB image of two layers...", flush=True)
    tmp = tempfile.mkdtemp(prefix="capsa-bench-pull-")
    env = isolated_env(tmp)
    podman = podman_binary()
    try:
        with RegistryServer() as registry:
            # built and uploaded by a child process: this one stays small, since the engines
            # it forks start as copies of it and ru_maxrss counts the copy too
            import multiprocessing

            def build_and_upload() -> None:
                media = "application/vnd.oci.image.layer.v1.tar+gzip"
                layers = [layer(size * 3 // 4, 150, 1), layer(size // 4, 50, 2)]
                upload_image(registry, "bench/big", "1", [(data, media) for data in layers])

            child = multiprocessing.get_context("fork").Process(target=build_and_upload)
            child.start()
            child.join()
            if child.exitcode != 0:
                sys.exit("building or uploading the image failed")
            name = f"{registry.host}/bench/big:1"
            stores = {"capsa": [capsa_binary(), "--root", f"{tmp}/capsa-root", "--runroot", f"{tmp}/capsa-run"]}
            if podman:
                stores["podman"] = [podman, "--root", f"{tmp}/podman-root", "--runroot", f"{tmp}/podman-run",
                                    "--storage-driver", "overlay"]
            reset = {"capsa": [f"{tmp}/capsa-root", f"{tmp}/capsa-run"],
                     "podman": [f"{tmp}/podman-root", f"{tmp}/podman-run"]}
            cold: dict[str, list[float]] = {k: [] for k in stores}
            warm: dict[str, list[float]] = {k: [] for k in stores}
            rss: list[int] = []
            for _ in range(args.runs):
                for engine, base in stores.items():
                    if engine == "podman":
                        subprocess.run([*base, "system", "reset", "-f"], capture_output=True)
                    else:
                        subprocess.run([*base, "system", "reset", "-f"], capture_output=True, env=env)
                    for path in reset[engine]:
                        shutil.rmtree(path, ignore_errors=True)
                    drop_caches()
                    ms, kb = timed([*base, "pull", "--tls-verify=false", name], env)
                    cold[engine].append(ms)
                    if engine == "capsa":
                        rss.append(kb)
            os.sync()
            for _ in range(args.runs * 2):
                for engine, base in stores.items():
                    warm[engine].append(timed([*base, "pull", "--tls-verify=false", name], env)[0])
            for engine, base in stores.items():
                subprocess.run([*base, "system", "reset", "-f"], capture_output=True, env=env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    missed = []

    def row(what: str, times: dict[str, list[float]], goal: float) -> None:
        capsa_ms = statistics.median(times["capsa"])
        line = f"{what:<34}capsa {capsa_ms:8.0f} ms"
        if "podman" in times:
            podman_ms = statistics.median(times["podman"])
            ratio = capsa_ms / podman_ms
            line += f"   podman {podman_ms:8.0f} ms   ratio {ratio:5.2f}x (goal <= {goal}x)"
            if ratio > goal:
                missed.append(what)
        print(line)

    print(f"runs: {args.runs} cold, {args.runs * 2} warm (medians)")
    row(f"cold pull ({args.size} MB, 2 layers)", cold, 0.7)
    row("pull of an image already present", warm, 1.0)
    peak = max(rss) / 1024
    print(f"{'capsa peak RSS (cold pull)':<34}{peak:8.1f} MB (goal < 100 MB)")
    if peak >= 100:
        missed.append("peak RSS")
    if missed:
        sys.exit(f"goal missed: {', '.join(missed)}")


if __name__ == "__main__":
    main()
