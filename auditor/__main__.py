"""`python -m auditor` is the same as the `ft-audit` console script."""

import sys

from auditor.cli import main

sys.exit(main())
