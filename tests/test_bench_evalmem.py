"""The bench's issue-20 sections `evalmem` (evaluation memory against the split size) and
`pipeline` (samples/s the train DataLoader delivers against what the model consumes), run in
their tiny configuration."""

from __future__ import annotations

import json

import pytest

from bench.__main__ import run as run_bench


@pytest.mark.slow
def test_tiny_evalmem_bench_evaluates_both_splits_with_the_whole_report(tmp_path):
    out = tmp_path / "results"
    run_bench(["--tiny", "--only", "evalmem", "--out", str(out)], quiet=True)
    section = json.loads((out / "results.json").read_text())["sections"]["evalmem"]
    assert set(section["ratios"]) == {"eval_peak_rss_ratio", "eval_added_mib_per_1k_rows"}
    # Two fresh processes ran `hfft eval --data`: every row kept in predictions.json, every
    # class in the per-class report, intervals beside the metrics.
    assert [row["rows"] for row in section["rows"]] == [60, 600]
    assert all(row["per_class"] == 50 and row["has_intervals"] for row in section["rows"])
    assert all(row["peak_rss_mib"] > row["rss_before_mib"] > 0 for row in section["rows"])
    # 600 rows or 60: the same memory, well within the 10%
    assert 0 < section["ratios"]["eval_peak_rss_ratio"] <= 1.10
    markdown = (out / "results.md").read_text()
    assert "| evalmem | peak RSS of `hfft eval`, 600 ÷ 60 rows, 50 classes |" in markdown


@pytest.mark.slow
def test_tiny_pipeline_bench_reports_delivered_consumed_and_end_to_end(tmp_path):
    out = tmp_path / "results"
    run_bench(["--tiny", "--only", "pipeline", "--out", str(out)], quiet=True)
    section = json.loads((out / "results.json").read_text())["sections"]["pipeline"]
    assert set(section["ratios"]) == {
        f"{task}_{ratio}"
        for task in ("image", "audio")
        for ratio in ("delivered_vs_consumed", "end_to_end_vs_consumed")
    }
    assert all(value > 0 for value in section["ratios"].values())
    # No accelerator here: hfft chooses no loader workers, and the context says why.
    assert [(row["task"], row["workers"]) for row in section["rows"]] == [
        ("image", "0 (auto)"),
        ("audio", "0 (auto)"),
    ]
    assert section["context"]["hfft_loader_settings"].startswith("none (CPU run")
    assert any("compete for the same cores" in note for note in section["notes"])
    assert (
        "| pipeline | image: input pipeline ÷ model, samples/s" in (out / "results.md").read_text()
    )
