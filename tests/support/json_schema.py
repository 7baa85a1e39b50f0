"""Validate a document against the shipped `ft-audit/1` JSON Schema (auditor/schema)."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema

from auditor.schema import load_schema


@functools.cache
def _validator(document: str | None) -> jsonschema.Draft202012Validator:
    schema = load_schema()
    if document is not None:       # one command's document: its own $defs entry, for a precise error
        schema = {k: schema[k] for k in ("$schema", "$id", "$defs")} | {"$ref": f"#/$defs/{document}_document"}
    return jsonschema.Draft202012Validator(schema)


def schema_errors(doc: Any, document: str | None = None) -> list[str]:
    """Every violation as "path: message" (empty when valid); `document` e.g. "wheel", "env"."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in _validator(document).iter_errors(doc)]


def assert_valid(doc: Any, document: str) -> None:
    """Valid as the named command's document, and as an ft-audit/1 document in general."""
    errors = schema_errors(doc, document)
    assert not errors, "\n".join(errors[:10])
    best = jsonschema.exceptions.best_match(_validator(None).iter_errors(doc))
    assert best is None, best.message
