"""User-facing errors: the CLI prints their message on one line, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HfftError(Exception):
    """An error caused by the user's input (recipe, data, arguments), with a message that says
    what was found and what to do."""


class RecipeError(HfftError):
    """The recipe or an override is invalid."""


class DataError(HfftError):
    """The dataset cannot be used as the recipe describes it."""


def first_line(err: BaseException) -> str:
    """An exception's first message line, for a one-line error (its type when it says nothing)."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""
