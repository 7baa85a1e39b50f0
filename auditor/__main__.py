"""`python -m auditor` is the same as the `ft-audit` console script."""

import sys

# requires-python in pyproject.toml. pip refuses to install ft-audit on an older Python, but a
# checkout or a copied package can still be run with `python3.9 -m auditor`: one clear line
# instead of whatever the first 3.10-only construct (or a missing dependency) raises.
MINIMUM_PYTHON = (3, 10)

if __name__ == "__main__":  # not on import (tests read MINIMUM_PYTHON)
    if sys.version_info < MINIMUM_PYTHON:
        sys.stderr.write(f"ft-audit needs Python {'.'.join(map(str, MINIMUM_PYTHON))}+ "
                         f"(this is {sys.version.split()[0]} at {sys.executable})\n")
        sys.exit(2)  # could not check

    from auditor.cli import main

    sys.exit(main())
