"""`--threads` / $HFFT_THREADS on every command, and the default: the cores this process may use
(affinity, cgroup quota) that are idle, never more (hfft.threads)."""

from __future__ import annotations

import os

import pytest
import torch
import yaml

from hfft import threads
from hfft.cli import main
from hfft.errors import HfftError


@pytest.fixture(autouse=True)
def keep_torch_threads(monkeypatch):
    before = torch.get_num_threads()
    for name in (threads.ENV, "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(before)
    threads._applied = None


def _cgroup(tmp_path, own: str, files: dict[str, str]):
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (tmp_path / "self").write_text(own)
    return root, tmp_path / "self"


def test_cgroup_v2_quota_is_the_smallest_on_the_way_up(tmp_path):
    root, own = _cgroup(
        tmp_path,
        "0::/box/job\n",
        {
            "cpu.max": "max 100000\n",
            "box/cpu.max": "150000 100000\n",
            "box/job/cpu.max": "max 100000\n",
        },
    )
    assert threads.cgroup_cpu_limit(root, own) == 1.5


def test_cgroup_unlimited_or_missing_is_none(tmp_path):
    root, own = _cgroup(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    assert threads.cgroup_cpu_limit(root, own) is None
    assert threads.cgroup_cpu_limit(tmp_path / "nowhere", tmp_path / "none") is None


def test_cgroup_v1_quota(tmp_path):
    root, own = _cgroup(
        tmp_path,
        "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n",
        {
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "200000\n",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
            "cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        },
    )
    assert threads.cgroup_cpu_limit(root, own) == 2.0


def test_usable_cores_is_affinity_capped_by_the_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: None)
    assert threads.usable_cores() == (8, "affinity")
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 2.5)
    assert threads.usable_cores() == (3, "cgroup quota 2.5 cores")
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 16.0)
    assert threads.usable_cores() == (8, "affinity")


def test_default_is_never_more_than_the_idle_cores(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: (2, "affinity"))
    # a busy 2-core machine (the 10x trap): one thread
    assert threads.default_threads(load=1.6) == threads.ThreadChoice(
        1, "2 usable by affinity, load 1.6: 1 idle"
    )
    assert threads.default_threads(load=7.0).threads == 1  # never 0
    # idle, apart from this process starting up
    assert threads.default_threads(load=0.2) == threads.ThreadChoice(
        2, "2 usable by affinity, idle"
    )


def test_option_then_environment_then_default(monkeypatch):
    monkeypatch.setattr(threads, "default_threads", lambda: threads.ThreadChoice(1, "auto"))
    assert threads.choose_threads() == threads.ThreadChoice(1, "auto")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.choose_threads() == threads.ThreadChoice(3, "OMP_NUM_THREADS")
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.choose_threads() == threads.ThreadChoice(2, threads.ENV)
    assert threads.choose_threads(4) == threads.ThreadChoice(4, "--threads")
    monkeypatch.setenv(threads.ENV, "two")
    with pytest.raises(HfftError, match=r"HFFT_THREADS='two': give a whole number of threads"):
        threads.choose_threads()


@pytest.fixture
def recipe_file(tmp_path):
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": "./no/such/model"},
        "data": {"path": "imagefolder", "data_dir": "./no/such/images"},
        "training": {"output_dir": str(tmp_path / "run"), "use_cpu": True},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.parametrize(
    ("command", "target"),
    [
        ("train", "hfft.run.train"),
        ("tune", "hfft.tune.tune"),
        ("eval", "hfft.eval_run.evaluate_run"),
        ("predict", "hfft.predict.predict"),
        ("demo", "hfft.demo.run_demo"),
        ("zero-shot", "hfft.zero_shot_run.zero_shot"),
        ("wise-ft", "hfft.wise_ft.wise_ft"),
    ],
)
def test_every_command_sets_torch_threads(command, target, recipe_file, monkeypatch, capsys):
    seen = []

    def stand_in(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise HfftError("stopped here")

    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(__import__(module, fromlist=[name]), name, stand_in)
    args = {
        "train": [recipe_file],
        "tune": [recipe_file],
        "eval": ["some-run"],
        "predict": ["some-run", "x.png"],
        "demo": ["--out", "demo"],
        "zero-shot": [recipe_file],
        "wise-ft": ["some-run"],
    }[command]
    want = 3 if torch.get_num_threads() != 3 else 2
    assert main([command, *args, "--threads", str(want)]) == 2
    assert seen == [want]
    # and by the environment variable
    monkeypatch.setenv(threads.ENV, "1")
    seen.clear()
    assert main([command, *args]) == 2
    assert seen == [1]
    if command == "demo":
        assert "threads 1 (HFFT_THREADS)" in capsys.readouterr().err


def test_the_start_line_says_the_choice(monkeypatch):
    monkeypatch.setenv(threads.ENV, "1")
    threads.apply_threads()
    assert threads.describe() == "threads 1 (HFFT_THREADS)"
    torch.set_num_threads(2)  # changed behind hfft's back: said as torch's
    assert threads.describe() == "threads 2 (torch's default)"


def test_loader_workers_only_with_an_accelerator():
    assert threads.dataloader_defaults({}, on_cpu=True, cores=16) == {}  # the Trainer's 0
    assert threads.dataloader_defaults({}, on_cpu=False, cores=16, local_processes=1) == {
        "dataloader_num_workers": 8,
        "dataloader_persistent_workers": True,
        "dataloader_prefetch_factor": 2,
    }
    # 4 processes on a 16-core node: 4 cores each, one kept for the process itself
    four = threads.dataloader_defaults({}, on_cpu=False, cores=16, local_processes=4)
    assert four["dataloader_num_workers"] == 3
    assert threads.dataloader_defaults({}, on_cpu=False, cores=1, local_processes=1) == {}
    # the recipe's choice stands, whole or in part
    assert threads.dataloader_defaults({"dataloader_num_workers": 0}, False, 16, 1) == {}
    kept = threads.dataloader_defaults({"dataloader_prefetch_factor": 6}, False, 4, 1)
    assert kept == {"dataloader_num_workers": 3, "dataloader_persistent_workers": True}


def test_training_arguments_get_workers_on_a_faked_gpu(monkeypatch, tmp_path):
    from hfft import precision
    from hfft.recipe import load_recipe
    from hfft.run import effective_training, training_arguments
    from hfft.tasks import TASKS

    raw = {
        "task": "image-classification",
        "model": {"checkpoint": "./m"},
        "data": {"path": "imagefolder", "data_dir": "./d"},
        "training": {"output_dir": str(tmp_path / "run")},
    }
    recipe = load_recipe(raw)
    task = TASKS[recipe.task]
    assert training_arguments(recipe, task).dataloader_num_workers == 0  # CPU only: none
    monkeypatch.setattr(precision, "on_cpu", lambda training: False)
    monkeypatch.setattr(threads, "usable_cores", lambda: (6, "affinity"))
    args = training_arguments(recipe, task)
    assert (args.dataloader_num_workers, args.dataloader_persistent_workers) == (5, True)
    assert "dataloader_num_workers" not in effective_training(recipe, task)  # not in recipe.yaml
