"""Resume: a killed or interrupted `hfft train` continues from its last complete checkpoint (full
and LoRA, the adapter and its modules_to_save head included), an unfinished run directory is never
taken for a model, and a finished one is only trained again with --overwrite."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import TrainerCallback

import hfft.run
from hfft import run_dir as run_state
from hfft.cli import main
from hfft.errors import HfftError
from hfft.recipe import load_recipe
from hfft.run_lock import LOCK_FILE
from tests import tiny

REPO_ROOT = Path(__file__).resolve().parent.parent
MODES = {
    "full": [],
    "lora": ["model.mode=lora", "model.lora.r=4", "model.lora.alpha=8"],
    # Another PEFT method's adapter, and LP-FT (the probe is not rerun: the checkpoint holds it).
    "dora": ["model.mode=peft", "model.peft.method=dora", "model.peft.r=4"],
    "lp-ft": ["model.mode=lp-ft", "model.lp_ft.then=lora", "model.lora.r=4"],
}
ADAPTERS = ("lora", "dora", "lp-ft")


def write_recipe(path: Path, checkpoint: Path, data: Path, out: Path, overrides=()) -> Path:
    """A tiny image recipe: 16 training images, batch 4 -> 4 steps per epoch, 3 epochs, a
    checkpoint every epoch, all kept."""
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": str(checkpoint)},
        "data": {"path": "imagefolder", "data_dir": str(data)},
        "training": {
            "output_dir": str(out),
            "num_train_epochs": 3,
            "per_device_train_batch_size": 4,
            "learning_rate": 1.0e-2,
            "save_total_limit": None,
            "use_cpu": True,
        },
        "early_stopping": {"patience": None},
    }
    for item in overrides:
        key, value = item.split("=", 1)
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def setup(tmp_path, vit_checkpoint, image_folder):
    def make(mode: str) -> tuple[Path, Path]:
        recipe = write_recipe(
            tmp_path / f"{mode}.yaml", vit_checkpoint, image_folder, tmp_path / mode, MODES[mode]
        )
        return recipe, tmp_path / mode

    return make


def assert_complete(run: Path, mode: str) -> None:
    assert not (run / run_state.MARKER).exists()
    assert run_state.is_finished(run)
    for name in ("config.json", "model.safetensors", "recipe.yaml", "metrics.json", "README.md"):
        assert (run / name).is_file(), name
    assert (run / "adapter" / "adapter_config.json").is_file() == (mode in ADAPTERS)


def saved_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    files = list(checkpoint.glob("adapter_model.safetensors")) or [checkpoint / "model.safetensors"]
    return load_file(str(files[0]))


def trained_weights(model) -> dict[str, torch.Tensor]:
    """The model's weights under the names its checkpoint uses (PEFT: adapter + head only)."""
    from peft import PeftModel, get_peft_model_state_dict

    if isinstance(model, PeftModel):
        return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- SIGKILL and resume, for real


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
def test_sigkilled_train_resumes_from_its_checkpoint(mode, setup, image_folder, capsys):
    recipe, run = setup(mode)
    env = {**os.environ, "HFFT_TEST_STEP_SECONDS": "0.5", "PYTHONPATH": str(REPO_ROOT)}
    killed = subprocess.Popen(
        [sys.executable, "-m", "tests.slow_train", "train", str(recipe)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    first = run / "checkpoints" / "checkpoint-4"
    deadline = time.monotonic() + 60
    try:
        while not (first / run_state.CHECKPOINT_MARKER).is_file():
            assert killed.poll() is None, killed.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 60 s"
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.wait(timeout=30)
        killed.stderr.close()
    assert killed.returncode == -signal.SIGKILL
    # Killed during step 5 of 12 (each step pauses 0.5 s): only the first checkpoint is complete.
    assert [p.name for p in run_state.complete_checkpoints(run)] == ["checkpoint-4"]
    before = json.loads((first / "trainer_state.json").read_text())
    assert before["global_step"] == 4
    checkpoint_weights = saved_weights(first)

    # The killed run is no model: eval/predict/push/serve refuse it.
    assert run_state.is_unfinished(run)
    image = next((image_folder / "train" / "red").glob("*.png"))
    for argv in (["eval", str(run)], ["predict", str(run), str(image)], ["push", str(run), "--repo-id", "u/x"]):  # fmt: skip
        assert main(argv) == 2
        assert "unfinished hfft run" in capsys.readouterr().err

    resumed = subprocess.run(
        [sys.executable, "-m", "hfft.cli", "train", str(recipe), "--resume"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    err = resumed.stderr
    assert "resuming" in err and "continuing from checkpoint-4 (step 4)" in err
    assert "resumed at step 4 of 12" in err
    assert "trained steps 5-12 in this session (8 steps)" in err  # not 12: it did not restart
    assert "Traceback" not in err
    assert ("LP-FT probe" in err) is False  # the resumed run fine-tunes on from checkpoint-4
    assert_complete(run, mode)

    # The resumed Trainer state extends the killed run's: same first epoch, then the rest.
    after = json.loads((run / "checkpoints" / "checkpoint-12" / "trainer_state.json").read_text())
    assert after["global_step"] == 12
    assert after["log_history"][: len(before["log_history"])] == before["log_history"]
    # The checkpoint the resume read is untouched (the resumed run wrote new ones).
    for name, tensor in saved_weights(first).items():
        assert torch.equal(tensor, checkpoint_weights[name]), name


# ---------------------------------------------------------------- Ctrl-C, then plain `train`


class InterruptAfterFirstSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


class WeightsAtStart(TrainerCallback):
    def __init__(self) -> None:
        self.step: int | None = None
        self.weights: dict[str, torch.Tensor] = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.step, self.weights = state.global_step, trained_weights(model)


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
def test_interrupted_run_is_detected_and_continues_with_restored_weights(
    mode, setup, monkeypatch, capsys, caplog
):
    recipe, run = setup(mode)
    build = hfft.run.build_run

    def with_callback(callback):
        def build_run(r):
            built = build(r)
            built.trainer.add_callback(callback)
            return built

        monkeypatch.setattr(hfft.run, "build_run", build_run)

    with_callback(InterruptAfterFirstSave())
    assert main(["train", str(recipe), "training.seed=7"]) == 130
    err = capsys.readouterr().err  # the message follows the Trainer's progress bar
    assert (
        "hfft: interrupted: checkpoint-4 (step 4) is saved; continue with: "
        f"hfft train {recipe} training.seed=7 --resume\n"
    ) in err
    assert run_state.is_unfinished(run)
    checkpoint = run / "checkpoints" / "checkpoint-4"
    expected = saved_weights(checkpoint)

    start = WeightsAtStart()
    with_callback(start)
    with caplog.at_level(logging.INFO, logger="hfft"):
        assert main(["train", str(recipe), "training.seed=7"]) == 0  # no --resume: detected
    logged = caplog.text
    assert f"found an interrupted run in {run}: continuing from checkpoint-4 (step 4)" in logged
    assert start.step == 4
    # The model the Trainer resumed with is the checkpoint's, tensor for tensor: for LoRA, the
    # adapter and the modules_to_save head (a silent restart would hold the initial weights).
    assert start.weights.keys() == expected.keys()
    if mode == "lora":
        assert any("classifier" in k for k in expected)
        assert any("lora_A" in k for k in expected)
    for name, tensor in expected.items():
        assert torch.equal(start.weights[name], tensor), name
    assert_complete(run, mode)


# ---------------------------------------------------------------- what is in the output dir


def fake_finished_run(run: Path, recipe_path: Path) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text("{}")
    (run / "recipe.yaml").write_text(recipe_path.read_text())


def test_a_finished_run_needs_overwrite(setup, capsys):
    recipe, run = setup("full")
    fake_finished_run(run, recipe)
    assert main(["train", str(recipe)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"hfft: error: {run} already holds a finished run: add --overwrite to train it again "
        "from scratch, or set another training.output_dir"
    )
    assert main(["train", str(recipe), "--resume"]) == 2
    assert "already holds a finished run" in capsys.readouterr().err


def test_resume_without_a_checkpoint_says_so(setup, capsys):
    recipe, run = setup("full")
    assert main(["train", str(recipe), "--resume"]) == 2
    assert "--resume: no complete checkpoint in" in capsys.readouterr().err
    run_state.mark_unfinished(run)
    # An incomplete checkpoint (killed while saving) does not count.
    (run / "checkpoints" / "checkpoint-8").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-8" / "trainer_state.json").write_text("{}")
    assert main(["train", str(recipe), "--resume"]) == 2
    assert "--resume: no complete checkpoint in" in capsys.readouterr().err


def test_checkpoint_choice_skips_incomplete_ones(tmp_path):
    for step, complete in ((4, True), (8, True), (12, False)):
        folder = tmp_path / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text("{}")
        if complete:
            (folder / run_state.CHECKPOINT_MARKER).write_text(str(step))
    assert run_state.last_checkpoint(tmp_path).name == "checkpoint-8"


def test_resume_refuses_a_changed_model_or_data(setup, capsys):
    recipe, run = setup("full")
    run_state.mark_unfinished(run)
    load_recipe(recipe).save(run / "recipe.yaml")
    folder = run / "checkpoints" / "checkpoint-4"
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text("{}")
    (folder / run_state.CHECKPOINT_MARKER).write_text("4")
    assert main(["train", str(recipe), "model.mode=lora", "data.seed=1"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"hfft: error: {run} holds an interrupted run of a different recipe (model.mode, "
        "data.seed changed): --overwrite starts over with this one, or set another "
        "training.output_dir"
    )
    # Training settings may change (more epochs, another learning rate): that resumes.
    start = run_state.plan_start(load_recipe(recipe, ["training.num_train_epochs=5"]), None, False)
    assert start.resume_from == folder and not start.wipe


def test_overwrite_wipes_the_previous_run_but_not_the_tune_study(setup, tmp_path):
    """A run directory from before hfft kept a manifest: its own names go, anything else stays."""
    recipe_path, run = setup("lora")
    fake_finished_run(run, recipe_path)
    for rel in ("model.safetensors", "adapter/adapter_config.json", "checkpoints/checkpoint-4/x",
                "examples/0.png", "tune/study.db", "notes.txt", "mydata/train.csv"):  # fmt: skip
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text("x")
    recipe = load_recipe(recipe_path)
    start = run_state.plan_start(recipe, None, overwrite=True)
    assert start.wipe and start.resume_from is None
    run_state.begin(run, recipe, start)
    assert sorted(p.name for p in run.iterdir()) == sorted(
        [
            run_state.MARKER,
            run_state.MANIFEST,
            LOCK_FILE,
            "recipe.yaml",
            "tune",
            "notes.txt",
            "mydata",
        ]
    )
    assert (run / "notes.txt").read_text() == "x" and (run / "tune" / "study.db").is_file()
    assert run_state.is_unfinished(run) and not run_state.is_finished(run)


def test_resume_and_overwrite_exclude_each_other(setup, capsys):
    recipe, _ = setup("full")
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(recipe), "--resume", "--overwrite"])
    assert exit_.value.code == 2
    assert "argument --overwrite: not allowed with argument --resume" in capsys.readouterr().err
    with pytest.raises(HfftError, match="choose one"):
        run_state.plan_start(load_recipe(recipe), True, True)


def test_space_app_refuses_an_unfinished_run(tmp_path):
    from hfft.serve import load_app_module

    app = load_app_module()
    run = tiny.make_image_checkpoint(tmp_path / "run", "vit")
    app.check_finished(str(run))  # a plain model folder is served
    run_state.mark_unfinished(run)
    assert app.RUN_UNFINISHED_MARKER == run_state.MARKER
    with pytest.raises(ValueError, match="unfinished hfft run"):
        app.load_info(str(run))


def test_resume_can_name_a_checkpoint(setup, capsys):
    recipe, run = setup("full")
    run_state.mark_unfinished(run)
    for step in (4, 8):
        folder = run / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text("{}")
        (folder / run_state.CHECKPOINT_MARKER).write_text(str(step))
    named = run_state.plan_start(load_recipe(recipe), "checkpoint-4", False)
    assert named.resume_from == run / "checkpoints" / "checkpoint-4"
    assert run_state.plan_start(load_recipe(recipe), True, False).resume_from.name == "checkpoint-8"
    assert main(["train", str(recipe), "--resume", "checkpoint-5"]) == 2
    assert "--resume checkpoint-5: not a complete checkpoint folder; " in capsys.readouterr().err
