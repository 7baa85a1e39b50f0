"""Where ft-audit keeps downloads and HTTP responses.

Order: `--cache-dir` (exported as FT_AUDIT_CACHE_DIR by the CLI), $FT_AUDIT_CACHE_DIR,
then the platform's user cache dir (platformdirs).
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=1)
def inspector_fingerprint() -> str:
    """Changes whenever the inspector, its rules, its readers or its knowledge change: cached
    module reports and wheel verdicts made by another inspector are read again."""
    import hashlib

    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for pattern in ("inspect.py", "verdicts.py", "model.py", "binary/*.py", "knowledge/*.json", "knowledge/*.py"):
        for path in sorted(root.glob(pattern)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:20]
