"""data.streaming: every task trains from a `datasets.IterableDataset` for max_steps, the
preflight checks the first rows and says so, later rows are checked as they stream, held-out
splits are read into Arrow, the shuffle is seeded and reshuffled per pass, local class folders
stream in a seeded file order, and an interrupted streamed run resumes where it stopped."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import datasets
import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

import hfft.run
from hfft.cli import main
from hfft.data import load_data
from hfft.errors import DataError, RecipeError
from hfft.recipe import load_recipe
from hfft.run import train
from hfft.tasks import TASKS
from tests import tiny

STEPS = 6


def streamed(task: str, tmp_path: Path, **data: object) -> dict:
    """A recipe of the task's tiny fixture, streamed: no fractions, 6 held-out rows."""
    fixture = tiny.TASK_FIXTURES[task]
    checkpoint = fixture.make_checkpoint(tmp_path / "checkpoint")
    spec = fixture.make_data(tmp_path)
    spec.pop("test_fraction", None)
    spec.pop("validation_fraction", None)
    spec.update(streaming=True, max_eval_samples=6, shuffle_buffer=8, preflight_rows=10, **data)
    return {
        "task": task,
        "model": {"checkpoint": str(checkpoint)},
        "data": spec,
        "training": {
            "output_dir": str(tmp_path / "run"),
            "max_steps": STEPS,
            "per_device_train_batch_size": 2,
            "learning_rate": 1e-2,
            "use_cpu": True,
        },
        "early_stopping": {"patience": None},
    }


def text_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def text_recipe(tmp_path: Path, rows: list[tuple[str, str]], **data: object) -> dict:
    train_file = text_rows(tmp_path / "train.csv", rows)
    validation = text_rows(tmp_path / "validation.csv", [("good film", "pos"), ("bad", "neg")])
    checkpoint = tiny.make_text_checkpoint(tmp_path / "checkpoint")
    return {
        "task": "text-classification",
        "model": {"checkpoint": str(checkpoint)},
        "data": {
            "path": "csv",
            "data_files": {"train": str(train_file), "validation": str(validation)},
            "streaming": True,
            "preflight_rows": 8,
            **data,
        },
        "training": {
            "output_dir": str(tmp_path / "run"),
            "max_steps": 8,
            "per_device_train_batch_size": 4,
            "use_cpu": True,
        },
        "early_stopping": {"patience": None},
    }


def reviews(n: int) -> list[tuple[str, str]]:
    return [("a great film" if i % 2 else "an awful film", "pos" if i % 2 else "neg")
            for i in range(n)]  # fmt: skip


# ---------------------------------------------------------------- every task streams


@pytest.mark.parametrize("task", sorted(tiny.TASK_FIXTURES))
def test_every_task_trains_from_a_stream(task, tmp_path, caplog):
    recipe = load_recipe(streamed(task, tmp_path))
    initial = load_file(str(Path(recipe.model.checkpoint) / "model.safetensors"))
    with caplog.at_level(logging.INFO, logger="hfft"):
        result = train(recipe)
    assert "the preflight checks the first 10 train rows" in caplog.text
    assert "'train': 'streamed'" in caplog.text
    run = result.run_dir
    states = (run / "checkpoints").glob("checkpoint-*/trainer_state.json")
    assert max(json.loads(p.read_text())["global_step"] for p in states) == STEPS
    # Trained: some backbone weight moved (the head is new, so compare shared names only).
    trained = load_file(str(run / "model.safetensors"))
    shared = [k for k in trained if k in initial and trained[k].shape == initial[k].shape]
    assert any(not torch.equal(trained[k], initial[k]) for k in shared)
    assert "validation" in result.metrics
    card = (run / "README.md").read_text()
    assert f"trained from a stream (`data.streaming`) for {STEPS} steps" in card
    assert "checked the first 10 training rows" in card
    # A streamed run has steps, not epochs: evaluated and saved every tenth of max_steps.
    saved = yaml_of(run)["training"]
    assert saved["eval_strategy"] == "steps" and saved["save_steps"] == 1


def yaml_of(run: Path) -> dict:
    import yaml

    return yaml.safe_load((run / "recipe.yaml").read_text())


def test_the_streamed_run_works_with_pipeline_and_eval(tmp_path, capsys):
    from transformers import pipeline

    result = train(load_recipe(streamed("text-classification", tmp_path)))
    classifier = pipeline("text-classification", model=str(result.run_dir))
    assert classifier("a great film")[0]["label"] in {"positive", "negative"}
    # `hfft eval` reads the recipe's streamed split into Arrow (hfft.streaming.stream_split).
    assert main(["eval", str(result.run_dir), "--split", "validation"]) == 0
    assert "accuracy" in capsys.readouterr().out


# ---------------------------------------------------------------- the data as a stream


def test_train_is_a_stream_and_held_out_splits_are_datasets(tmp_path):
    recipe = load_recipe(text_recipe(tmp_path, reviews(40), max_eval_samples=1))
    data = load_data(recipe.data, TASKS[recipe.task])
    assert isinstance(data.splits["train"], datasets.IterableDataset)
    assert isinstance(data.splits["validation"], datasets.Dataset)
    assert len(data.splits["validation"]) == 1  # max_eval_samples
    assert data.sizes() == {"train": "streamed", "validation": 1}
    assert len(data.checked_train) == 8  # preflight_rows
    assert data.label_names == ["neg", "pos"]
    # Seeded: the same order for the same pass, another order for the next pass.
    stream = data.splits["train"]
    first = [row["label"] for row in stream]
    assert first == [row["label"] for row in stream]
    assert sorted(first) == sorted(i % 2 for i in range(40))
    stream.set_epoch(1)
    assert [row["label"] for row in stream] != first


def test_without_a_validation_split_the_first_rows_are_held_out(tmp_path, caplog):
    raw = text_recipe(tmp_path, reviews(30), max_eval_samples=4)
    raw["data"]["data_files"] = raw["data"]["data_files"]["train"]
    with caplog.at_level(logging.INFO, logger="hfft"):
        data = load_data(load_recipe(raw).data, TASKS["text-classification"])
    assert "the first 4 streamed train rows are held out" in caplog.text
    assert data.splits["validation"]["text"] == [r[0] for r in reviews(4)]
    assert sum(1 for _ in data.splits["train"]) == 26


def test_a_stream_held_out_whole_is_one_line(tmp_path):
    raw = text_recipe(tmp_path, reviews(5), max_eval_samples=10)
    raw["data"]["data_files"] = raw["data"]["data_files"]["train"]
    with pytest.raises(DataError, match=r"no rows left after the first 5 held out") as err:
        load_data(load_recipe(raw).data, TASKS["text-classification"])
    assert "\n" not in str(err.value)


def test_a_bad_row_after_the_preflight_stops_the_run_with_its_number(tmp_path):
    rows = reviews(40)
    rows[25] = ("", "pos")  # an empty text, after the 8 rows the preflight reads
    recipe = load_recipe(text_recipe(tmp_path, rows, shuffle_buffer=1))
    data = load_data(recipe.data, TASKS[recipe.task])  # the preflight passes
    with pytest.raises(DataError, match=r"found while streaming .*first 8 rows.*train row 25"):
        list(data.splits["train"])


def test_skip_leaves_later_bad_rows_out_and_says_so(tmp_path, caplog):
    rows = reviews(40)
    rows[25] = ("", "pos")
    recipe = load_recipe(text_recipe(tmp_path, rows, on_bad_example="skip"))
    data = load_data(recipe.data, TASKS[recipe.task])
    with caplog.at_level(logging.WARNING, logger="hfft"):
        seen = list(data.splits["train"])
    assert len(seen) == 39
    assert "skipped an unusable streamed example" in caplog.text and "train row 25" in caplog.text


def test_label_names_give_the_order_and_an_unknown_label_stops_the_stream(tmp_path):
    rows = [*reviews(20), ("so so", "meh")]
    raw = text_recipe(tmp_path, rows, label_names=["pos", "neg"], shuffle_buffer=1)
    data = load_data(load_recipe(raw).data, TASKS["text-classification"])
    assert data.label_names == ["pos", "neg"]
    assert data.splits["validation"]["label"] == [0, 1]
    with pytest.raises(DataError, match=r"streaming train rows 0-20 .*\['meh'\] appear in") as e:
        list(data.splits["train"])
    assert "\n" not in str(e.value)


def test_a_local_class_folder_streams_in_a_seeded_random_order(tmp_path):
    folder = tiny.make_image_folder(tmp_path / "colors", per_class=8)
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": str(tiny.make_image_checkpoint(tmp_path / "ck"))},
        "data": {
            "path": "imagefolder",
            "data_dir": str(folder),
            "streaming": True,
            "max_eval_samples": 6,
            "shuffle_buffer": 1,
        },
        "training": {"output_dir": str(tmp_path / "run"), "max_steps": 2, "use_cpu": True},
    }
    data = load_data(load_recipe(raw).data, TASKS["image-classification"])
    # Listed by datasets, the files come class folder by class folder; here they are mixed.
    assert len(set(data.splits["validation"]["label"])) > 1
    labels = [row["label"] for row in data.splits["train"]]
    assert len(labels) == 24 - 6 and labels != sorted(labels)
    again = load_data(load_recipe(raw).data, TASKS["image-classification"])
    assert [row["label"] for row in again.splits["train"]] == labels


def test_a_stream_sorted_by_label_is_warned_about(tmp_path, caplog):
    rows = sorted(reviews(40), key=lambda r: r[1])  # every "neg" first
    with caplog.at_level(logging.WARNING, logger="hfft"):
        load_data(load_recipe(text_recipe(tmp_path, rows)).data, TASKS["text-classification"])
    assert "all have the label 'neg': the stream looks sorted by label" in caplog.text


def test_frozen_mode_streams_without_the_feature_cache(tmp_path):
    from hfft import feature_cache

    raw = text_recipe(tmp_path, reviews(20))
    raw["model"]["mode"] = "frozen"
    recipe = load_recipe(raw)
    assert feature_cache.cache_decision(recipe, None) == (
        False,
        "data.streaming: the train split is read pass by pass, not kept",
    )


# ---------------------------------------------------------------- recipes a stream cannot run


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"training": {"max_steps": -1}}, "set training.max_steps"),
        ({"data": {"test_fraction": 0.2}}, "data.test_fraction=0.2 needs the size"),
        ({"model": {"mode": "lp-ft"}}, "model.mode lp-ft first fits the head"),
        ({"model": {"cache_features": True}}, "model.cache_features is true, but a streamed"),
        ({"data": {"streaming": False, "label_names": ["a"]}}, "data.label_names is read with"),
    ],
)
def test_recipes_a_stream_cannot_run_are_refused_in_one_line(tmp_path, change, message):
    raw = text_recipe(tmp_path, reviews(4))
    for section, values in change.items():
        raw[section].update(values)
    with pytest.raises(RecipeError, match=message) as err:
        load_recipe(raw)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- resume


class InterruptAfterFirstSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


def test_an_interrupted_streamed_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """Interrupted after its first checkpoint and resumed, a streamed run ends with the weights
    of the same run never interrupted: it continues in the same stream order, batches seen
    skipped."""
    recipes = {}
    for name in ("whole", "cut"):
        (tmp_path / name).mkdir()
        recipes[name] = text_recipe(tmp_path / name, reviews(24), shuffle_buffer=5)
        recipes[name]["training"].update(save_steps=4, eval_steps=4, max_steps=10)
    whole, parted = recipes["whole"], recipes["cut"]
    parted["model"] = whole["model"]  # the same starting weights
    uninterrupted = train(load_recipe(whole))

    build = hfft.run.build_run

    def interrupting(r):
        built = build(r)
        built.trainer.add_callback(InterruptAfterFirstSave())
        return built

    monkeypatch.setattr(hfft.run, "build_run", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train(load_recipe(parted))
    monkeypatch.setattr(hfft.run, "build_run", build)
    resumed = train(load_recipe(parted))
    a = load_file(str(uninterrupted.run_dir / "model.safetensors"))
    b = load_file(str(resumed.run_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name


@pytest.mark.slow
def test_a_streamed_run_trains_under_torchrun(tmp_path):
    """Two processes over gloo: accelerate hands each its part of the stream's batches; one
    finished run directory, trained for max_steps."""
    import subprocess

    import yaml
    from transformers import pipeline

    from hfft import run_dir as run_state
    from tests.distributed_cases import launch_env, torchrun

    raw = streamed("image-classification", tmp_path)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    done = subprocess.run(
        [*torchrun(), "train", str(recipe)],
        cwd=tmp_path,
        env=launch_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    run = tmp_path / "run"
    assert run_state.is_finished(run)
    steps = [run_state.checkpoint_step(p) for p in run_state.complete_checkpoints(run)]
    assert max(steps) == STEPS
    pipeline("image-classification", model=str(run))


def test_loader_workers_are_capped_at_the_streams_shards(tmp_path, caplog):
    from types import SimpleNamespace

    from hfft.streaming import fit_loader_workers

    recipe = load_recipe(text_recipe(tmp_path, reviews(12)))
    stream = load_data(recipe.data, TASKS[recipe.task]).splits["train"]
    assert stream.n_shards == 1  # one CSV file
    args = SimpleNamespace(dataloader_num_workers=7)
    with caplog.at_level(logging.INFO, logger="hfft"):
        fit_loader_workers(args, stream, {})
    assert args.dataloader_num_workers == 1
    assert "1 loader worker(s), one per shard of the stream (not 7)" in caplog.text
    chosen = SimpleNamespace(dataloader_num_workers=7)
    fit_loader_workers(chosen, stream, {"dataloader_num_workers": 7})  # the recipe's choice
    assert chosen.dataloader_num_workers == 7
