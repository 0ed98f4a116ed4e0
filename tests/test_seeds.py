"""`hfft train RECIPE --seeds N` (hfft.seeds): one ordinary run directory per training seed and
a summary beside them whose numbers are the runs' own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from hfft.cli import main
from hfft.demo import DemoRow, format_table
from hfft.seeds import format_summary, summarize
from tests import tiny


def test_summary_is_mean_and_sample_std_of_the_runs():
    runs = [
        {"test": {"accuracy": a, "accuracy_ci": [0, 1], "per_class": {}}} for a in (0.8, 0.9, 1.0)
    ]
    summary = summarize(runs)
    assert set(summary["test"]) == {"accuracy"}  # intervals and reports are not averaged
    s = summary["test"]["accuracy"]
    assert s["values"] == [0.8, 0.9, 1.0]
    assert s["mean"] == pytest.approx(0.9) and s["std"] == pytest.approx(0.1)
    table = format_summary({"seeds": [0, 1, 2], "metrics": summary})
    assert "| test | accuracy | 0.9000 ± 0.1000 | 0.8000 | 0.9000 | 1.0000 |" in table


def test_demo_table_reports_the_spread_over_seeds():
    row = DemoRow("lora", "step-1 model", "lora", 0.9, 0.85, 8_517, 150_218, 6.25, "runs/lora",
                  seeds=[0, 1, 2], accuracy_std=0.0123, f1_macro_std=0.02)  # fmt: skip
    assert "| lora | step-1 model | 0.900 ± 0.012 | 0.850 ± 0.020 |" in format_table([row])
    one = DemoRow("full", "step-1 model", "full", 0.9123, 0.9, 1, 1, 1.0, "runs/full",
                  accuracy_ci=[0.889, 0.931], f1_macro_ci=[0.88, 0.92])  # fmt: skip
    assert "| full | step-1 model | 0.912 [0.89, 0.93] | 0.900 [0.88, 0.92] |" in format_table(
        [one]
    )


@pytest.mark.slow
def test_seeds_3_trains_three_runs_and_a_summary_of_their_metrics(tmp_path, capsys):
    checkpoint = tiny.make_text_checkpoint(tmp_path / "ckpt", "bert")
    data = tiny.make_text_csv(tmp_path / "data", rows=24)
    out = tmp_path / "runs" / "text"
    recipe = {
        "task": "text-classification",
        "model": {"checkpoint": str(checkpoint), "mode": "full"},
        "data": {"path": "csv", "data_files": str(data), "test_fraction": 0.25,
                 "columns": {"text": "sentence", "label": "sentiment"}},
        "training": {"output_dir": str(out), "num_train_epochs": 1, "seed": 7,
                     "learning_rate": 0.01, "use_cpu": True},
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["train", str(path), "--seeds", "3"]) == 0

    dirs = [out / f"seed-{s}" for s in (7, 8, 9)]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [p.name for p in dirs]
    metrics = [json.loads((d / "metrics.json").read_text()) for d in dirs]
    for d, seed in zip(dirs, (7, 8, 9), strict=True):
        assert yaml.safe_load((d / "recipe.yaml").read_text())["training"]["seed"] == seed
    summary = json.loads((out / "seeds.json").read_text())
    assert summary["seeds"] == [7, 8, 9]
    for split in ("validation", "test"):
        for name in ("accuracy", "f1_macro"):
            values = [m[split][name] for m in metrics]
            assert summary["metrics"][split][name]["values"] == values
            assert summary["metrics"][split][name]["mean"] == pytest.approx(np.mean(values))
            assert summary["metrics"][split][name]["std"] == pytest.approx(np.std(values, ddof=1))
    # different seeds train different heads (the runs are not copies of one another)
    weights = [(d / "model.safetensors").read_bytes() for d in dirs]
    assert len(set(weights)) == 3
    assert "test accuracy: " in capsys.readouterr().out
    assert (out / "seeds.md").read_text().startswith("Over 3 training seeds (7, 8, 9)")

    # Rerunning keeps the finished seeds (an interrupted --seeds command continues).
    before = [(d / "model.safetensors").stat().st_mtime_ns for d in dirs]
    assert main(["train", str(path), "--seeds", "3"]) == 0
    assert [(d / "model.safetensors").stat().st_mtime_ns for d in dirs] == before


def test_seeds_must_be_a_positive_count(capsys):
    with pytest.raises(SystemExit):
        main(["train", "recipe.yaml", "--seeds", "0"])
    assert "'0': give a whole number of at least 1" in capsys.readouterr().err


def test_seed_dirs_sit_under_the_output_dir():
    from hfft.recipe import load_recipe
    from hfft.seeds import seed_list, seed_recipe

    recipe = load_recipe({"task": "text-classification", "model": {"checkpoint": "x/y"},
                          "data": {"path": "csv"}, "training": {"output_dir": "runs/a"}})  # fmt: skip
    assert seed_list(recipe, 3) == [42, 43, 44]
    assert Path(seed_recipe(recipe, 43).output_dir) == Path("runs/a/seed-43")


def test_seeds_refuse_to_push_every_run_to_one_repo():
    from hfft.errors import RecipeError
    from hfft.recipe import load_recipe
    from hfft.seeds import seed_list

    recipe = load_recipe({"task": "text-classification", "model": {"checkpoint": "x/y"},
                          "data": {"path": "csv"}, "training": {"output_dir": "runs/a"},
                          "hub": {"push": True, "repo_id": "me/model"}})  # fmt: skip
    with pytest.raises(RecipeError, match="hub.push is true with --seeds 3: every seed's run"):
        seed_list(recipe, 3)
