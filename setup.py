"""Builds the bundled reference extension in `ext/` (see ext/README and issue: bundled extension).

Package metadata lives in pyproject.toml; this file only declares the compiled modules.
"""

from setuptools import setup

setup()
