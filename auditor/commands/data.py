"""`ft-audit data` (not implemented yet)."""

from __future__ import annotations

import argparse
import sys

NAME = "data"
HELP = "(not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("ft-audit data: not implemented yet", file=sys.stderr)
    return 2
