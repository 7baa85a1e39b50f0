"""Fuzz harnesses for ft-audit's hostile-input surfaces: `python -m tests.fuzz TARGET --seconds N`.

Targets (tests.fuzz.targets): elf, macho, pe (the binary inspector on one module), wheel (the
wheel reader and gate), requirements (requirements.txt / pyproject / pylock / uv.lock readers),
lint (the C / C++ / Cython lint pipeline), index (PEP 691 page parsers). Each is seeded from
the real inputs the tests already use (pinned PyPI wheels, fixtures, recorded index pages).
Engines and limits: tests.fuzz.runner; the mutation engine: tests.fuzz.mutate.
"""
