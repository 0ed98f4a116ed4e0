"""The task contract: every entry of `TASKS` goes through load -> prepare -> training in each
mode -> eval -> predict -> card -> a Space call, on tiny models. A new task that forgets a piece
fails here, with a message naming the task, the mode and the piece."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hfft.modes import MODES
from hfft.tasks import TASKS, LabelScheme, Modality, Task
from tests.tiny import TASK_FIXTURES


@contextlib.contextmanager
def piece(task: str, mode: str, name: str) -> Iterator[None]:
    """Re-raise any failure inside as one that says which piece of the contract broke."""
    try:
        yield
    except Exception as err:
        raise AssertionError(
            f"task {task!r}, mode {mode!r}: the {name} piece failed: {type(err).__name__}: {err}"
        ) from err


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_declares_every_part(name):
    task = TASKS[name]
    assert isinstance(task, Task) and task.name == name
    for part, kind in ((task.modality, Modality), (task.labels, LabelScheme)):
        assert isinstance(part, kind)
        required = [
            f for f in dataclasses.fields(part)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]  # fmt: skip
        for field in required:
            assert getattr(part, field.name) is not None, f"{name}: {kind.__name__}.{field.name}"
    assert dataclasses.is_dataclass(task.modality.options), f"{name}: options is no dataclass"
    assert task.labels.default_metrics, f"{name}: the label scheme names no default metrics"
    assert name in TASK_FIXTURES, (
        f"task {name!r} has no tiny fixture: add one to tests/tiny.py TASK_FIXTURES"
    )


def test_the_space_has_an_interface_for_every_task():
    from hfft.serve import load_app_module

    interfaces = load_app_module().interfaces.INTERFACES
    missing = sorted(set(TASKS) - set(interfaces))
    assert not missing, f"space/interfaces.py has no entry for {missing}"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _backbone_prefix(name: str, checkpoint: Path) -> str:
    import transformers

    from hfft.modes import anatomy

    auto = getattr(transformers, TASKS[name].model_class)
    return anatomy(auto.from_pretrained(str(checkpoint))).backbone_prefix


def _train(name: str, mode: str, tmp_path: Path):
    from hfft.recipe import load_recipe
    from hfft.run import train

    fixture = TASK_FIXTURES[name]
    checkpoint = fixture.make_checkpoint(tmp_path / "ckpt")
    data = fixture.make_data(tmp_path / "data")
    recipe = load_recipe(
        {
            "task": name,
            "model": {"checkpoint": str(checkpoint), "mode": mode},
            "data": data,
            "early_stopping": {"patience": None},
            "training": {
                "output_dir": str(tmp_path / "run"),
                "num_train_epochs": 2,
                "per_device_train_batch_size": 4,
                "learning_rate": 1e-2,
                "use_cpu": True,
                "save_strategy": "no",
                "load_best_model_at_end": False,
            },
        }
    )
    return checkpoint, train(recipe)


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_goes_through_every_piece_in_every_mode(name, mode, tmp_path):
    fixture = TASK_FIXTURES[name]
    with piece(name, mode, "load/prepare/train"):
        checkpoint, result = _train(name, mode, tmp_path)
        run = result.run_dir
        assert result.trainable_parameters > 0
        before, after = _weights(checkpoint), _weights(run)
        prefix = _backbone_prefix(name, checkpoint) + "."
        common = [k for k in before if k.startswith(prefix) and k in after]
        changed = [k for k in common if not torch.equal(before[k], after[k])]
        if MODES[mode].frozen_backbone:
            assert not changed, f"a frozen backbone changed: {changed[:3]}"
        else:
            assert changed, "no backbone weight changed in training"
    labels = json.loads((run / "config.json").read_text())["id2label"].values()
    with piece(name, mode, "eval"):
        from hfft.eval_run import evaluate_run

        saved = json.loads((run / "metrics.json").read_text())["test"]
        again = evaluate_run(run, split="test")
        for metric in TASKS[name].labels.default_metrics:
            assert again[metric] == pytest.approx(saved[metric], abs=1e-6), metric
    with piece(name, mode, "predict"):
        from hfft.predict import predict

        inputs = fixture.predict_inputs(tmp_path / "data")
        out = list(predict(str(run), inputs, top_k=1))
        assert out and all("error" not in o for o in out), out
        for o in out:
            fixture.check_predictions(o["predictions"], labels)
    with piece(name, mode, "card"):
        card = (run / "README.md").read_text()
        assert f"pipeline_tag: {name}" in card and f"**{mode}** mode" in card
    with piece(name, mode, "Space"):
        from hfft.serve import load_app_module

        app = load_app_module()
        info = app.load_info(str(run))
        predictor = app.Predictor(info)
        prepared = predictor.prepare(fixture.space_input(run))
        (shown,) = predictor.predict([prepared.value])
        assert shown, "the Space returned nothing"
