"""The benchmark suite (bench/): interleaving, ratios, report files, and two real sections run
in a tiny configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.__main__ import run as run_bench
from bench.measure import interleave, steady_rate
from bench.report import Figure, Section


def test_interleave_alternates_order_and_pairs_ratios_by_round():
    calls = []
    values = {"a": iter([2.0, 4.0, 6.0]), "b": iter([1.0, 1.0, 2.0])}

    def variant(name):
        def call():
            calls.append(name)
            return next(values[name])

        return call

    rounds = interleave({"a": variant("a"), "b": variant("b")}, rounds=3)
    # A B, then B A, then A B: drift in machine load falls on both variants alike.
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert rounds.values == {"a": [2.0, 4.0, 6.0], "b": [1.0, 1.0, 2.0]}
    # Median of per-round ratios (2, 4, 3), not the ratio of medians (4 / 1).
    assert rounds.ratio("a", "b") == 3.0
    assert rounds.median("a") == 4.0


def test_steady_rate_skips_warmup_and_ignores_stalled_steps():
    # Step ends: two slow warm-up steps, then 0.1 s steps with one 5 s stall from another process.
    stamps = [0.0, 2.0, 3.0, 3.1, 3.2, 8.2, 8.3, 8.4]
    assert steady_rate(stamps, warmup=2) == pytest.approx(10.0)
    assert steady_rate(stamps, warmup=2, per_step=16) == pytest.approx(160.0)
    with pytest.raises(ValueError):
        steady_rate([0.0, 1.0], warmup=1)


def test_figure_targets_and_readme_block(tmp_path):
    assert Figure("x", "x", 0.99, target=">= 0.98").met is True
    assert Figure("x", "x", 0.6, target="<= 0.5").met is False
    assert Figure("x", "x", 1.0).met is None
    section = Section("demo", "a demo", figures=[Figure("r", "a ratio", 1.25, target=">= 1")])
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{report.BEGIN}\nold table\n{report.END}\n\nafter\n")
    results = {
        "command": "python -m bench --quick",
        "started": "2026-01-01T00:00:00",
        "seconds": 61.0,
        "load_before": [1.0, 1.0, 1.0],
        "load_after": [1.5, 1.0, 1.0],
        "machine": {"cpu_count": 2, "cpu": "some CPU"},
    }
    report.update_readme(results, [section], readme)
    text = readme.read_text()
    assert "old table" not in text and text.endswith("after\n")
    assert "`python -m bench --quick`" in text and "load average [1.0, 1.0, 1.0]" in text
    assert "| demo | a ratio | 1.25 | >= 1 | yes |" in text


@pytest.mark.slow
def test_tiny_bench_writes_positive_ratios(tmp_path):
    out = tmp_path / "results"
    results = run_bench(["--tiny", "--only", "overhead", "predict", "--out", str(out)], quiet=True)

    written = json.loads((out / "results.json").read_text())
    assert written["scale"] == "tiny" and written["command"].startswith("python -m bench")
    assert len(written["load_before"]) == 3 and written["machine"]["cpu_count"] >= 1
    assert list(written["sections"]) == ["overhead", "predict"] == list(results["sections"])
    expected = {
        "overhead": {"hfft_vs_trainer_steps_per_s"},
        "predict": {"predict_vs_pipeline_images_per_s"},
    }
    for name, keys in expected.items():
        section = written["sections"][name]
        assert set(section["ratios"]) == keys
        assert all(value > 0 for value in section["ratios"].values())
        assert all(f["met"] in (True, False) for f in section["figures"])
    # Both scripts trained with the same TrainingArguments, field by field.
    assert any(
        note.endswith("(output dirs aside): none")
        for note in written["sections"]["overhead"]["notes"]
    )
    markdown = (out / "results.md").read_text()
    assert "| overhead | hfft ÷ plain Trainer, training steps/s |" in markdown
    assert "## predict:" in markdown


@pytest.mark.slow
def test_gpu_script_cpu_smoke_runs_end_to_end(tmp_path):
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "gpu"
    done = subprocess.run(
        ["bash", str(root / "bench" / "gpu.sh"), "--cpu-smoke", "--out", str(out)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "gpu-smoke.json").read_text())
    rows = [(r["workload"], r["mode"]) for r in results["modes"]]
    assert rows == [(w, m) for w in ("image", "text", "tokens", "audio") for m in ("full", "lora")]
    for full, lora in zip(results["modes"][::2], results["modes"][1::2], strict=True):
        for r in (full, lora):
            assert r["samples_per_s"] > 0 and r["achieved_tflops"] > 0 and r["timed_steps"] == 3
            assert r["fraction_of_matmul"] > 0
        # LoRA trains a small fraction of the parameters (adapters + head), full trains them all.
        assert full["trainable_parameters"] == full["total_parameters"]
        assert lora["trainable_parameters"] < 0.5 * lora["total_parameters"]
    # The input pipeline rows: hfft image and audio runs, hfft's loader workers (none on a CPU)
    # and 0.
    pipeline = [(r["workload"], r["workers_chosen"], r["workers"]) for r in results["pipeline"]]
    assert pipeline == [(w, chosen, 0) for w in ("image", "audio") for chosen in ("auto", "0")]
    for r in results["pipeline"]:
        assert r["delivered"] > 0 and r["consumed"] > 0 and r["end_to_end"] > 0
    markdown = (out / "gpu-smoke.md").read_text()
    assert "| audio | lora |" in markdown and "| audio | 0 (auto) |" in markdown


def test_defaults_parts_are_chosen_by_the_environment():
    from bench.defaults import PARTS, chosen_parts

    assert chosen_parts(None) == chosen_parts("") == list(PARTS)
    assert chosen_parts("tune, bf16") == ["tune", "bf16"]
    with pytest.raises(SystemExit, match=r"HFFT_BENCH_DEFAULTS: unknown part 'tunes'; parts: "):
        chosen_parts("tune,tunes")


@pytest.mark.slow
def test_tiny_tune_figure_compares_the_same_search_cached_and_not(tmp_path, monkeypatch):
    monkeypatch.setenv("HFFT_BENCH_DEFAULTS", "tune")
    out = tmp_path / "results"
    run_bench(["--tiny", "--only", "defaults", "--out", str(out)], quiet=True)

    section = json.loads((out / "results.json").read_text())["sections"]["defaults"]
    assert [f["name"] for f in section["figures"]] == ["tune_cached_speedup"]
    assert section["ratios"]["tune_cached_speedup"] > 0
    best = section["context"]["tune_best"]
    assert best["cached"] == best["uncached"]
    assert "best trial the same" in section["figures"][0]["context"]
    assert [note.split(":")[0] for note in section["notes"]] == ["tune"]  # only its own note
    seconds = section["context"]["tune_trial_seconds"]
    assert len(seconds["cached"]) == len(seconds["uncached"]) == 10
