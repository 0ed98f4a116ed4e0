"""The same recipe under torchrun / accelerate launch (DDP over gloo on CPU): one run directory,
written once by rank 0, with the global batch spread over both processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import pipeline

from tests import tiny
from tests.distributed_cases import free_port

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
LAUNCH = Path(__file__).resolve().parent.parent / "recipes" / "launch"


def write_recipe(tmp_path: Path) -> Path:
    ckpt = tiny.make_image_checkpoint(tmp_path / "ckpt")
    data = tiny.make_image_folder(tmp_path / "img", per_class=8)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "task: image-classification\n"
        f"model: {{checkpoint: {ckpt}, mode: lora}}\n"
        f"data: {{path: imagefolder, data_dir: {data}, test_fraction: 0.25}}\n"
        "training: {output_dir: run, num_train_epochs: 2, per_device_train_batch_size: 4,"
        " use_cpu: true}\n"
    )
    return recipe


def _launcher(name: str) -> list[str]:
    # A free port each: a fixed one (torchrun's 29500) collides with any other job on the machine.
    if name == "torchrun":
        return [str(BIN / "torchrun"), "--nproc_per_node=2", f"--master_port={free_port()}"]
    return [
        str(BIN / "accelerate"), "launch", "--config_file", str(LAUNCH / "ddp.json"),
        "--main_process_port", str(free_port()),
    ]  # fmt: skip


# torchrun with plain DDP runs for every task in test_distributed_fsdp.py.
@pytest.mark.parametrize("name", ["accelerate"])
def test_two_process_run_writes_one_complete_run_dir(name, tmp_path):
    launcher = [*_launcher(name), "-m", "hfft.cli"]
    if not Path(launcher[0]).exists():
        pytest.skip(f"{launcher[0]} is not installed")
    recipe = write_recipe(tmp_path)
    # No GPU here: the launchers' processes fall back to gloo on the CPU.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [*launcher, "train", str(recipe)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "run"
    # 15 train rows, 4 per device: 2 steps an epoch across 2 processes (a lone process needs 4).
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "checkpoint-2",
        "checkpoint-4",
    ]
    assert done.stderr.count("hfft: task image-classification") == 1  # rank 0 reports
    for name in (
        "config.json",
        "model.safetensors",
        "recipe.yaml",
        "metrics.json",
        "README.md",
        "adapter",
    ):
        assert (run_dir / name).exists(), name
    assert "test" in json.loads((run_dir / "metrics.json").read_text())
    image = next((tmp_path / "img" / "train" / "red").glob("*.png"))
    assert {
        p["label"] for p in pipeline("image-classification", model=str(run_dir))(str(image))
    } == {"blue", "green", "red"}
    shutil.rmtree(run_dir)


def test_shipped_launch_configs_parse():
    for name in ("ddp.json", "fsdp.json", "deepspeed_zero2.json"):
        config = json.loads((LAUNCH / name).read_text())
        assert config["distributed_type"] in {"MULTI_GPU", "FSDP", "DEEPSPEED"}
        assert config["num_processes"] >= 2
