"""`hfft tune`: search-space validation, seeded conditional sampling, and end-to-end searches
on tiny models whose best trial `hfft train best.yaml` reproduces."""

from __future__ import annotations

import csv
import glob
import json
from pathlib import Path

import optuna
import pytest
import yaml
from PIL import Image

from hfft import search_space
from hfft.cli import main
from hfft.errors import RecipeError
from hfft.recipe import RECIPES_DIR, load_recipe
from hfft.tune import best_trial, count_blocks, tune, tune_settings
from tests import tiny

TRAINING = {
    "num_train_epochs": 2,
    "per_device_train_batch_size": 8,
    "use_cpu": True,
    "disable_tqdm": True,
}


def image_raw(ckpt, folder, out, tune_section=None, **model):
    return {
        "task": "image-classification",
        "model": {"checkpoint": str(ckpt), **model},
        "data": {"path": "imagefolder", "data_dir": str(folder), "validation_fraction": 0.3},
        "training": {**TRAINING, "output_dir": str(out)},
        "tune": tune_section or {},
    }


def text_raw(ckpt, csv_path, out, tune_section=None, **model):
    return {
        "task": "text-classification",
        "model": {"checkpoint": str(ckpt), **model},
        "data": {
            "path": "csv",
            "data_files": str(csv_path),
            "columns": {"text": "sentence", "label": "sentiment"},
            "validation_fraction": 0.3,
        },
        "training": {**TRAINING, "output_dir": str(out)},
        "tune": tune_section or {},
    }


@pytest.fixture
def vit_recipe(vit_checkpoint, image_folder, tmp_path):
    return lambda tune_section=None, **model: load_recipe(
        image_raw(vit_checkpoint, image_folder, tmp_path / "run", tune_section, **model)
    )


# --------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"training.learnin_rate": {"type": "float", "low": 1e-5, "high": 1e-3}},
            "tune.space 'training.learnin_rate' (value 1e-05): unknown recipe key "
            "'training.learnin_rate' (did you mean 'training.learning_rate'?)",
        ),
        (
            {"model.lora.rank": {"type": "categorical", "choices": [4, 8]}},
            "unknown recipe key 'model.lora.rank' (did you mean 'model.lora.r'?)",
        ),
        (
            {"model.freeze_layer": {"type": "int", "low": 0, "high": 1}},
            "(did you mean 'model.freeze_layers'?)",
        ),
        (
            {"training.learning_rate": {"type": "float", "low": 1e-3, "high": 1e-3}},
            "tune.space 'training.learning_rate': empty range low=0.001 >= high=0.001",
        ),
        (
            {"training.num_train_epochs": {"type": "int", "low": 5, "high": 2}},
            "empty range low=5 >= high=2",
        ),
        (
            {"model.lora.r": {"type": "categorical", "choices": []}},
            "tune.space 'model.lora.r': categorical needs a non-empty list of choices",
        ),
        (
            {"training.learning_rate": {"type": "float", "low": 0, "high": 1e-3, "log": True}},
            "a log range needs low > 0",
        ),
        (
            {"training.learning_rate": {"type": "flaot", "low": 1e-5, "high": 1e-3}},
            "type 'flaot' (did you mean 'float'?)",
        ),
        (
            {"training.learning_rate": {"low": 1e-5, "hi": 1e-3}},
            "unknown setting 'hi' (did you mean 'high'?)",
        ),
        (
            {"training.per_device_train_batch_size": {"choices": [8, "big"]}},
            "(value 'big'): training.per_device_train_batch_size: expected an integer, got 'big'",
        ),
        (
            {"training.lr_scheduler_type": ["linear", "cosin"]},
            "(value 'cosin'): invalid training: settings",
        ),
        ({"data.path": ["a", "b"]}, "tune.space 'data.path' cannot vary between trials"),
        (
            {"training.output_dir": ["a", "b"]},
            "tune.space 'training.output_dir' cannot vary between trials",
        ),
        (
            {"model.lora.r": [4, 8]},
            "tune.space 'model.lora.r' only matters in mode lora, but trials run in full",
        ),
        (
            {"model.freeze_layers": {"type": "int", "low": 0, "high": 5}},
            "high=5 but the model has 2 blocks",
        ),
        ({"model.mode": ["full", "lorra"]}, "unknown mode 'lorra' (did you mean 'lora'?)"),
    ],
)
def test_bad_search_spaces_name_the_key_and_the_problem(vit_recipe, space, message):
    recipe = vit_recipe({"space": space})
    with pytest.raises(RecipeError) as err:
        tune_settings(recipe)
    assert message in str(err.value)


EMPTY_SPACE = {
    key: None
    for key in (
        "training.learning_rate",
        "training.num_train_epochs",
        "training.per_device_train_batch_size",
        "model.freeze_layers",
    )
}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"trails": 3}, "unknown recipe key 'tune.trails' (did you mean 'tune.trials'?)"),
        ({"trials": 0}, "tune.trials must be >= 1"),
        (
            {"metric": "acuracy"},
            "tune.metric 'acuracy' is not computed on the validation split "
            "(did you mean 'accuracy'?)",
        ),
        ({"direction": "up"}, "tune.direction must be maximize or minimize"),
        (
            {"enqueue": [{"training.lr": 0.1}]},
            "tune.enqueue: 'training.lr' is not in the search space",
        ),
        ({"space": EMPTY_SPACE}, "the search space is empty"),
    ],
)
def test_bad_tune_settings(vit_recipe, section, message):
    with pytest.raises(RecipeError) as err:
        tune_settings(vit_recipe(section))
    assert message in str(err.value)


def test_cli_prints_a_bad_search_file_on_one_line(vit_recipe, tmp_path, capsys):
    recipe_path = tmp_path / "recipe.yaml"
    vit_recipe().save(recipe_path)
    space = tmp_path / "space.yaml"
    space.write_text("training.learning_rate: {type: float, low: 1.0e-2, high: 1.0e-4}\n")
    assert main(["tune", str(recipe_path), "--search", str(space)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "hfft: error: tune.space 'training.learning_rate': empty range low=0.01 >= high=0.0001; "
        "use low < high (a fixed value belongs in the recipe itself)"
    ]
    assert not (tmp_path / "run" / "tune").exists()


# --------------------------------------------------------------------------------------------
# Spaces and sampling


def test_default_space_per_mode(vit_recipe):
    full = tune_settings(vit_recipe()).space
    assert count_blocks(vit_recipe()) == 2
    assert set(full) == {
        "training.learning_rate",
        "training.per_device_train_batch_size",
        "training.num_train_epochs",
        "model.freeze_layers",
        "optim.layer_decay",
    }
    assert (full["optim.layer_decay"].low, full["optim.layer_decay"].high) == (0.5, 1.0)
    assert full["training.learning_rate"].log
    assert (full["model.freeze_layers"].low, full["model.freeze_layers"].high) == (0, 2)
    lora = tune_settings(vit_recipe(mode="lora")).space
    assert {"model.lora.r", "model.lora.alpha", "model.lora.dropout"} <= set(lora)
    assert "model.freeze_layers" not in lora
    frozen = tune_settings(vit_recipe(mode="frozen")).space
    assert not any(key.startswith(("model.", "optim.")) for key in frozen)
    # peft: the method and its size (the methods sharing LoRA's rank r).
    peft = tune_settings(vit_recipe(mode="peft")).space
    assert peft["model.peft.method"].choices == ["lora", "dora", "loha", "lokr"]
    assert peft["model.peft.r"].choices == [4, 8, 16, 32]
    assert "optim.layer_decay" not in peft and "model.lora.r" not in peft
    # The recipe's tune.space overrides one range and drops another; the rest stay.
    custom = tune_settings(
        vit_recipe({"space": {"training.learning_rate": [0.1, 0.01], "model.freeze_layers": None}})
    ).space
    assert custom["training.learning_rate"].choices == [0.1, 0.01]
    assert "model.freeze_layers" not in custom
    assert "training.num_train_epochs" in custom


def test_sampling_is_seeded_and_mode_conditional(vit_recipe):
    """Searching the mode itself: LoRA keys only in LoRA trials, freeze_layers only in full ones,
    every sampled recipe valid, and the same seed gives the same trials."""
    settings = tune_settings(vit_recipe({"space": {"model.mode": ["full", "frozen", "lora"]}}))
    base = vit_recipe()

    def run(seed):
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        recipes = []

        def objective(trial):
            values = search_space.sample(trial, settings.space, base.model.mode)
            recipes.append(search_space.apply_values(base, values, output_dir="x"))
            return 0.0

        study.optimize(objective, n_trials=12)
        return [t.params for t in study.trials], recipes

    params, recipes = run(seed=7)
    assert params == run(seed=7)[0]
    assert params != run(seed=8)[0]
    assert {r.model.mode for r in recipes} == {"full", "frozen", "lora"}
    for p, r in zip(params, recipes, strict=True):
        assert ("model.lora.r" in p) == (r.model.mode == "lora")
        assert ("model.freeze_layers" in p) == (r.model.mode == "full")
        assert r.training["learning_rate"] == p["training.learning_rate"]
        if r.model.mode == "lora":
            assert r.model.lora.r == p["model.lora.r"]
            assert r.model.lora.alpha == p["model.lora.alpha"]
        else:
            assert r.model.freeze_layers == p.get("model.freeze_layers", 0)


def test_a_registered_mode_brings_its_own_default_space_and_keys(vit_recipe, monkeypatch):
    """Issue 13: search_space and tune_config ask the mode values; a new mode's learning rates,
    default space and own keys take part in the search with no change outside its module."""
    from hfft.modes import MODES, Mode

    probe = Mode(
        name="probe",
        apply=lambda model, spec: model,
        describe=lambda model: "probed",
        hyperparameters=lambda model: {},
        learning_rates=(0.5, 0.9),
        search_space=lambda blocks: {"model.cache_features": {"choices": [True, False]}},
        own_keys=("cache_features",),
    )
    monkeypatch.setitem(MODES, "probe", probe)
    settings = tune_settings(vit_recipe({"space": {"model.mode": ["full", "probe"]}}))
    assert list(settings.space) == [
        "model.mode",
        "training.learning_rate",
        "training.per_device_train_batch_size",
        "training.num_train_epochs",
        "model.freeze_layers",
        "optim.layer_decay",
        "model.cache_features",
    ]
    rate = settings.space["training.learning_rate"]
    assert (rate.low, rate.high) == (1e-5, 0.9)  # full's low end, the probe's high end
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    base = vit_recipe()
    modes = set()
    for _ in range(10):
        trial = study.ask()
        values = search_space.sample(trial, settings.space, base.model.mode)
        modes.add(values["model.mode"])
        assert ("model.cache_features" in values) == (values["model.mode"] == "probe")
        assert ("model.freeze_layers" in values) == (values["model.mode"] == "full")
        search_space.apply_values(base, values, output_dir="x")
        study.tell(trial, 0.0)
    assert modes == {"full", "probe"}
    with pytest.raises(RecipeError) as err:
        tune_settings(vit_recipe({"space": {"model.cache_features": [True, False]}}))
    assert "'model.cache_features' only matters in mode probe, but trials run in full" in str(
        err.value
    )


def test_count_blocks_reads_a_scratch_config_as_training_builds_it(image_folder, tmp_path):
    raw = image_raw("unused", image_folder, tmp_path / "run")
    raw["model"] = {
        "config": {
            "model_type": "vit",
            "num_hidden_layers": 3,
            "hidden_size": 8,
            "num_attention_heads": 2,
        },
        "processor": {"class": "ViTImageProcessor"},
    }
    recipe = load_recipe(raw)
    assert count_blocks(recipe) == 3
    space = tune_settings(recipe).space["model.freeze_layers"]
    assert (space.low, space.high) == (0, 3)


def test_the_command_lines_trials_and_an_empty_space_line(vit_recipe, tmp_path):
    with pytest.raises(RecipeError, match=r"^tune.trials must be >= 1, got 0$"):
        tune_settings(vit_recipe(), trials=0)
    assert tune_settings(vit_recipe({"trials": 3}), trials=5, timeout=60).trials == 5
    # `space:` and `enqueue:` with nothing under them read as null in YAML: the defaults.
    path = tmp_path / "recipe.yaml"
    vit_recipe().save(path)
    raw = yaml.safe_load(path.read_text())
    raw["tune"] = {"space": None, "enqueue": None}
    recipe = load_recipe(raw)
    assert (recipe.tune.space, recipe.tune.enqueue) == ({}, [])
    assert "model.freeze_layers" in tune_settings(recipe).space


@pytest.mark.parametrize("path", sorted((RECIPES_DIR / "tune").glob("*.yaml")), ids=str)
def test_bundled_tune_recipes_have_valid_search_spaces(path):
    recipe = load_recipe(path)
    # The demo's source model has 4 blocks (recipes/demo/source_vit-tiny_digits0-4_pretrain.yaml).
    settings = tune_settings(recipe, num_blocks=4)
    assert settings.trials >= 10
    assert set(settings.enqueue[0]) <= set(settings.space)
    for trial in settings.enqueue:
        search_space.apply_values(recipe, trial, output_dir="x")


def test_ties_on_the_metric_go_to_the_lower_validation_loss(vit_recipe):
    settings = tune_settings(vit_recipe({"space": {"training.learning_rate": [0.1, 0.01]}}))
    study = optuna.create_study(direction="maximize")
    lr = optuna.distributions.CategoricalDistribution([0.1, 0.01])
    for value, loss in ((0.9, 0.5), (1.0, 0.7), (1.0, 0.3), (1.0, 0.3)):
        study.add_trial(
            optuna.trial.create_trial(
                value=value,
                params={"training.learning_rate": 0.1},
                distributions={"training.learning_rate": lr},
                user_attrs={"eval_loss": loss},
            )
        )
    assert best_trial(study, settings).number == 2
    assert best_trial(optuna.create_study(), settings) is None


# --------------------------------------------------------------------------------------------
# End to end


def _rows(tune_dir: Path) -> list[dict[str, str]]:
    with (tune_dir / "trials.csv").open() as f:
        return list(csv.DictReader(f))


def _best_metric_of_run(run_dir: Path) -> float:
    """The validation loss of the model `hfft train` kept (the best checkpoint's)."""
    states = sorted(glob.glob(str(run_dir / "checkpoints" / "checkpoint-*" / "trainer_state.json")))
    return json.loads(Path(states[-1]).read_text())["best_metric"]


def _check_search_and_reproduction(result, structural_key: str) -> None:
    tune_dir = result.tune_dir
    rows = _rows(tune_dir)
    assert len(rows) == 3
    keys = list(result.settings.space)
    # Different trials used different parameters ...
    assert len({tuple(row[k] for k in keys) for row in rows}) == 3
    # ... and the structural one really changed the model: equal values <=> equal parameter counts.
    by_value = {}
    for row in rows:
        by_value.setdefault(row[structural_key], set()).add(row["trainable_parameters"])
    assert all(len(counts) == 1 for counts in by_value.values())
    assert len({next(iter(c)) for c in by_value.values()}) == len(by_value) >= 2
    assert (tune_dir / "trials.md").read_text().count("\n| ") >= 4
    with Image.open(tune_dir / "tune.png") as png:
        assert png.size[0] > 500
    assert not (tune_dir / "trials").exists()  # trial checkpoints are cleaned up

    best = result.best_trial
    values = [t.value for t in result.study.trials if t.state.name == "COMPLETE"]
    assert best.value == (min if result.settings.direction == "minimize" else max)(values)
    assert f"| **{best.number}** |" in (tune_dir / "trials.md").read_text()
    best_path = tune_dir / "best.yaml"
    assert best_path.read_text().startswith(f"# hfft train {best_path}\n")
    recipe = load_recipe(best_path)
    assert recipe == result.best_recipe
    for key, value in best.params.items():
        section, *rest = key.split(".")
        node = getattr(recipe, section)
        for part in rest:
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        assert node == value, key

    # `hfft train best.yaml` gives the best trial's metric, and the same validation loss (a
    # continuous value no other trial shares, so the match is not a coincidence of ties).
    assert main(["train", str(best_path)]) == 0
    losses = [float(row["eval_loss"]) for row in rows if row["eval_loss"]]
    assert len(set(losses)) == len(losses)
    assert _best_metric_of_run(recipe.output_dir) == pytest.approx(
        best.user_attrs["eval_loss"], rel=1e-6
    )
    if result.settings.metric != "loss":
        metrics = json.loads((recipe.output_dir / "metrics.json").read_text())
        assert metrics["validation"][result.settings.metric] == pytest.approx(best.value, abs=1e-6)


@pytest.mark.slow
def test_tune_full_with_freeze_layers_and_reproduce_the_best(vit_checkpoint, tmp_path):
    folder = tiny.make_image_folder(tmp_path / "colors", per_class=8)
    space = {
        "training.learning_rate": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
        "model.freeze_layers": {"type": "int", "low": 0, "high": 2},
        "training.per_device_train_batch_size": None,
        "training.num_train_epochs": None,
    }
    recipe = load_recipe(
        image_raw(
            vit_checkpoint, folder, tmp_path / "run", {"trials": 3, "space": space, "seed": 3}
        )
    )
    result = tune(recipe)
    _check_search_and_reproduction(result, "model.freeze_layers")


@pytest.mark.slow
def test_tune_lora_rank_and_alpha_and_reproduce_the_best(bert_checkpoint, tmp_path):
    data = tiny.make_text_csv(tmp_path / "reviews", rows=40)
    space = {
        "model.lora.r": [2, 4, 8],
        "model.lora.alpha": [4, 8, 16],
        "training.learning_rate": {"type": "float", "low": 1e-2, "high": 2e-1, "log": True},
        "training.per_device_train_batch_size": None,
        "training.num_train_epochs": None,
        "model.lora.dropout": None,
    }
    recipe = load_recipe(
        text_raw(
            bert_checkpoint,
            data,
            tmp_path / "run",
            {"trials": 3, "space": space, "metric": "loss"},
            mode="lora",
        )
    )
    result = tune(recipe)
    _check_search_and_reproduction(result, "model.lora.r")


@pytest.mark.slow
def test_cli_tune_prunes_a_bad_trial(vit_checkpoint, image_folder, tmp_path, capsys):
    """A sensible trial first, then a learning rate that wrecks the model: the second is pruned
    on the validation loss after its first epoch instead of running all three."""
    raw = image_raw(vit_checkpoint, image_folder, tmp_path / "run")
    raw["training"]["num_train_epochs"] = 3
    raw["early_stopping"] = {"patience": None}
    raw["tune"] = {
        "metric": "loss",
        "startup_trials": 1,
        "warmup_evaluations": 0,
        "baseline": False,  # exactly the two enqueued trials
        "enqueue": [{"training.learning_rate": 0.01}, {"training.learning_rate": 30.0}],
    }
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(raw))
    space = tmp_path / "space.yaml"
    space.write_text(
        "training.learning_rate: {type: float, low: 1.0e-3, high: 50.0, log: true}\n"
        "training.per_device_train_batch_size: null\n"
        "training.num_train_epochs: null\n"
        "model.freeze_layers: null\n"
    )
    assert main(["tune", str(recipe_path), "--trials", "2", "--search", str(space)]) == 0
    out = capsys.readouterr().out
    assert f"reproduce: hfft train {tmp_path / 'run' / 'tune' / 'best.yaml'}" in out
    rows = _rows(tmp_path / "run" / "tune")
    assert [(r["state"], float(r["training.learning_rate"])) for r in rows] == [
        ("complete", 0.01),
        ("pruned", 30.0),
    ]
    assert float(rows[0]["epochs"]) == 3
    assert float(rows[1]["epochs"]) < 3
    assert float(rows[1]["loss"]) > float(rows[0]["loss"])
    # `key: null` in the search file dropped those keys from the default space.
    assert [k for k in rows[0] if "." in k] == ["training.learning_rate"]


@pytest.mark.slow
@pytest.mark.parametrize("cut_at", [1, 0])
def test_ctrl_c_ends_the_search_quietly_and_still_reports(vit_checkpoint, image_folder, tmp_path, monkeypatch, capsys, cut_at):  # fmt: skip
    """A real SIGINT in the middle of a trial's training: no Optuna traceback, the cut-off trial
    is `interrupted` (no metric), no further trial starts, and the summary of the finished ones
    still prints before the command exits with 130."""
    import signal

    from transformers import TrainerCallback

    import hfft.run

    class CtrlC(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            signal.raise_signal(signal.SIGINT)

    def build_run(recipe, _build=hfft.run.build_run, **kwargs):
        run = _build(recipe, **kwargs)
        if recipe.output_dir.name == f"trial-{cut_at:03d}":
            run.trainer.add_callback(CtrlC())
        return run

    monkeypatch.setattr(hfft.run, "build_run", build_run)
    raw = image_raw(vit_checkpoint, image_folder, tmp_path / "run")
    raw["tune"] = {"space": {"training.per_device_train_batch_size": None, "model.freeze_layers": None, "training.num_train_epochs": None}}  # fmt: skip
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(raw))

    assert main(["tune", str(recipe_path), "--trials", "3"]) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "failed" not in captured.err, captured.err
    assert f"hfft: trial {cut_at}: interrupted" in captured.err
    tune_dir = tmp_path / "run" / "tune"
    rows = _rows(tune_dir)
    assert [r["state"] for r in rows] == ["complete"] * cut_at + ["interrupted"]
    assert rows[-1]["accuracy"] == "" and rows[-1]["eval_loss"] == ""
    assert f"| {cut_at} | interrupted |  |" in (tune_dir / "trials.md").read_text()
    last = captured.err.strip().splitlines()[-1]
    if cut_at:
        assert last == "hfft: interrupted: the search stopped after 1 finished trial of 3"
        assert captured.out.splitlines()[-3:] == [
            f"best accuracy: {float(rows[0]['accuracy']):.4f}",
            f"trials: {tune_dir / 'trials.md'}",
            f"reproduce: hfft train {tune_dir / 'best.yaml'}",
        ]
    else:
        assert last == (
            "hfft: interrupted: no trial finished before the interruption; see "
            f"{tune_dir / 'trials.md'}"
        )
        assert "best accuracy" not in captured.out and not (tune_dir / "best.yaml").exists()
