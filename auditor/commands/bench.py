"""`ft-audit bench` (not implemented yet)."""

from __future__ import annotations

import argparse
import sys

NAME = "bench"
HELP = "(not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("ft-audit bench: not implemented yet", file=sys.stderr)
    return 2
