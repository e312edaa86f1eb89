"""Parity with podman 4.3: ``images`` (``image ls``/``image list``), ``image inspect``,
``image exists``, ``tag``/``untag`` and ``image prune``, flag by flag (tests/parity.py).

Cases that add names commit an image of their own first: the cleanup between cases removes every
image but busybox by id, so busybox itself must never get a second name.
"""
from __future__ import annotations

import json

from parity import Case, parity_fixtures

HEADER = ("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")
# An image of the case's own, "one" (``{cid}``: its id, as commit -q prints it).
ONE = ("create --name src {image} true", "commit -q src one")
ID = r"[0-9a-f]{12}"
JSON_KEYS = {"Id", "ParentId", "RepoTags", "RepoDigests", "Size", "SharedSize", "VirtualSize", "Labels", "Containers",
             "Names", "Digest", "History", "Created", "CreatedAt"}
INSPECT_KEYS = {"Id", "Digest", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Config", "Version", "Author",
                "Architecture", "Os", "Size", "VirtualSize", "GraphDriver", "RootFS", "Labels", "Annotations",
                "ManifestType", "User", "History", "NamesHistory"}


def no_tabs(r) -> None:  # type: ignore[no-untyped-def]
    assert "\t" not in r.stdout, r.stdout


CASES = [
    # images: columns, the NAME argument, --noheading, -q, --no-trunc, -a, --digests
    Case("images-columns", "images", header=HEADER),
    Case("image-ls", "image ls", header=HEADER),
    Case("image-list", "image list", header=HEADER),
    Case("images-name", "images {image}", stdout=rf"^localhost/busybox\s+latest\s+{ID}\s", lines=2),
    Case("images-name-unknown", "images nosuch", header=HEADER, lines=1),
    Case("images-name-pattern", "images busy*", lines=2),
    Case("images-two-names", "images a b", code=125, stderr=r"^Error: accepts at most 1 arg\(s\), received 2$"),
    Case("images-noheading", "images --noheading {image}", stdout=rf"\Alocalhost/busybox  latest      {ID}  ",
         lines=1, check=no_tabs),
    Case("images-n", "images -n", stdout=r"^localhost/busybox ", lines=1),
    Case("images-quiet", "images -q", stdout=rf"\A{ID}\n\Z"),
    Case("images-quiet-no-trunc", "images -q --no-trunc", stdout=r"\Asha256:[0-9a-f]{64}\n\Z"),
    Case("images-no-trunc", "images --no-trunc", stdout=r"^localhost/busybox\s+latest\s+sha256:[0-9a-f]{64}\s"),
    Case("images-all", "images -a --format {{.Repository}}", stdout=r"^localhost/busybox$"),
    Case("images-digests", "images --digests", header=("REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"),
         stdout=r"^localhost/busybox\s+latest\s+sha256:[0-9a-f]{64}\s"),
    # --format: podman's fields and table headers, json keys
    Case("images-format-fields", "images --format {{.Repository}}|{{.Tag}}|{{.ID}}|{{.Size}}|{{.Digest}} {image}",
         stdout=rf"\Alocalhost/busybox\|latest\|{ID}\|[\d.]+ [kM]B\|sha256:[0-9a-f]{{64}}\n\Z"),
    Case("images-format-created", "images --format {{.CreatedSince}}|{{.CreatedAt}} {image}",
         stdout=r"\A[\w ]+ ago\|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC\n\Z"),
    Case("images-format-no-labels", "images --format {{.Labels}} {image}", stdout=r"\Amap\[\]\n\Z"),
    Case("images-format-labels", "images --format {{.Labels}} one", stdout=r"\Amap\[a:b\]\n\Z",
         setup=("create --name src {image} true", "commit -q -c 'LABEL a=b' src one")),
    Case("images-format-table", "images --format 'table {{.ID}}\t{{.Size}}'", header=("IMAGE ID", "SIZE")),
    Case("images-format-table-noheading", "images --noheading --format 'table {{.Repository}}\t{{.Tag}}'",
         stdout=r"\Alocalhost/busybox  latest\n\Z"),
    Case("images-format-table-spaces", "images --format 'table {{.Repository}} {{.Tag}}'", header=("REPOSITORY", "TAG")),
    Case("images-format-table-spaces-noheading", "images --noheading --format 'table {{.Repository}} {{.Tag}}'",
         stdout=r"\Alocalhost/busybox  latest\n\Z"),
    Case("images-json", "images --format json", keys=JSON_KEYS),
    Case("images-json-per-name", "images --format json", setup=(*ONE, "tag one two"),  # (podman 4.3: a document per row)
         check=lambda r: [d["Names"] for d in json.loads(r.stdout)].count(["localhost/one:latest", "localhost/two:latest"]) == 2),
    Case("images-bad-template", "images --format {{.Nope}}", code=125, stderr=r"^Error: template: "),
    # --sort
    Case("images-sort-repository", "images --sort repository --format {{.Repository}}:{{.Tag}}",
         stdout=r"\Alocalhost/busybox:latest\nlocalhost/one:latest\nlocalhost/zed:a\n\Z", setup=(*ONE, "tag one zed:a")),
    Case("images-sort-tag", "images --sort tag --format {{.Repository}}:{{.Tag}}",  # (podman's order of ties varies)
         stdout=r"\Alocalhost/zed:a\n", lines=3, setup=(*ONE, "tag one zed:a")),
    Case("images-sort-created", "images --sort created --format {{.Repository}}",
         stdout=r"\Alocalhost/one\nlocalhost/busybox\n\Z", setup=ONE),
    Case("images-sort-size", "images --sort size --format {{.Repository}}", lines=2, setup=ONE),
    Case("images-sort-id", "images --sort id -q --no-trunc",
         check=lambda r: r.stdout.split() == sorted(r.stdout.split()), setup=ONE),
    Case("images-sort-bad", "images --sort bogus", code=125,
         stderr=r'^Error: "bogus" is not a valid field for sorting. Choose from: '),
    # --history: the image's names, latest first
    Case("images-history", "images --history one", header=(*HEADER, "HISTORY"),
         stdout=r"localhost/two:latest, localhost/one:latest$", setup=(*ONE, "tag one two")),
    Case("images-history-field", "images --format {{.History}} two",
         stdout=r"\Alocalhost/two:latest, localhost/one:latest\n\Z", setup=(*ONE, "tag one two", "untag one localhost/one:latest")),
    # --filter
    Case("images-filter-reference", "images --filter reference=one -q", lines=1, setup=ONE),
    Case("images-filter-label", "images --filter label=a=b --format {{.Repository}}", stdout=r"\Alocalhost/one\n\Z",
         setup=("create --name src {image} true", "commit -q -c 'LABEL a=b' src one")),
    Case("images-filter-label-not", "images --filter label!=a=b --format {{.Repository}}",
         stdout=r"\Alocalhost/busybox\n\Z", setup=("create --name src {image} true", "commit -q -c 'LABEL a=b' src one")),
    Case("images-filter-dangling", "images --filter dangling=true", lines=1),
    Case("images-filter-before", "images --filter before=one --format {{.Repository}}", stdout=r"\Alocalhost/busybox\n\Z",
         setup=ONE),
    Case("images-filter-since", "images --filter since={image} --format {{.Repository}}", stdout=r"\Alocalhost/one\n\Z",
         setup=ONE),
    Case("images-filter-after", "images --filter after={image} --format {{.Repository}}", stdout=r"\Alocalhost/one\n\Z",
         setup=ONE),
    Case("images-filter-until", "images --filter until=2000-01-01T00:00:00Z", lines=1),
    Case("images-filter-containers", "images --filter containers=true --format {{.Repository}}",
         check=lambda r: sorted(r.stdout.split()) == ["localhost/busybox", "localhost/one"], setup=(*ONE, "create one true")),
    Case("images-filter-containers-false", "images --filter containers=false --format {{.Repository}}",
         stdout=r"\Alocalhost/one\n\Z", setup=ONE),
    Case("images-filter-readonly", "images --filter readonly=true", lines=1),
    Case("images-filter-manifest", "images --filter manifest=true", lines=1),
    Case("images-filter-id", "images --filter id={cid} -q --no-trunc", stdout=r"\Asha256:[0-9a-f]{64}\n\Z",
         setup=ONE, lines=1),
    Case("images-filter-bad", "images --filter bogus=1", code=125, stderr=r'^Error: unsupported image filter "bogus"'),
    # image inspect, image exists
    Case("inspect-id", "image inspect --format {{.ID}} {image}", stdout=r"\A[0-9a-f]{64}\n\Z"),
    Case("inspect-digest", "image inspect --format {{.Digest}} {image}", stdout=r"\Asha256:[0-9a-f]{64}\n\Z"),
    Case("inspect-keys", "image inspect {image}", keys=INSPECT_KEYS),
    Case("inspect-fields", "image inspect --format '{{.Os}} {{.RepoTags}} {{.Config.Cmd}}' {image}",
         stdout=r"\Alinux \[localhost/busybox:latest\] \[/bin/sh\]\n\Z"),
    Case("inspect-volumes", "image inspect --format '{{.Config.Volumes}} {{.Config.ExposedPorts}}' one",
         stdout=r"\Amap\[/vol:\{\}\] map\[80/tcp:\{\}\]\n\Z",
         setup=("create --name src {image} true", "commit -q -c 'VOLUME /vol' -c 'EXPOSE 80' src one")),
    Case("inspect-unknown", "image inspect nosuch", code=125, stderr=r"^Error: inspecting object: nosuch: image not known"),
    Case("exists", "image exists {image}"),
    Case("exists-unknown", "image exists nosuch", code=1, stdout=r"\A\Z"),
    # tag, untag
    Case("tag", "tag one two three:v1", setup=ONE, stdout=r"\A\Z"),
    Case("image-tag", "image tag one two", setup=ONE, stdout=r"\A\Z"),
    Case("tag-unknown", "tag nosuch x", code=125, stderr=r"^Error: nosuch: image not known"),
    Case("untag-all", "untag one", setup=(*ONE, "tag one two"), stdout=r"\A\Z"),
    Case("untag-name", "image untag one two", setup=(*ONE, "tag one two"), stdout=r"\A\Z"),
    Case("untag-not-a-tag", "untag one nosuch:v2", setup=ONE, code=125,
         stderr=r"^Error: localhost/nosuch:v2: tag not known"),
    Case("untag-unknown", "untag nosuch", code=125, stderr=r"^Error: nosuch: image not known"),
    # image prune
    Case("prune", "image prune -f", stdout=r"\A\Z"),
    Case("prune-dangling", "image prune -f", stdout=r"\A[0-9a-f]{64}\n\Z", setup=(*ONE, "untag one")),
    Case("prune-external", "image prune -f --external", stdout=r"\A\Z"),
    Case("prune-all-filter", "image prune -a -f --filter until=2000-01-01T00:00:00Z", stdout=r"\A\Z"),
    Case("prune-all-filter-label", "image prune -a -f --filter label=a=b", stdout=r"\A[0-9a-f]{64}\n\Z",
         setup=("create --name src {image} true", "commit -q -c 'LABEL a=b' src one", "rm src")),
]

store, podman_store, test_parity = parity_fixtures("images", CASES)
