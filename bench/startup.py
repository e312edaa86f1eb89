"""Start-up benchmark: ``capsa --version`` and ``capsa --help`` against a bare interpreter.

Goals: ``capsa --version`` within 1.5x of ``python -c pass`` in the same environment (issue 9),
``capsa --help`` within 4x (issue 2). Also shows a
full typer command (``capsa version``) and, when podman is installed, podman's own
``--version``/``--help`` for scale. Usage: ``.venv/bin/python bench/startup.py [--runs N]``.
Exits 1 when a goal is missed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile

from common import alternate, capsa_binary, isolated_env, podman_binary, report, time_once

GOALS = {"capsa --version": 1.5, "capsa --help": 4.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()
    capsa = capsa_binary()
    with tempfile.TemporaryDirectory() as tmp:
        env = isolated_env(tmp)
        cold = time_once([capsa, "--help"], env)  # renders through typer and fills the help cache
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "capsa --version": [capsa, "--version"],
            "capsa --help": [capsa, "--help"],
            "capsa version": [capsa, "version"],
        }
        podman = podman_binary()
        if podman:
            commands["podman --version"] = [podman, "--version"]
            commands["podman --help"] = [podman, "--help"]
        ratios = report(alternate(commands, args.runs, env), "python -c pass")
    print(f"first capsa --help (cache miss, renders with typer): {cold:.1f} ms")
    missed = [name for name, goal in GOALS.items() if ratios[name] > goal]
    for name in missed:
        print(f"GOAL MISSED: {name} is {ratios[name]:.2f}x a bare interpreter (goal {GOALS[name]}x)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
