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
from tests.tiny import SCHEME_FIXTURES, TASK_FIXTURES, TaskFixture


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


def _train(name: str, mode: str, tmp_path: Path, fixture: TaskFixture | None = None):
    from hfft.recipe import load_recipe
    from hfft.run import train

    fixture = fixture or TASK_FIXTURES[name]
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
    _every_piece(name, mode, TASK_FIXTURES[name], TASKS[name].labels, tmp_path)


@pytest.mark.parametrize(("name", "scheme"), sorted(SCHEME_FIXTURES))
def test_every_label_scheme_of_a_task_declares_every_part(name, scheme):
    schemes = {s.name: s for s in TASKS[name].label_schemes}
    assert TASKS[name].labels.name in schemes, f"{name}: its default scheme is not listed"
    assert scheme in schemes, f"{name} has no label scheme {scheme!r}"
    for field in dataclasses.fields(LabelScheme):
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            assert getattr(schemes[scheme], field.name) is not None, f"{scheme}: {field.name}"
    assert schemes[scheme].default_metrics and schemes[scheme].resolve is not None


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize(("name", "scheme"), sorted(SCHEME_FIXTURES))
def test_label_scheme_goes_through_every_piece_in_every_mode(name, scheme, mode, tmp_path):
    """The other label schemes of a task (multi-label lists...) through the same pieces, the
    scheme chosen from the fixture's data."""
    schemes = {s.name: s for s in TASKS[name].label_schemes}
    _every_piece(name, mode, SCHEME_FIXTURES[name, scheme], schemes[scheme], tmp_path)


def _every_piece(name: str, mode: str, fixture: TaskFixture, scheme: LabelScheme, tmp_path):
    with piece(name, mode, "load/prepare/train"):
        checkpoint, result = _train(name, mode, tmp_path, fixture)
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
    config = json.loads((run / "config.json").read_text())
    labels = config["id2label"].values()
    with piece(name, mode, "label scheme"):
        assert TASKS[name].for_config(config).labels.name == scheme.name
        if scheme.decision_file:
            assert (run / scheme.decision_file).is_file(), scheme.decision_file
    with piece(name, mode, "eval"):
        from hfft.eval_run import evaluate_run

        saved = json.loads((run / "metrics.json").read_text())["test"]
        again = evaluate_run(run, split="test")
        for metric in scheme.default_metrics:
            assert again[metric] == pytest.approx(saved[metric], abs=1e-6), metric
    with piece(name, mode, "intervals"):
        _check_intervals(run, scheme, list(labels))
    if mode == "frozen":  # the baselines probe the checkpoint: the same in every mode
        with piece(name, mode, "baselines"):
            _check_baselines(run)
    with piece(name, mode, "predict"):
        from hfft.predict import predict

        inputs = fixture.predict_inputs(tmp_path / "data")
        out = list(predict(str(run), inputs, top_k=1, all_scores=True))
        assert out and all("error" not in o for o in out), out
        for line in out:  # a classifier's ranked labels, a tagger's entities
            fixture.check_predictions(line, labels, scheme)
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


def _check_intervals(run: Path, scheme: LabelScheme, labels: list[str]) -> None:
    """metrics.json has `<name>_ci` around each metric the scheme bootstraps, predictions.json
    scores exactly the reported metrics, the card shows the intervals."""
    from hfft.uncertainty import point_values

    saved = json.loads((run / "metrics.json").read_text())["test"]
    kept = json.loads((run / "predictions.json").read_text())["test"]
    metrics = scheme.build_metrics([], labels)
    stats, statistics = metrics.interval_stats(kept["predictions"], kept["label_ids"])
    assert scheme.default_metrics[0] in statistics, sorted(statistics)
    points = point_values(stats, statistics)
    for name in statistics:
        low, high = saved[f"{name}_ci"]
        assert low <= saved[name] <= high, (name, saved[name], low, high)
        assert points[name] == pytest.approx(saved[name], abs=1e-9), name
    card = (run / "README.md").read_text()
    assert f"95% bootstrap interval over the split's {scheme.example_unit}" in card
    first = scheme.default_metrics[0]
    low, high = saved[f"{first}_ci"]
    assert f"| {saved[first]:.3f} [{low:.2f}, {high:.2f}] |" in card, first


def _check_baselines(run: Path) -> None:
    """`hfft eval --baselines`: the scheme's majority baseline and the linear probe, with
    intervals; a paired comparison of the run with itself finds no difference."""
    from hfft.comparisons import compare_runs
    from hfft.eval_run import evaluate_run

    found = evaluate_run(run, split="test", baselines=True)["baselines"]
    assert len(found) == 2 and "linear_probe" in found, sorted(found)
    for entry in found.values():
        assert any(k.endswith("_ci") for k in entry), entry
    same = compare_runs(run, run, "test")
    assert same and all(c.identical and c.difference == 0 for c in same.values())


@pytest.mark.slow
@pytest.mark.parametrize("key", [*sorted(TASK_FIXTURES), *sorted(SCHEME_FIXTURES)], ids=str)
def test_seeds_train_complete_runs_for_every_task(key, tmp_path):
    """`--seeds 2`: two finished run directories and a summary whose means are theirs."""
    from hfft.recipe import load_recipe
    from hfft.run import train
    from hfft.run_files import is_finished
    from hfft.seeds import train_seeds

    name, fixture = (key, TASK_FIXTURES[key]) if key in TASK_FIXTURES else (
        key[0], SCHEME_FIXTURES[key])  # fmt: skip
    recipe = load_recipe({
        "task": name,
        "model": {"checkpoint": str(fixture.make_checkpoint(tmp_path / "ckpt")),
                  "mode": "frozen"},
        "data": fixture.make_data(tmp_path / "data"),
        "early_stopping": {"patience": None},
        "training": {"output_dir": str(tmp_path / "runs"), "num_train_epochs": 1,
                     "use_cpu": True, "save_strategy": "no", "load_best_model_at_end": False},
    })  # fmt: skip
    summary = train_seeds(recipe, 2, lambda one: train(one))
    runs = [tmp_path / "runs" / f"seed-{seed}" for seed in summary["seeds"]]
    assert all(is_finished(r) and (r / "README.md").is_file() for r in runs), runs
    tests = [json.loads((r / "metrics.json").read_text())["test"] for r in runs]
    scalars = {m for m, v in tests[0].items() if isinstance(v, int | float)}
    assert scalars and set(summary["metrics"]["test"]) == scalars
    for metric, s in summary["metrics"]["test"].items():
        assert s["mean"] == pytest.approx(sum(t[metric] for t in tests) / 2), metric
