"""Tiny task cases and launch helpers shared by the multi-process tests (tests/test_distributed_*).

Every launch is a real `torchrun` or `accelerate launch` of 2 processes over gloo on the CPU. Runs
that several tests compare against (the DDP run of a case, its FSDP run) are launched once per
session (`launch_once`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file
from transformers import pipeline

from hfft import run_dir as run_state
from hfft.predict import predict
from hfft.tasks import TASKS
from tests import tiny

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LAUNCH = REPO_ROOT / "recipes" / "launch"
TRAINING = {"num_train_epochs": 2, "per_device_train_batch_size": 4, "use_cpu": True}
FSDP_TRAINING = {"fsdp": "full_shard", "fsdp_config": {"fsdp_version": 2}}
# FSDP reduce-scatters where DDP all-reduces, and clips by a norm summed from shards: the same
# steps in float32, summed in another order.
FSDP_ATOL = 1e-6
# The modes the FSDP comparisons need (ViT full, BERT LoRA); every other task trains in full.
MODES = {"text-classification": "lora"}


@dataclass(frozen=True)
class Case:
    """A task of tests/tiny.py's TASK_FIXTURES (a task added there is a case here too) and the
    mode it trains in."""

    task: str
    mode: str

    def build(self, root: Path) -> dict:
        """Write the tiny checkpoint and data under `root`; the recipe without `training:`."""
        fixture = tiny.TASK_FIXTURES[self.task]
        ckpt = fixture.make_checkpoint(root / "ckpt")
        return {
            "task": self.task,
            "model": {"checkpoint": str(ckpt), "mode": self.mode},
            "data": fixture.make_data(root / "data"),
        }


# Tasks whose evaluation runs across processes; the others are refused at preflight under a
# multi-process launch (ONE_PROCESS_ONLY, tested for that refusal).
CASES = {
    task: Case(task, MODES.get(task, "full"))
    for task in tiny.TASK_FIXTURES
    if TASKS[task].labels.multi_process_eval
}
ONE_PROCESS_ONLY = sorted(set(tiny.TASK_FIXTURES) - set(CASES))


def write_recipe(case: Case, root: Path, out: Path, training: dict | None = None) -> Path:
    """The case's recipe with `training.output_dir=out` and TRAINING (+ `training`)."""
    root.mkdir(parents=True, exist_ok=True)
    recipe = case.build(root)
    recipe["training"] = {**TRAINING, **(training or {}), "output_dir": str(out)}
    recipe["early_stopping"] = {"patience": None}  # the step counts are the test's
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_env(**extra: str) -> dict[str, str]:
    """No GPU: the launchers' processes use gloo on the CPU, one thread each."""
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": str(REPO_ROOT),
        **extra,
    }


def torchrun(module: str = "hfft.cli") -> list[str]:
    return [
        str(BIN / "torchrun"),
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        "-m",
        module,
    ]


def accelerate_fsdp() -> list[str]:
    """The shipped FSDP config as a user launches it, on 2 CPU processes in float32 (the
    config's bf16 would make the comparison with DDP meaningless)."""
    return [
        str(BIN / "accelerate"), "launch", "--config_file", str(LAUNCH / "fsdp.json"),
        "--num_processes", "2", "--mixed_precision", "no",
        "--main_process_port", str(free_port()), "-m", "tests.distributed_cli",
    ]  # fmt: skip


def run_train(launcher: list[str], recipe: Path, env: dict | None = None, timeout: int = 300):
    done = subprocess.run(
        [*launcher, "train", str(recipe)],
        cwd=recipe.parent,
        env=env or launch_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def weights(run: Path) -> dict[str, torch.Tensor]:
    """The run directory's model, and for LoRA its adapter too."""
    found = {f"model/{k}": v for k, v in load_file(str(run / "model.safetensors")).items()}
    adapter = run / "adapter" / "adapter_model.safetensors"
    if adapter.is_file():
        found.update({f"adapter/{k}": v for k, v in load_file(str(adapter)).items()})
    return found


def assert_weights(got: dict, expected: dict, atol: float = 0.0) -> None:
    """Same names; each tensor equal (atol=0: bit for bit) or within atol."""
    assert got.keys() == expected.keys()
    for name, tensor in expected.items():
        if atol:
            assert torch.allclose(got[name], tensor, rtol=0, atol=atol), (
                name,
                (got[name] - tensor).abs().max().item(),
            )
        else:
            assert torch.equal(got[name], tensor), name


def assert_complete_run(case: Case, run: Path, stderr: str) -> None:
    """One finished run directory written once (by rank 0), one complete checkpoint per epoch,
    usable by pipeline()."""
    assert stderr.count(f"hfft: task {case.task}") == 1  # only rank 0 reports
    assert run_state.is_finished(run) and not run_state.is_unfinished(run)
    steps = [run_state.checkpoint_step(p) for p in run_state.complete_checkpoints(run)]
    assert len(steps) == TRAINING["num_train_epochs"] and steps[1] == 2 * steps[0], steps
    for name in ("config.json", "model.safetensors", "recipe.yaml", "metrics.json", "README.md"):
        assert (run / name).is_file(), name
    assert (run / "adapter" / "adapter_config.json").is_file() == (case.mode == "lora")
    # pipeline() loads the run directory; hfft predict (built on it) answers for the fixture's
    # inputs as the task contract expects (a classifier's ranked labels, a tagger's entities).
    pipeline(case.task, model=str(run))
    fixture = tiny.TASK_FIXTURES[case.task]
    config = json.loads((run / "config.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    inputs = fixture.predict_inputs(run.parent / "data")
    out = list(predict(str(run), inputs, top_k=1, all_scores=True))
    assert out and all("error" not in line for line in out), out
    for line in out:
        fixture.check_predictions(line, labels, TASKS[case.task].labels)


@dataclass
class Launched:
    case: Case
    root: Path
    run: Path
    stderr: str


_LAUNCHED: dict[tuple[str, str], Launched] = {}


def launch_once(tmp_path_factory, task: str, backend: str) -> Launched:
    """The case's uninterrupted 2-process run under "ddp" (torchrun, plain hfft) or "fsdp",
    launched once per session (test modules share it). FSDP runs the image case through the
    shipped accelerate config and the text case through `training.fsdp` in the recipe."""
    if (task, backend) not in _LAUNCHED:
        case = CASES[task]
        root = tmp_path_factory.mktemp(f"{backend}-{task}")
        if backend == "ddp":
            launcher, training = torchrun(), None
        elif task == "image-classification":
            launcher, training = accelerate_fsdp(), None
        else:
            launcher, training = torchrun("tests.distributed_cli"), FSDP_TRAINING
        recipe = write_recipe(case, root, root / "run", training)
        done = run_train(launcher, recipe)
        _LAUNCHED[task, backend] = Launched(case, root, root / "run", done.stderr)
    return _LAUNCHED[task, backend]
