"""`hfft recipes`: list the bundled recipes, each with its first comment line."""

from __future__ import annotations

import argparse


def recipes_command(args: argparse.Namespace) -> int:
    """Print each bundled recipe's path and, indented below it, its first line."""
    from hfft.recipe import bundled_recipes

    for path, first_line in bundled_recipes():
        print(f"{path}\n    {first_line}")
    return 0
