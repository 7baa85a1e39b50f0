"""`ft-audit wheel` (not implemented yet)."""

from __future__ import annotations

import argparse
import sys

NAME = "wheel"
HELP = "(not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("ft-audit wheel: not implemented yet", file=sys.stderr)
    return 2
