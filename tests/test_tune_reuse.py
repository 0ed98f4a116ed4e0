"""What the trials of one `hfft tune` share (hfft.tune_reuse): the data loaded once, no test
split in a trial, the collector's walk over what earlier trials left frozen, and the same
trials as a search that reloads everything per trial."""

from __future__ import annotations

import csv
import gc

import datasets
import pytest

import hfft.data
import hfft.run
from hfft import tune_reuse
from hfft.feature_cache import cache_dir
from hfft.recipe import load_recipe
from hfft.tune import tune
from tests import tiny

pytestmark = pytest.mark.slow

SPACE = {
    "training.learning_rate": {"type": "float", "low": 1e-3, "high": 3e-1, "log": True},
    "training.num_train_epochs": {"type": "int", "low": 1, "high": 2},
    "training.per_device_train_batch_size": None,
}


def frozen_tune_recipe(ckpt, folder, out, cache=True, **tune_section):
    return load_recipe(
        {
            "task": "image-classification",
            "model": {"checkpoint": str(ckpt), "mode": "frozen", "cache_features": cache},
            "data": {
                "path": "imagefolder",
                "data_dir": str(folder),
                "validation_fraction": 0.3,
                "augmentation": {"enabled": False},
            },
            "training": {
                "output_dir": str(out),
                "per_device_train_batch_size": 4,
                "learning_rate": 0.05,
                "num_train_epochs": 2,
                "use_cpu": True,
                "disable_tqdm": True,
            },
            "early_stopping": {"patience": None},
            "tune": {"trials": 3, "seed": 1, "space": SPACE, **tune_section},
        }
    )


@pytest.fixture
def folder(tmp_path):
    return tiny.make_image_folder(tmp_path / "colors", per_class=6, splits=("train", "test"))


def _rows(result):
    with (result.tune_dir / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_a_search_loads_its_data_once_and_no_trial_extracts_the_test_split(
    vit_checkpoint, folder, tmp_path, monkeypatch
):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    loads = []
    real_load = hfft.data.load_data
    monkeypatch.setattr(
        hfft.data, "load_data", lambda spec, task: loads.append(spec) or real_load(spec, task)
    )
    seen = []

    def build_run(recipe, _build=hfft.run.build_run, **kwargs):
        run = _build(recipe, **kwargs)
        seen.append((sorted(run.data.splits), run.data.splits["train"], gc.get_freeze_count()))
        return run

    monkeypatch.setattr(hfft.run, "build_run", build_run)
    assert gc.get_freeze_count() == 0
    tune(frozen_tune_recipe(vit_checkpoint, folder, tmp_path / "run"))

    assert len(loads) == 1 and len(seen) == 3
    assert [splits for splits, _, _ in seen] == [["train", "validation"]] * 3
    assert all(train is seen[0][1] for _, train, _ in seen)  # the very same dataset
    # Features on disk for train and validation only: the test split was never extracted.
    assert len(list(cache_dir().glob("*.arrow"))) == 2
    # Each trial starts with what came before it frozen (and later ones with more: the first
    # trial's imports and data); the search unfreezes it all when it ends.
    frozen = [count for _, _, count in seen]
    assert 0 < frozen[0] < frozen[1]
    assert gc.get_freeze_count() == 0


def test_shared_data_and_frozen_leftovers_give_the_trials_of_a_search_that_reloads(
    vit_checkpoint, folder, tmp_path, monkeypatch
):
    """The same sampled values, metrics, losses and best trial as the per-trial reload that
    hfft tune did before (every split loaded by every trial, a full collection after each)."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "shared"))
    shared = tune(frozen_tune_recipe(vit_checkpoint, folder, tmp_path / "shared-run"))

    def load_every_time(self, spec, task):
        self.loads += 1
        return hfft.data.load_data(spec, task)

    monkeypatch.setattr(tune_reuse.DataOnce, "__call__", load_every_time)
    monkeypatch.setattr(tune_reuse, "free_memory", gc.collect)
    monkeypatch.setattr(tune_reuse, "freeze_survivors", lambda: None)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "reloaded"))
    reloaded = tune(frozen_tune_recipe(vit_checkpoint, folder, tmp_path / "reloaded-run"))

    assert len(_rows(shared)) == 3
    assert _rows(shared) == _rows(reloaded)
    assert shared.best_trial.number == reloaded.best_trial.number
    assert shared.best_value == reloaded.best_value


def test_no_trial_model_outlives_its_trial_pruned_or_not(vit_checkpoint, folder, tmp_path, monkeypatch):  # fmt: skip
    """A pruned trial's exception keeps its Trainer (and model: uncached, the Trainer holds the
    whole model) alive in a reference cycle until the collector runs: freezing it would hold
    the model, on a GPU its memory, for the rest of the search. Every earlier trial's model is
    gone when the next trial starts."""
    import weakref

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    models = []
    alive_at_start = []

    def build_run(recipe, _build=hfft.run.build_run, **kwargs):
        alive_at_start.append(sum(ref() is not None for ref in models))
        run = _build(recipe, **kwargs)
        models.append(weakref.ref(run.model))
        return run

    monkeypatch.setattr(hfft.run, "build_run", build_run)
    # A sensible trial, then one too slow to learn: the pruner stops it after its first epoch.
    recipe = frozen_tune_recipe(
        vit_checkpoint,
        folder,
        tmp_path / "run",
        cache=False,
        startup_trials=1,
        warmup_evaluations=0,
        metric="loss",
        baseline=False,
        enqueue=[
            {"training.learning_rate": 0.05, "training.num_train_epochs": 2},
            {"training.learning_rate": 1e-6, "training.num_train_epochs": 2},
        ],
        space={**SPACE, "training.learning_rate": {"type": "float", "low": 1e-7, "high": 1.0}},
    )
    result = tune(recipe)
    assert [t.state.name for t in result.study.trials][:2] == ["COMPLETE", "PRUNED"]
    assert alive_at_start == [0, 0, 0]


def test_a_streamed_split_is_loaded_by_every_trial(monkeypatch):
    """Sharing is for map-style splits; a stream is read anew by each trial, as before."""
    from hfft.data import LoadedData

    rows = datasets.Dataset.from_dict({"image": [0, 1], "label": [0, 1]})
    stream = datasets.DatasetDict(train=rows.to_iterable_dataset(), validation=rows)
    returned = [
        LoadedData(stream, ["a"]),
        LoadedData(stream, ["a"]),
        LoadedData(datasets.DatasetDict(train=rows, validation=rows, test=rows), ["a"]),
    ]
    loads = iter(returned)
    monkeypatch.setattr(hfft.data, "load_data", lambda spec, task: next(loads))
    streamed = tune_reuse.DataOnce()
    assert streamed(None, None) is returned[0] and streamed(None, None) is returned[1]
    assert streamed.loads == 2
    shared = tune_reuse.DataOnce()
    first, again = shared(None, None), shared(None, None)
    assert first is again and shared.loads == 1 and list(first.splits) == ["train", "validation"]
