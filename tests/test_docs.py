"""The documentation's promises: pages exist, and the driver example is the tested package."""
from __future__ import annotations

import re

from conftest import REPO

DOCS = REPO / "docs"


def test_required_pages_exist_and_are_linked_from_the_index() -> None:
    index = (DOCS / "index.md").read_text()
    for page in ("configuration.md", "writing-a-driver.md", "hooks.md", "cli.md", "architecture.md",
                 "commands.md", "benchmarks.md", "images.md", "storage.md", "archives.md", "containers.md",
                 "registries.md"):
        assert (DOCS / page).is_file(), page
        assert f"({page})" in index, page


def test_writing_a_driver_shows_the_example_package_exactly() -> None:
    text = (DOCS / "writing-a-driver.md").read_text()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```\n", text, flags=re.S)
    package = REPO / "tests" / "plugins" / "capsa-tiny-driver"
    shown = {path for path, _ in blocks}
    files = {str(p.relative_to(package)) for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert shown == files
    for path, body in blocks:
        assert body == (package / path).read_text(), path


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^(bash scripts/setup\.sh && .+)$", readme, flags=re.M)
    assert len(commands) == 2
    ci = (REPO / ".ci" / "run").read_text()
    test_command = [c for c in commands if "pytest" in c]
    assert len(test_command) == 1 and test_command[0] in ci
