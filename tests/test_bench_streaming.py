"""The bench's streaming section (bench/streaming.py) runs at the tiny scale and writes its
figures, each a positive ratio of two real runs."""

from __future__ import annotations

import json

import pytest

from bench.__main__ import run as run_bench


@pytest.mark.slow
def test_streaming_section_compares_a_stream_with_the_dataset(tmp_path):
    out = tmp_path / "results"
    run_bench(["--tiny", "--only", "streaming", "--out", str(out)], quiet=True)
    section = json.loads((out / "results.json").read_text())["sections"]["streaming"]
    assert set(section["ratios"]) == {
        "streamed_vs_mapped_samples_per_s",
        "streamed_peak_rss_ratio",
    }
    assert all(value > 0 for value in section["ratios"].values())
