"""Where the tests find the two community compatibility sources (tracking.md, results.json).

The excerpts in tests/fixtures/compat/ are in the repository, so every test that can runs on a
clean clone; tests/fixtures/compat/SOURCE.md names their origin, licence and how they were cut.
The full snapshots live beside the repository (../shared/compat-snapshots/, as on the build
machines and in CI); the few tests that need the whole files are marked `needs_snapshots` and
skip when that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

EXCERPTS = Path(__file__).resolve().parents[1] / "fixtures" / "compat"
SNAPSHOTS = Path(__file__).resolve().parents[3] / "shared" / "compat-snapshots"

# Rows in the excerpts, counted by hand (see SOURCE.md): 38 of the table's 149, 25 of the list's 360.
EXCERPT_TRACKING_ROWS = 38
EXCERPT_WHEELS_ROWS = 25

needs_snapshots = pytest.mark.skipif(
    not ((SNAPSHOTS / "tracking.md").is_file() and (SNAPSHOTS / "results.json").is_file()),
    reason=f"needs the full community snapshots beside the repository ({SNAPSHOTS}), absent here; "
           "the excerpts in tests/fixtures/compat/ cover the same cases")
