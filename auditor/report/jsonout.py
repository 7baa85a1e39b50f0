"""JSON rendering shared by every command: stable key order, the schema tag first."""

from __future__ import annotations

import json
from typing import Any

from auditor.model import SCHEMA


def dumps(payload: dict[str, Any]) -> str:
    doc = {"schema": SCHEMA, **{k: v for k, v in payload.items() if k != "schema"}}
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
