"""`hfft push RUN_DIR --repo-id USER/NAME [--space] [--dry-run] ...`: push a finished run (and a
Gradio Space for it) with hfft.hub, and print what went where."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hfft.space_files import SPACE_MODEL_VARIABLE

if TYPE_CHECKING:
    from hfft.hub import PushResult
    from hfft.upload_files import UploadFile


def push_command(args: argparse.Namespace) -> int:
    """`hfft push RUN_DIR --repo-id USER/NAME ...`: push and print what went where."""
    from hfft.hub import push_run

    result = push_run(
        args.run_dir,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
        space=args.space or args.space_id is not None,
        space_id=args.space_id,
        dry_run=args.dry_run,
    )
    print(format_result(result))
    return 0


def format_result(result: PushResult) -> str:
    """A human-readable summary of a push (or of a dry run: every file with its size)."""
    where = f"{'private, ' if result.private else ''}revision {result.revision}"
    total = f"{len(result.files)} files ({_human(sum(f.size for f in result.files))})"
    lines = []
    if result.dry_run:
        lines.append("dry run: nothing was uploaded.")
        lines.append(
            f"would push {total} to model repo {result.repo_id} ({where}): {result.repo_url}"
        )
        lines += _file_table(result.files)
    else:
        lines.append(f"pushed {total} to {result.repo_url} ({where})")
        lines.append(f"commit: {result.commit_url}")
    if result.left_out:
        lines.append(f"left out: {', '.join(result.left_out)}")
    if result.space_id:
        space = f"Gradio Space {result.space_id} with {SPACE_MODEL_VARIABLE}={result.repo_id}"
        if result.dry_run:
            lines.append(f"would push {space}: {result.space_url}")
            lines += _file_table(result.space_files)
        else:
            lines.append(f"pushed {space}: {result.space_url}")
        if result.revision != "main":
            lines.append(f"note: the Space loads the model's main branch, not {result.revision}")
        if result.private:
            lines.append(
                "note: the model is private; give the Space a read token as the secret HF_TOKEN "
                "in its settings so that the app can load it"
            )
    return "\n".join(lines)


def _file_table(files: list[UploadFile]) -> list[str]:
    width = max((len(f.path_in_repo) for f in files), default=0)
    return [f"  {f.path_in_repo:<{width}}  {_human(f.size):>9}" for f in files]


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
