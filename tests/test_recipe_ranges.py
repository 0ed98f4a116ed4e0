"""Bad numbers and keys that do nothing are caught when the recipe loads: one line naming the
key, the value and the valid range, exit 2, before any model or data loads, nothing written.

The recipes here point at a checkpoint and data that do not exist: were the value let through,
the error would be about those (or a traceback from the Trainer) instead of the value."""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from hfft.cli import main
from hfft.errors import RecipeError
from hfft.recipe import load_recipe
from hfft.run import training_arguments
from hfft.tasks import TASKS


def image_recipe(out) -> dict:
    return {
        "task": "image-classification",
        "model": {"checkpoint": "./no/such/model"},
        "data": {"path": "imagefolder", "data_dir": "./no/such/images"},
        "training": {"output_dir": str(out), "use_cpu": True},
    }


def text_recipe(out) -> dict:
    return {
        "task": "text-classification",
        "model": {"checkpoint": "./no/such/model"},
        "data": {"path": "csv", "data_files": "./no/such.csv"},
        "training": {"output_dir": str(out), "use_cpu": True},
    }


SEED_RANGE = "in [0, 4294967295]"
# (recipe kind, override, the whole message)
CASES = [
    # ---- issue 12, item 3: values that reached the Trainer and came back as tracebacks
    ("image", "training.learning_rate=-1", "training.learning_rate must be >= 0, got -1"),
    (
        "image",
        "training.per_device_train_batch_size=0",
        "training.per_device_train_batch_size must be >= 1, got 0",
    ),
    (
        "image",
        "training.per_device_train_batch_size=-4",
        "training.per_device_train_batch_size must be >= 1, got -4",
    ),
    (
        "image",
        "training.per_device_eval_batch_size=0",
        "training.per_device_eval_batch_size must be >= 1, got 0",
    ),
    (
        "image",
        "training.gradient_accumulation_steps=0",
        "training.gradient_accumulation_steps must be >= 1, got 0",
    ),
    ("image", "training.seed=-1", f"training.seed must be {SEED_RANGE}, got -1"),
    ("image", "training.data_seed=-1", f"training.data_seed must be {SEED_RANGE}, got -1"),
    ("image", "data.seed=-3", f"data.seed must be {SEED_RANGE}, got -3"),
    ("text", "data.max_length=-5", "data.max_length must be >= 1, got -5"),
    (
        "image",
        "data.max_train_samples=-5",
        "data.max_train_samples must be >= 1, got -5 (or null: all)",
    ),
    (
        "image",
        "data.max_eval_samples=0",
        "data.max_eval_samples must be >= 1, got 0 (or null: all)",
    ),
    (
        "image",
        "data.augmentation.rotation_degrees=-10",
        "data.augmentation.rotation_degrees must be in [0, 180], got -10",
    ),
    (
        "image",
        "training.report_to=tensorbord",
        "training.report_to: unknown integration 'tensorbord' (did you mean 'tensorboard'?); "
        "choose none, all or one of ['azure_ml', 'clearml', 'codecarbon', 'comet_ml', 'dagshub', "
        "'dvclive', 'flyte', 'kubeflow', 'mlflow', 'neptune', 'swanlab', 'tensorboard', "
        "'trackio', 'wandb']",
    ),
    # ---- item 4: nonsense that was accepted silently
    (
        "image",
        "training.num_train_epochs=0",
        "training.num_train_epochs must be > 0, got 0 (or set training.max_steps > 0 to train "
        "for a number of steps)",
    ),
    (
        "image",
        "training.num_train_epochs=-1",
        "training.num_train_epochs must be > 0, got -1 (or set training.max_steps > 0 to train "
        "for a number of steps)",
    ),
    (
        "image",
        "early_stopping.patience=-1",
        "early_stopping.patience must be >= 0, got -1 (0 or null: off)",
    ),
    ("image", "model.lora.alpha=-1", "model.lora.alpha must be > 0, got -1"),
    ("image", "training.weight_decay=-1", "training.weight_decay must be >= 0, got -1"),
    ("text", "data.max_length=0", "data.max_length must be >= 1, got 0"),
    (
        "image",
        "model.lora.r=8",
        "model.lora.r=8 only applies to mode 'lora' (mode is 'full'): remove model.lora or set "
        "model.mode=lora",
    ),
    # ---- issue 13: `tune:` is a typed section, checked at load like the others
    ("image", "tune.trials=0", "tune.trials must be >= 1, got 0"),
    ("image", "tune.timeout=-5", "tune.timeout must be > 0, got -5 (seconds; or null: no limit)"),
    ("image", "tune.seed=-1", f"tune.seed must be {SEED_RANGE}, got -1 (or null: training.seed)"),
    ("image", "tune.startup_trials=-1", "tune.startup_trials must be >= 0, got -1"),
    ("image", "tune.pruning=maybe", "tune.pruning: expected true or false, got 'maybe' (str)"),
    (
        "image",
        "tune.trails=3",
        "unknown recipe key 'tune.trails' (did you mean 'tune.trials'?); valid keys under tune: "
        "['baseline', 'direction', 'enqueue', 'metric', 'pruning', 'seed', 'space', 'startup_trials', "
        "'timeout', 'trials', 'warmup_evaluations']",
    ),
    (
        "image",
        "tune.direction=maximise",
        "tune.direction must be maximize or minimize, got 'maximise' (did you mean 'maximize'?)",
    ),
    (
        "text",
        "data.columns.image=img",
        "data.columns.image does not apply to text-classification, which reads the columns "
        "'text' and 'label': remove data.columns.image",
    ),
    (
        "text",
        "data.augmentation.rotation_degrees=30",
        "data.augmentation.rotation_degrees=30.0 only applies to image tasks "
        "(text-classification reads text): remove data.augmentation",
    ),
    (
        "image",
        "data.max_length=128",
        "data.max_length=128 only applies to text tasks (image-classification reads image): "
        "remove data.max_length",
    ),
    (
        "image",
        "data.validation_fraction=0.6",
        "data.validation_fraction must be in [0, 0.5], got 0.6 (validation is carved from "
        "train, which keeps at least as many rows)",
    ),
    (
        "image",
        "data.test_fraction=0.3 data.validation_fraction=0.4",
        "data.validation_fraction must be in [0, 0.35], got 0.4 (half of the 0.7 that "
        "data.test_fraction=0.3 leaves, so train keeps at least as many rows)",
    ),
    (
        "image",
        "training.eval_strategy=no early_stopping.patience=3",
        "early_stopping.patience=3 stops on the validation loss, but training.eval_strategy is "
        "no: set early_stopping.patience=null, or an eval_strategy (epoch or steps)",
    ),
    (
        "image",
        "training.eval_strategy=true",
        "training.eval_strategy: true is not a strategy; choose one of ['no', 'steps', 'epoch']",
    ),
]


@pytest.mark.parametrize(("kind", "overrides", "expected"), CASES, ids=[c[1] for c in CASES])
def test_a_bad_value_is_one_line_before_anything_loads(
    kind, overrides, expected, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    raw = image_recipe(out) if kind == "image" else text_recipe(out)
    if overrides.startswith("model.lora.alpha"):
        raw["model"]["mode"] = "lora"
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), *overrides.split()]) == 2
    err = capsys.readouterr().err
    assert err == f"hfft: error: {expected}\n"
    assert not out.exists()  # nothing written, not even the run directory


def test_report_to_an_integration_that_is_not_installed(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    fake = {"tensorboard": None, "tensorboardX": None}  # name -> spec (None: not installed)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: fake[name] if name in fake else real(name, *a)
    )
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(image_recipe(tmp_path / "run")))
    assert main(["train", str(path), "training.report_to=[none, tensorboard]"]) == 2
    assert capsys.readouterr().err == (
        "hfft: error: training.report_to=tensorboard needs the tensorboard package, which is not "
        "installed: pip install tensorboard, or set training.report_to=none\n"
    )
    assert not (tmp_path / "run").exists()
    # none, all and installed integrations pass (tensorboardX stands in for tensorboard)
    fake["tensorboardX"] = real("yaml")  # any installed module's spec
    for value in ("none", "all", "tensorboard"):
        load_recipe(image_recipe(tmp_path / "run"), [f"training.report_to={value}"])


def test_values_at_the_edge_of_their_range_pass(tmp_path):
    recipe = load_recipe(
        image_recipe(tmp_path / "run"),
        [
            "training.learning_rate=0",
            "training.seed=0",
            "data.seed=4294967295",
            "early_stopping.patience=0",
            "data.augmentation.rotation_degrees=0",
            "data.validation_fraction=0.5",
            "training.num_train_epochs=0",  # max_steps says how long instead
            "training.max_steps=10",
        ],
    )
    assert recipe.data.validation_fraction == 0.5
    assert recipe.training["max_steps"] == 10


def test_keys_equal_to_their_default_are_not_refused(tmp_path):
    # A saved recipe spells out every default: the LoRA defaults in full mode, augmentation in a
    # text task, max_length in an image task. They change nothing, so they pass.
    image = load_recipe(image_recipe(tmp_path / "run"))
    again = load_recipe(yaml.safe_load(image.to_yaml()))
    assert again == image
    text = load_recipe(text_recipe(tmp_path / "run"), ["data.columns.text=sentence"])
    assert load_recipe(yaml.safe_load(text.to_yaml())) == text
    lora = load_recipe(image_recipe(tmp_path / "run"), ["model.mode=lora", "model.lora.r=4"])
    assert lora.model.lora.r == 4


def test_nan_is_no_number_in_range(tmp_path):
    with pytest.raises(RecipeError, match="training.learning_rate must be a number, got nan"):
        load_recipe(image_recipe(tmp_path / "run"), ["training.learning_rate=.nan"])


# ---- item 5: `eval_strategy: no` as YAML 1.1 reads it, and whole TrainingArguments messages


def test_strategy_no_written_plainly_in_yaml(tmp_path):
    text = (
        "task: image-classification\n"
        "model: {checkpoint: ./m}\n"
        "data: {path: imagefolder, data_dir: ./d}\n"
        "training:\n"
        f"  output_dir: {tmp_path / 'run'}\n"
        "  use_cpu: true\n"
        "  eval_strategy: no\n"
        "  save_strategy: no\n"
        "  logging_strategy: no\n"
    )
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    assert yaml.safe_load(text)["training"]["eval_strategy"] is False  # what YAML 1.1 reads
    recipe = load_recipe(path)
    for key in ("eval_strategy", "save_strategy", "logging_strategy"):
        assert recipe.training[key] == "no"
    # Without evaluation, hfft's defaults that need it are off: no early stopping, no best model.
    assert recipe.early_stopping.patience is None
    assert recipe.training["load_best_model_at_end"] is False
    args = training_arguments(recipe, TASKS[recipe.task])
    assert (args.eval_strategy, args.save_strategy, args.logging_strategy) == ("no",) * 3
    assert load_recipe(yaml.safe_load(recipe.to_yaml())) == recipe  # the saved recipe reloads
    override = load_recipe(image_recipe(tmp_path / "run"), ["training.save_strategy=no"])
    assert override.training["save_strategy"] == "no"


def test_a_trainingarguments_message_comes_back_whole_on_one_line(tmp_path):
    recipe = load_recipe(
        image_recipe(tmp_path / "run"), ["training.save_strategy=steps", "training.save_steps=3"]
    )
    with pytest.raises(RecipeError) as err:
        training_arguments(recipe, TASKS[recipe.task])
    assert str(err.value) == (
        "invalid training: settings: --load_best_model_at_end requires the save and eval "
        'strategy to match, except when --save_strategy="best", but found Evaluation strategy: '
        "epoch; Save strategy: steps"
    )


# ---- item 6: bf16 on a machine without it says what to change in the recipe


def test_bf16_without_a_bf16_gpu_says_set_bf16_false(tmp_path):
    # conftest hides every GPU: this is a machine without bf16 support (unless use_cpu)
    recipe = load_recipe(image_recipe(tmp_path / "run"), ["training.bf16=true"])
    recipe.training.pop("use_cpu")
    with pytest.raises(RecipeError) as err:
        training_arguments(recipe, TASKS[recipe.task])
    assert str(err.value) == (
        "training.bf16=true needs a GPU with bf16 support (NVIDIA Ampere or newer) or a CPU "
        "with bf16 instructions (avx512_bf16, amx_bf16), and none is here: set "
        "training.bf16=false (or auto)"
    )
    assert "use_cpu" not in str(err.value)
    # with use_cpu the CPU's autocast does bf16: allowed
    recipe.training["use_cpu"] = True
    assert training_arguments(recipe, TASKS[recipe.task]).bf16


def test_a_tune_trial_in_another_mode_drops_the_base_recipes_lora_settings(tmp_path):
    # hfft tune over model.mode from a LoRA recipe: the full and frozen trials must not carry
    # model.lora.r=8 into a mode that refuses it.
    from hfft.search_space import apply_values

    base = load_recipe(image_recipe(tmp_path / "run"), ["model.mode=lora", "model.lora.r=8"])
    assert apply_values(base, {"model.mode": "full"}).model.lora.r == 16
    assert apply_values(base, {"model.mode": "frozen"}).model.mode == "frozen"
    assert apply_values(base, {"model.mode": "lora"}).model.lora.r == 8


@pytest.mark.slow
def test_a_run_with_evaluation_off_trains_to_the_end(vit_checkpoint, image_folder, tmp_path):
    # `eval_strategy: no` as a user writes it: the run must not trip over hfft's own defaults
    # that need evaluation (early stopping, load_best_model_at_end) once everything has loaded.
    path = tmp_path / "recipe.yaml"
    path.write_text(
        "task: image-classification\n"
        f"model: {{checkpoint: {vit_checkpoint}}}\n"
        f"data: {{path: imagefolder, data_dir: {image_folder}}}\n"
        "training:\n"
        f"  output_dir: {tmp_path / 'run'}\n"
        "  use_cpu: true\n"
        "  num_train_epochs: 1\n"
        "  eval_strategy: no\n"
        "  save_strategy: no\n"
    )
    assert main(["train", str(path)]) == 0
    metrics = yaml.safe_load((tmp_path / "run" / "metrics.json").read_text())
    assert "accuracy" in metrics["validation"]  # the final evaluation still runs
    saved = load_recipe(tmp_path / "run" / "recipe.yaml")
    assert saved.training["eval_strategy"] == "no" and saved.early_stopping.patience is None


# ---- issue 13: the mode checks ask the mode values, so a new mode needs no change here


@pytest.fixture
def probe_mode(monkeypatch):
    """A fourth mode, registered as a new mode module would be, owning model.cache_features."""
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
    return probe


def test_a_registered_mode_is_a_valid_model_mode_and_owns_its_keys(probe_mode, tmp_path):
    raw = image_recipe(tmp_path / "run")
    assert load_recipe(raw, ["model.mode=probe", "model.cache_features=true"]).model.mode == "probe"
    with pytest.raises(RecipeError) as err:
        load_recipe(raw, ["model.mode=prob"])
    assert str(err.value) == (
        "model.mode: unknown value 'prob' (did you mean 'probe'?); choose one of "
        "['full', 'frozen', 'lora', 'peft', 'lp-ft', 'probe']"
    )
    # Another mode's own key, set, is refused naming the mode it belongs to.
    with pytest.raises(RecipeError) as err:
        load_recipe(raw, ["model.cache_features=true"])
    assert str(err.value) == (
        "model.cache_features=True only applies to mode 'probe' (mode is 'full'): remove it or "
        "set model.mode=probe"
    )
    with pytest.raises(RecipeError) as err:
        load_recipe(raw, ["model.mode=probe", "model.freeze_layers=1"])
    assert "model.freeze_layers=1 only applies to mode 'full' (mode is 'probe')" in str(err.value)
    # A mode that is not marked from_scratch cannot train a model built from model.config.
    scratch = {**raw, "model": {"config": {"model_type": "vit"}, "processor": "./p"}}
    with pytest.raises(RecipeError) as err:
        load_recipe(scratch, ["model.mode=probe"])
    assert str(err.value) == (
        "model.mode 'probe' adapts pretrained weights; a model built from model.config has none: "
        "use model.mode=full"
    )
    # A tune trial in another mode resets the probe's own key to its default.
    from hfft.search_space import apply_values

    base = load_recipe(raw, ["model.mode=probe", "model.cache_features=true"])
    assert apply_values(base, {"model.mode": "full"}).model.cache_features is None
