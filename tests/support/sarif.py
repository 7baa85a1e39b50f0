"""The OASIS SARIF 2.1.0 schema (tests/fixtures/source/sarif-schema-2.1.0.json, see
SARIF-SCHEMA-ORIGIN.md there) and a validator, for every command's `--format sarif`."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parent.parent / "fixtures" / "source" / "sarif-schema-2.1.0.json"


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def validate_sarif(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `doc` is valid SARIF 2.1.0 (the schema is draft 4)."""
    import jsonschema

    jsonschema.Draft4Validator(schema()).validate(doc)
