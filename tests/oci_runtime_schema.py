"""Validators for the OCI runtime-spec JSON Schemas in ../shared/conformance/oci-runtime-schema.

The runtime schemas are draft-04 and, unlike the image-spec ones, carry no ``"id"``: their
``$ref``s are bare file names (``defs.json#/definitions/uint32``, ``config-linux.json#/linux``)
resolved against the referring file. The registry therefore holds every file under its own file
``file:`` URI, the schema validated against is given that URI as its ``id`` (its base), and any
other URI is resolved by its last path segment (the same trick as :mod:`oci_schema`).

Usage: ``assert_runtime_valid(spec)`` (config.json), ``runtime_validator("state-schema.json")``;
both skip when the corpus is absent.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from conftest import conformance_dir

CORPUS = "oci-runtime-schema"


@lru_cache(maxsize=None)
def _registry(folder: Path) -> Any:
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT4

    def load(path: Path) -> Resource:
        return Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT4)

    def retrieve(uri: str) -> Resource:
        path = folder / uri.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if not path.is_file():
            raise NoSuchResource(ref=uri)
        return load(path)

    resources = [(path.as_uri(), load(path)) for path in sorted(folder.glob("*.json"))]
    return Registry(retrieve=retrieve).with_resources(resources)


def runtime_validator(schema_file: str = "config-schema.json") -> Any:
    """A Draft-4 validator (with format checks) for one schema file of the OCI runtime spec."""
    from jsonschema import Draft4Validator

    folder = conformance_dir(CORPUS)
    path = folder / schema_file
    schema = {**json.loads(path.read_text()), "id": path.as_uri()}  # the base for its relative $refs
    return Draft4Validator(schema, registry=_registry(folder), format_checker=Draft4Validator.FORMAT_CHECKER)


def runtime_errors(doc: Any, schema_file: str = "config-schema.json") -> list[str]:
    """Every violation of ``schema_file`` by ``doc``, as "path: message" strings."""
    errors = sorted(runtime_validator(schema_file).iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def assert_runtime_valid(doc: Any, schema_file: str = "config-schema.json") -> None:
    """Fail with every schema violation listed when ``doc`` is not a valid runtime ``config.json``."""
    errors = runtime_errors(doc, schema_file)
    assert not errors, f"{schema_file}: " + "; ".join(errors)
