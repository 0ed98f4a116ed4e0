"""Section 5, CLI start-up: `hfft --help` and `hfft recipes` wall time against
`python -c "import transformers"`, each a fresh subprocess, medians over interleaved runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.context import Context
from bench.measure import interleave
from bench.report import Figure, Section

NAME = "startup"


def hfft_command() -> list[str]:
    """The `hfft` console script next to this interpreter (the venv's), else the one on PATH."""
    script = Path(sys.executable).parent / "hfft"
    if script.is_file():
        return [str(script)]
    found = shutil.which("hfft")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from hfft.cli import main; sys.exit(main())"]


def wall(cmd: list[str]) -> float:
    """Seconds for one subprocess run of `cmd` (output discarded; a failure is an error)."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run(ctx: Context) -> Section:
    hfft = hfft_command()
    commands = {
        "hfft --help": [*hfft, "--help"],
        "hfft recipes": [*hfft, "recipes"],
        "import transformers": [sys.executable, "-c", "import transformers"],
        "python": [sys.executable, "-c", "pass"],
    }
    for cmd in commands.values():
        wall(cmd)  # warm the page cache: every variant then runs from memory
    rounds = interleave(
        {name: (lambda cmd=cmd: wall(cmd)) for name, cmd in commands.items()},
        ctx.scale.startup_repeats,
    )
    help_s = rounds.median("hfft --help")
    return Section(
        NAME,
        "CLI start-up against importing transformers",
        figures=[
            Figure(
                "help_vs_import_transformers",
                "`hfft --help` ÷ `import transformers`, wall time",
                rounds.ratio("hfft --help", "import transformers"),
                context=f"{help_s:.2f} s vs {rounds.median('import transformers'):.2f} s",
            ),
            Figure(
                "recipes_vs_import_transformers",
                "`hfft recipes` ÷ `import transformers`, wall time",
                rounds.ratio("hfft recipes", "import transformers"),
                context=f"{rounds.median('hfft recipes'):.2f} s",
            ),
            Figure(
                "help_seconds",
                "`hfft --help` wall time, seconds (absolute)",
                help_s,
                target="<= 0.5",
                context=f"bare `python -c pass` {rounds.median('python'):.2f} s",
            ),
        ],
        context={
            "repeats": ctx.scale.startup_repeats,
            **{f"{name} s": [round(v, 3) for v in vals] for name, vals in rounds.values.items()},
        },
        notes=[
            "Each command is a fresh subprocess; one untimed run of each warms the page cache; "
            "figures are medians of interleaved runs.",
        ],
    )
