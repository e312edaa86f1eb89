"""Parity with podman 4.3: ``rmi`` and ``image rm``: messages, flags and exit codes (EXIT STATUS:
1 for an unknown image, 2 for an image a container uses) (tests/parity.py)."""
from __future__ import annotations

from parity import Case, parity_fixtures

ONE = ("create --name src {image} true", "commit -q src one")
FULL = r"[0-9a-f]{64}"

CASES = [
    Case("rmi", "rmi one", setup=ONE, stdout=rf"\AUntagged: localhost/one:latest\nDeleted: {FULL}\n\Z"),
    Case("image-rm", "image rm one", setup=ONE, stdout=rf"\AUntagged: localhost/one:latest\nDeleted: {FULL}\n\Z"),
    Case("rmi-by-id", "rmi {cid}", setup=ONE, stdout=rf"\AUntagged: localhost/one:latest\nDeleted: {FULL}\n\Z"),
    Case("rmi-one-of-two-names", "rmi two", setup=(*ONE, "tag one two"), stdout=r"\AUntagged: localhost/two:latest\n\Z"),
    Case("rmi-id-of-two-names", "rmi {cid}", setup=(*ONE, "tag one two"), code=125,
         stderr=r'^Error: unable to delete image "[0-9a-f]{64}" by ID with more than one tag '
                r'\(\[localhost/one:latest localhost/two:latest\]\): please force removal$'),
    Case("rmi-force-id-of-two-names", "rmi -f {cid}", setup=(*ONE, "tag one two"),
         stdout=rf"\AUntagged: localhost/one:latest\nUntagged: localhost/two:latest\nDeleted: {FULL}\n\Z"),
    Case("rmi-unknown", "rmi nosuch", code=1, stderr=r"^Error: nosuch: image not known", stdout=r"\A\Z"),
    Case("rmi-unknown-and-known", "rmi nosuch one", setup=ONE, code=1, stderr=r"^Error: nosuch: image not known",
         stdout=rf"\AUntagged: localhost/one:latest\nDeleted: {FULL}\n\Z"),
    Case("rmi-ignore", "rmi --ignore nosuch", stdout=r"\A\Z", stderr=r"\A\Z"),
    Case("rmi-i", "rmi -i nosuch one", setup=ONE, stdout=rf"\AUntagged: localhost/one:latest\nDeleted: {FULL}\n\Z"),
    Case("image-rm-force-unknown", "image rm --force nosuch", stdout=r"\A\Z"),
    Case("rmi-f-unknown", "rmi -f nosuch", stdout=r"\A\Z"),
    Case("rmi-in-use", "rmi one", setup=(*ONE, "create one true"), code=2,
         stderr=r"^Error: image used by [0-9a-f]{64}: image is in use by a container"),
    Case("rmi-in-use-force", "rmi -f one", setup=(*ONE, "create one true"),
         stdout=rf"\AUntagged: localhost/one:latest\nDeleted: {FULL}\n\Z"),
    Case("rmi-no-prune", "rmi --no-prune one", setup=ONE, stdout=rf"\AUntagged: localhost/one:latest\nDeleted: {FULL}\n\Z"),
    Case("rmi-nothing", "rmi", code=125),
    Case("rmi-all-and-name", "rmi -a one", setup=ONE, code=125),
]

store, podman_store, test_parity = parity_fixtures("rmi", CASES)
