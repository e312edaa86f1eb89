"""Parity with podman 4.3: ``history`` and ``image history`` (tests/parity.py)."""
from __future__ import annotations

import json

from parity import Case, parity_fixtures

HEADER = ("ID", "CREATED", "CREATED BY", "SIZE", "COMMENT")


def history_json(r) -> None:  # type: ignore[no-untyped-def]
    """podman's keys, on one line, whole ids and commands."""
    assert r.stdout.count("\n") == 1, r.stdout
    rows = json.loads(r.stdout)
    assert [sorted(row) for row in rows] == [sorted(["id", "created", "CreatedBy", "size", "comment", "Created"])]
    row = rows[0]
    assert len(row["id"]) == 64 and isinstance(row["size"], int) and row["CreatedBy"].endswith(" in /"), row
    assert row["Created"].endswith("Z") and len(row["Created"]) == 20, row


CASES = [
    Case("history-columns", "history {image}", header=HEADER, lines=2),
    Case("image-history", "image history {image}", header=HEADER, stdout=r"^[0-9a-f]{12}  .* ago\s+/bin/sh -c #\(nop\) ADD file:"),
    Case("history-truncated", "history {image}", stdout=r"  /bin/sh -c #\(nop\) ADD file:[0-9a-f]{15}\.\.\.  "),
    Case("history-no-trunc", "history --no-trunc {image}", stdout=r"^[0-9a-f]{64}  .* in /  "),
    Case("history-quiet", "history -q {image}", stdout=r"\A[0-9a-f]{12}\n\Z"),
    Case("history-quiet-no-trunc", "history -q --no-trunc {image}", stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("history-json", "history --format json {image}", check=history_json),
    Case("history-human-false", "history --human=false --format {{.Created}} {image}",
         stdout=r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n\Z"),
    Case("history-human", "history --human --format {{.Created}}|{{.Size}} {image}", stdout=r"\A.* ago\|[\d.]+ [kM]B\n\Z"),
    Case("history-format", "history --format '{{.ID}}|{{.CreatedAt}}|{{.Comment}}' {image}",
         stdout=r"\A[0-9a-f]{12}\|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC\|imported from tarball\n\Z"),
    Case("history-table", "history --format 'table {{.ID}}\t{{.Size}}' {image}", header=("ID", "SIZE")),
    Case("history-commit", "history --format {{.Comment}}|{{.CreatedBy}} one",
         stdout=r"\AFROM localhost/busybox:latest\|/bin/sh\nimported from tarball\|/bin/sh -c #\(nop\) ADD file:",
         setup=("create --name src {image} touch /x", "commit -q -m hello -f docker src one")),
    Case("history-unknown", "history nosuch", code=125, stderr=r"^Error: nosuch: image not known"),
]

store, podman_store, test_parity = parity_fixtures("history", CASES)
