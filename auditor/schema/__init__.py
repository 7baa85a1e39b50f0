"""The JSON Schema (draft 2020-12) of every `--format json` document, `ft-audit/1`.

Package data, so an installed ft-audit carries it; validating needs a JSON Schema library
(e.g. `jsonschema`), which ft-audit itself does not depend on:

    import jsonschema
    from auditor.schema import load_schema
    jsonschema.Draft202012Validator(load_schema()).validate(document)
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCHEMA_FILE = "ft-audit-1.schema.json"


def load_schema() -> dict[str, Any]:
    """The parsed schema document (a fresh copy on every call)."""
    return json.loads(resources.files(__name__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
