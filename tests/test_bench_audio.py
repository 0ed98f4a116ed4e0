"""The bench's audio section: hfft's audio pipeline against a hand-written Trainer script."""

from __future__ import annotations

import json

import pytest

from bench.__main__ import run as run_bench


@pytest.mark.slow
def test_tiny_audio_bench_compares_like_with_like(tmp_path):
    out = tmp_path / "results"
    run_bench(["--tiny", "--only", "audio", "--out", str(out)], quiet=True)
    section = json.loads((out / "results.json").read_text())["sections"]["audio"]
    assert set(section["ratios"]) == {"hfft_vs_trainer_audio_samples_per_s"}
    assert section["ratios"]["hfft_vs_trainer_audio_samples_per_s"] > 0
    assert any(note.endswith("(output dirs aside): none") for note in section["notes"])
    markdown = (out / "results.md").read_text()
    assert "| audio | hfft ÷ plain Trainer, audio training samples/s |" in markdown
