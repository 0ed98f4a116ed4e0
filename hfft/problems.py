"""Collecting the problems of several checks so they are reported together: the preflight's
`Problems` and the `PreflightError` that lists them. Depends on nothing but hfft.errors, so the
task modules' own checks (label encoding, box checks) use it without importing the preflight."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from hfft.errors import HfftError

T = TypeVar("T")
FAILED: Any = object()  # what `Problems.run` returns for a check that failed


class PreflightError(HfftError):
    """Several problems found at once; the message lists them all."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            lines = "\n".join(f"  {i}. {p}" for i, p in enumerate(self.problems, 1))
            message = f"{len(self.problems)} problems found before training:\n{lines}"
        super().__init__(message)


class Problems:
    """Collects the messages of failed checks."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.errors: list[HfftError] = []

    def add(self, err: HfftError) -> None:
        found = err.problems if isinstance(err, PreflightError) else [str(err)]
        new = [m for m in found if m not in self.messages]
        if new:
            self.messages.extend(new)
            self.errors.append(err)

    def note(self, message: str) -> None:
        self.add(HfftError(message))

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except HfftError as err:
            self.add(err)

    def run(self, check: Callable[..., T], *args: Any) -> T:
        """`check(*args)`, or FAILED with its message recorded."""
        try:
            return check(*args)
        except HfftError as err:
            self.add(err)
            return FAILED

    def raise_if_any(self) -> None:
        """Raise the one error found as it is (its type kept), or all of them together."""
        if len(self.errors) == 1 and len(self.messages) == 1:
            raise self.errors[0]
        if self.messages:
            raise PreflightError(self.messages)


def each_split(splits: Mapping[str, Any], check: Callable[[str, Any], T]) -> dict[str, T]:
    """{split: check(split, dataset)} for every split, or every split's problem raised together
    (a label scheme encodes or checks all splits before reporting)."""
    problems = Problems()
    done = {}
    for split, ds in splits.items():
        with problems.collect():
            done[split] = check(split, ds)
    problems.raise_if_any()
    return done
