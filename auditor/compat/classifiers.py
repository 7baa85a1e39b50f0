"""The trove classifiers that declare free-threading support (no subinterpreter classifier exists).

    Programming Language :: Python :: Free Threading
    ... :: Free Threading :: 1 - Unstable | 2 - Beta | 3 - Stable | 4 - Resilient
"""

from __future__ import annotations

FT_CLASSIFIER = "Programming Language :: Python :: Free Threading"


def ft_classifiers(classifiers: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The 'Free Threading' classifiers among `classifiers`, sorted."""
    return tuple(sorted(c for c in classifiers if c.startswith(FT_CLASSIFIER)))


def classifier_level(classifiers: tuple[str, ...] | list[str]) -> str | None:
    """'3 - Stable' for the most specific Free Threading classifier, 'declared' for the bare one."""
    levels = [c[len(FT_CLASSIFIER) + 4:] for c in classifiers if c.startswith(FT_CLASSIFIER + " :: ")]
    if levels:
        return sorted(levels)[-1]
    return "declared" if FT_CLASSIFIER in classifiers else None
