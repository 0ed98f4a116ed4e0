"""`hfft demo`: the digits data, the demo recipes, and the whole pipeline scaled down (`--quick`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from hfft.demo import (
    DEMO_RECIPES,
    PRETRAIN_RECIPE,
    QUICK_SPLIT,
    TARGET_RECIPES,
    DemoRow,
    demo_recipe,
    format_table,
    relocate,
    run_demo,
)
from hfft.digits import SOURCE_DIGITS, TARGET_DIGITS, DigitsSplit, write_digits
from hfft.recipe import load_recipe

SMALL = DigitsSplit(
    source_validation_per_class=2,
    source_train_per_class=3,
    target_train_per_class=2,
    target_validation_per_class=1,
    target_test_per_class=None,
    image_size=16,
)


def _files(root: Path) -> dict[str, list[str]]:
    """{"task/split/digit": sorted file names} under an imagefolder root."""
    return {
        str(folder.relative_to(root)): sorted(p.name for p in folder.iterdir())
        for folder in sorted(root.glob("*/*/*"))
    }


def test_write_digits_is_a_seeded_disjoint_imagefolder(tmp_path):
    counts = write_digits(tmp_path / "a", SMALL)
    assert counts["source"]["train"] == {str(d): 3 for d in SOURCE_DIGITS}
    assert counts["target"]["train"] == {str(d): 2 for d in TARGET_DIGITS}
    # test_per_class=None: every remaining image of the digit (the UCI set has ~180 per digit).
    assert all(140 < n < 180 for n in counts["target"]["test"].values())

    files = _files(tmp_path / "a")
    assert set(files) == {
        f"{task}/{split}/{d}"
        for task, digits, splits in (
            ("source", SOURCE_DIGITS, ("train", "validation")),
            ("target", TARGET_DIGITS, ("train", "validation", "test")),
        )
        for split in splits
        for d in digits
    }
    # File names are the row indices in the UCI set: no image is in two splits.
    names = [name for group in files.values() for name in group]
    assert len(names) == len(set(names))
    image = Image.open(tmp_path / "a" / "target" / "train" / "5" / files["target/train/5"][0])
    assert image.mode == "RGB" and image.size == (16, 16)

    write_digits(tmp_path / "b", SMALL)
    assert _files(tmp_path / "b") == files  # same seed, same split
    write_digits(tmp_path / "c", DigitsSplit(**{**SMALL.__dict__, "seed": 1}))
    assert _files(tmp_path / "c") != files


def test_demo_recipes_are_ordinary_recipes_sharing_one_budget(tmp_path):
    names = sorted(p.name for p in DEMO_RECIPES.glob("*.yaml"))
    assert names == sorted([PRETRAIN_RECIPE, *(file for _, file in TARGET_RECIPES)])
    targets = []
    for name in names:
        path = DEMO_RECIPES / name
        assert path.read_text().splitlines()[0].startswith(f"# hfft train recipes/demo/{name}")
        recipe = load_recipe(path)
        assert str(recipe.output_dir).startswith("demo-out/")
        if name != PRETRAIN_RECIPE:
            targets.append(recipe)
    # Step 2: the same data, steps and seed for every run; only the start and the mode differ.
    shared = {
        (
            r.data.data_dir,
            r.training["num_train_epochs"],
            r.training["per_device_train_batch_size"],
            r.training["seed"],
            r.early_stopping.patience,
        )
        for r in targets
    }
    assert shared == {("demo-out/data/target", 30, 16, 0, None)}
    sources = {r.model.checkpoint for r in targets}
    assert sources == {"demo-out/source-model", None}  # None: the scratch baseline
    pretrain = load_recipe(DEMO_RECIPES / PRETRAIN_RECIPE)
    scratch = next(r for r in targets if r.model.config)
    assert scratch.model.config == pretrain.model.config  # the same architecture

    moved = demo_recipe(TARGET_RECIPES[0][1], tmp_path / "out")
    assert moved.model.checkpoint == str(tmp_path / "out" / "source-model")
    assert moved.data.data_dir == str(tmp_path / "out" / "data" / "target")
    assert moved.output_dir == tmp_path / "out" / "runs" / "full"
    assert relocate("elsewhere/x", tmp_path) == "elsewhere/x"


def test_each_row_is_named_after_its_recipe():
    # Issue 13: the names come from the recipe files, not from mode names written in hfft.demo.
    from hfft.modes import MODES

    assert [name for name, _ in TARGET_RECIPES] == [
        "full",
        "freeze_layers=2",
        "frozen",
        "lora",
        "scratch",
    ]
    for name, file in TARGET_RECIPES:
        recipe = load_recipe(DEMO_RECIPES / file)
        if name in MODES:
            assert recipe.model.mode == name, file
        elif name == "scratch":
            assert recipe.model.config is not None
        else:
            assert recipe.model.freeze_layers == 2


def test_format_table_shows_every_run():
    row = DemoRow("lora", "step-1 model", "lora", 0.9, 0.85, 8_517, 150_218, 6.25, "runs/lora")
    table = format_table([row])
    assert table.splitlines()[2] == ("| lora | step-1 model | 0.900 | 0.850 | 8,517 (5.7%) | 6.2 |")


@pytest.mark.slow
def test_quick_demo_runs_the_whole_story_and_reproduces(tmp_path, capsys):
    from hfft.cli import main

    assert main(["demo", "--quick", "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "a"

    # Step 1 wrote an ordinary HF checkpoint that step 2 loaded.
    source = out / "source-model"
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        assert (source / name).is_file(), name
    assert json.loads((source / "config.json").read_text())["id2label"] == {
        str(i): str(d) for i, d in enumerate(SOURCE_DIGITS)
    }

    results = json.loads((out / "results.json").read_text())
    rows = {row["run"]: row for row in results["rows"]}
    assert list(rows) == [name for name, _ in TARGET_RECIPES]
    test_size = sum(results["data"]["target"]["test"].values())
    assert test_size == QUICK_SPLIT.target_test_per_class * len(TARGET_DIGITS)
    for name, row in rows.items():
        run_dir = Path(row["run_dir"])
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["test"]["accuracy"] == pytest.approx(row["accuracy"])
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["f1_macro"] <= 1.0
        assert row["train_seconds"] > 0
        assert sum(metrics["test"]["per_class"][str(d)]["support"] for d in TARGET_DIGITS) == (
            test_size
        )
        resolved = yaml.safe_load((run_dir / "recipe.yaml").read_text())
        expected = None if name == "scratch" else str(source)
        assert resolved["model"]["checkpoint"] == expected
        assert f"| {name} |" in printed

    # Trainable parameters order the modes: head < LoRA < half the blocks < everything.
    trainable = {name: row["trainable_parameters"] for name, row in rows.items()}
    total = rows["full"]["total_parameters"]
    assert trainable["frozen"] < trainable["lora"] < trainable["freeze_layers=2"] < total
    assert trainable["full"] == trainable["scratch"] == total
    assert (out / "runs" / "lora" / "adapter").is_dir()

    table = (out / "results.md").read_text()
    demo_rows = [DemoRow(**row) for row in results["rows"]]
    assert format_table(demo_rows, results["baselines"]) in table
    # The frozen recipe asks for the baselines; they head the table, with intervals.
    assert list(results["baselines"]) == ["majority_class", "linear_probe"]
    assert "| baseline: linear probe on the frozen checkpoint | step-1 model | " in table
    for row in demo_rows:
        low, high = row.accuracy_ci
        assert low <= row.accuracy <= high
    # Every pair of runs compared on the same test images, the verdict in words.
    pairs = [(c["a"], c["b"]) for c in results["comparisons"]]
    between_runs = len(rows) * (len(rows) - 1) // 2
    assert len(pairs) == between_runs + len(rows)  # and each run with the linear probe
    assert ("full", "scratch") in pairs and pairs[-len(rows) :] == [
        (name, "linear probe") for name in rows
    ]
    assert all(
        c["verdict"].startswith(("no ", f"{c['a']} > ", f"{c['b']} > "))
        for c in results["comparisons"]
    )
    assert "| full | scratch | " in table
    with Image.open(out / "results.png") as chart:
        assert chart.size[0] > 400 and chart.size[1] > 200

    # Same seeds, same table: every metric reproduces on a second run.
    again = run_demo(tmp_path / "b", quick=True)
    for row in again.rows:
        first = rows[row.run]
        assert row.accuracy == pytest.approx(first["accuracy"], abs=1e-6)
        assert row.f1_macro == pytest.approx(first["f1_macro"], abs=1e-6)
        assert row.trainable_parameters == first["trainable_parameters"]
    # ... and so do the trained weights (a quick run's accuracy alone is too coarse to tell).
    for run in ("source-model", "runs/full", "runs/lora", "runs/scratch"):
        weights_a = load_file(out / run / "model.safetensors")
        weights_b = load_file(tmp_path / "b" / run / "model.safetensors")
        assert weights_a.keys() == weights_b.keys()
        for key, tensor in weights_a.items():
            assert torch.allclose(tensor, weights_b[key], atol=1e-6), (run, key)


def test_methods_rows_are_the_step_2_recipes_with_a_method_each(tmp_path):
    from hfft.demo_stories import DIGITS, SPOKEN_WORDS

    out = tmp_path / "out"
    assert [name for name, _, _ in DIGITS.methods] == ["dora", "ia3", "layer_decay=0.75", "LP-FT"]
    assert [name for name, _, _ in SPOKEN_WORDS.methods] == [n for n, _, _ in DIGITS.methods]
    recipes = {name: demo_recipe(file, out, settings) for name, file, settings in DIGITS.methods}
    assert recipes["dora"].model.peft == {
        "method": "dora", "r": 8, "target_modules": "auto"
    }  # fmt: skip
    assert recipes["ia3"].model.peft["method"] == "ia3"
    assert recipes["layer_decay=0.75"].optim.layer_decay == 0.75
    assert recipes["LP-FT"].model.lp_ft.probe_epochs == 5
    for name, recipe in recipes.items():
        # Each writes its own run directory under --out, from the step-1 model.
        assert recipe.output_dir.parent == out / "runs" and recipe.output_dir.name != "full"
        assert recipe.model.checkpoint == str(out / "source-model"), name
    # The same budget as the recipe each starts from.
    lora = demo_recipe(DIGITS.methods[0][1], out)
    assert recipes["dora"].training["num_train_epochs"] == lora.training["num_train_epochs"]


@pytest.mark.slow
def test_quick_demo_with_methods_adds_their_rows(tmp_path, capsys):
    from hfft.cli import main

    assert main(["demo", "--quick", "--methods", "--out", str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "m" / "results.json").read_text())
    rows = {row["run"]: row for row in results["rows"]}
    extra = ["dora", "ia3", "layer_decay=0.75", "LP-FT"]
    assert list(rows) == [name for name, _ in TARGET_RECIPES] + extra
    trainable = {name: row["trainable_parameters"] for name, row in rows.items()}
    total = rows["full"]["total_parameters"]
    # IA3 rescales a few vectors; DoRA adds a magnitude vector per adapted layer to LoRA's.
    assert trainable["frozen"] < trainable["ia3"] < trainable["lora"] < trainable["dora"]
    assert trainable["layer_decay=0.75"] == trainable["LP-FT"] == total
    for name in extra:
        assert f"| {name} |" in printed
        assert Path(rows[name]["run_dir"]).parent == tmp_path / "m" / "runs"
    assert "hfft demo --methods --quick" in (tmp_path / "m" / "results.md").read_text()
    assert (tmp_path / "m" / "runs" / "dora" / "adapter").is_dir()
