"""Validators for the OCI image-spec JSON Schemas in ../shared/conformance/oci-image-schema.

The schemas are draft-04 and name themselves with ``"id"`` (e.g. the manifest schema is
``https://opencontainers.org/schema/image/manifest``), while their ``$ref``s are file names
relative to whatever base is in scope (``defs-descriptor.json``, ``content-descriptor.json``), so
one file is reached under several URIs (``.../schema/defs-descriptor.json``,
``.../schema/image/defs-descriptor.json``). The registry therefore holds every file under its own
id and resolves any other URI by its last path segment, as image-spec's own loader does.

Usage: ``oci_validator("image-manifest-schema.json").validate(doc)`` or
``assert_oci_valid("config-schema.json", doc)``; both skip when the corpus is absent.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from conftest import conformance_dir

SCHEMAS = ("config-schema.json", "content-descriptor.json", "image-index-schema.json",
           "image-layout-schema.json", "image-manifest-schema.json")


@lru_cache(maxsize=None)
def _registry(folder: Path) -> Any:
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT4

    def load(path: Path) -> Resource:
        return Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT4)

    def retrieve(uri: str) -> Resource:
        path = folder / uri.rstrip("/").rsplit("/", 1)[-1]
        if not path.is_file():
            raise NoSuchResource(ref=uri)
        return load(path)

    resources = []
    for path in sorted(folder.glob("*.json")):
        resource = load(path)
        if resource.id():
            resources.append((resource.id(), resource))
    return Registry(retrieve=retrieve).with_resources(resources)


def oci_validator(schema_file: str) -> Any:
    """A Draft-4 validator (with format checks) for one schema file of the OCI image spec."""
    from jsonschema import Draft4Validator

    folder = conformance_dir("oci-image-schema")
    schema = json.loads((folder / schema_file).read_text())
    return Draft4Validator(schema, registry=_registry(folder), format_checker=Draft4Validator.FORMAT_CHECKER)


def assert_oci_valid(schema_file: str, doc: Any) -> None:
    """Fail with every schema violation listed (path and message) when ``doc`` is not valid."""
    errors = sorted(oci_validator(schema_file).iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, f"{schema_file}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)
