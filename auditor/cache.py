"""Where ft-audit keeps downloads and HTTP responses.

Order: `--cache-dir` (exported as FT_AUDIT_CACHE_DIR by the CLI), $FT_AUDIT_CACHE_DIR,
then the platform's user cache dir (platformdirs).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = os.environ.get("FT_AUDIT_CACHE_DIR")
    if root:
        base = Path(root).expanduser()
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("ft-audit", appauthor=False))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
