"""Section results and how they are written: JSON, markdown, and the table in bench/README.md."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


@dataclass
class Figure:
    """One headline ratio. `target` is e.g. ">= 0.98"; `met` says whether the value meets it."""

    name: str
    label: str
    value: float
    target: str | None = None
    context: str = ""
    headline: bool = True  # shown in the headline table (every figure is in the JSON)

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        op, bound = self.target.split()
        limit = float(bound)
        return {">=": self.value >= limit, "<=": self.value <= limit}[op]


@dataclass
class Section:
    """What one bench section measured: headline ratios, a table of rows, absolute context."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # e.g. one per mode
    context: dict[str, Any] = field(default_factory=dict)  # absolute numbers, settings
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ratios(self) -> dict[str, float]:
        return {f.name: f.value for f in self.figures}

    def to_dict(self) -> dict[str, Any]:
        figures = [{**asdict(f), "met": f.met} for f in self.figures]
        return {
            "title": self.title,
            "ratios": self.ratios,
            "figures": figures,
            "rows": self.rows,
            "context": self.context,
            "notes": self.notes,
            "seconds": round(self.seconds, 1),
        }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or 0.01 <= abs(value) < 100_000:
            return f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}"
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def headline_table(sections: list[Section]) -> str:
    """One markdown row per headline ratio, across sections."""
    lines = ["| section | figure | value | target | met | context |", "|---|---|---|---|---|---|"]
    for s in sections:
        for f in s.figures:
            if not f.headline:
                continue
            met = {True: "yes", False: "**no**", None: ""}[f.met]
            lines.append(
                f"| {s.name} | {f.label} | {_fmt(f.value)} | {f.target or ''} | {met} | "
                f"{f.context} |"
            )
    return "\n".join(lines)


def rows_table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def markdown(results: dict[str, Any], sections: list[Section]) -> str:
    """The whole report: command, machine and load, headline table, then each section."""
    m = results["machine"]
    parts = [
        "# hfft benchmark results",
        "",
        f"Command: `{results['command']}`  ",
        f"Started {results['started']}, took {results['seconds']:.0f} s; "
        f"load average (1/5/15 min) {results['load_before']} before, "
        f"{results['load_after']} after, on {m['cpu_count']} cores.  ",
        f"Machine: {m['cpu']}; torch {m['torch']} ({m['torch_threads']} threads), "
        f"transformers {m['transformers']}, GPU {m['gpu'] or 'none'}.",
        "",
        headline_table(sections),
    ]
    for s in sections:
        parts += ["", f"## {s.name}: {s.title}", ""]
        if s.rows:
            parts += [rows_table(s.rows), ""]
        if s.context:
            shown = ", ".join(f"{k} {_fmt(v)}" for k, v in s.context.items())
            parts += [f"Context: {shown}.", ""]
        parts += [f"- {note}" for note in s.notes]
        parts += [f"- section took {s.seconds:.0f} s"]
    return "\n".join(parts) + "\n"


def write(out: Path, results: dict[str, Any], sections: list[Section]) -> tuple[Path, Path]:
    """Write results.json and results.md into `out`; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    data = {**results, "sections": {s.name: s.to_dict() for s in sections}}
    json_path, md_path = out / "results.json", out / "results.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(markdown(results, sections))
    return json_path, md_path


def update_readme(results: dict[str, Any], sections: list[Section], readme: Path = README) -> None:
    """Replace the results block of bench/README.md with this run's headline table."""
    text = readme.read_text()
    block = "\n".join(
        [
            BEGIN,
            f"Measured with `{results['command']}` on {results['started']} "
            f"({results['machine']['cpu_count']} cores, {results['machine']['cpu']}); "
            f"load average {results['load_before']} before and {results['load_after']} after "
            f"(1/5/15 min); took {results['seconds']:.0f} s.",
            "",
            headline_table(sections),
            END,
        ]
    )
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {BEGIN} ... {END} block to replace")
    readme.write_text(pattern.sub(lambda _m: block, text))
