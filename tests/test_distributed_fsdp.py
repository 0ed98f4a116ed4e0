"""Scale-out launches that really run here, 2 processes over gloo on the CPU: every task under
DDP, FSDP2 (full fine-tuning and LoRA) against DDP, and two "nodes" started by two torchrun
launchers meeting at a rendezvous on 127.0.0.1."""

from __future__ import annotations

import functools
import subprocess

import pytest
import torch
from safetensors.torch import load_file

from tests.distributed_cases import (
    BIN,
    CASES,
    FSDP_ATOL,
    ONE_PROCESS_ONLY,
    Case,
    assert_complete_run,
    assert_weights,
    free_port,
    launch_env,
    launch_once,
    torchrun,
    weights,
    write_recipe,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def launched(tmp_path_factory):
    return functools.partial(launch_once, tmp_path_factory)


@pytest.mark.parametrize("task", sorted(CASES))
def test_every_task_trains_under_ddp(task, launched):
    ddp = launched(task, "ddp")
    assert_complete_run(ddp.case, ddp.run, ddp.stderr)
    # Training moved the weights: the comparisons below are not between two copies of the
    # initial checkpoint.
    initial = load_file(str(ddp.root / "ckpt" / "model.safetensors"))
    trained = load_file(str(ddp.run / "model.safetensors"))
    assert any(not torch.equal(trained[k], v) for k, v in initial.items() if k in trained)


@pytest.mark.parametrize(
    "task",
    [
        "image-classification",  # ViT, full: accelerate launch --config_file recipes/launch/fsdp.json
        "text-classification",  # BERT, LoRA: torchrun, training.fsdp in the recipe
    ],
)
def test_fsdp_run_equals_the_ddp_run(task, launched):
    fsdp, ddp = launched(task, "fsdp"), launched(task, "ddp")
    assert_complete_run(fsdp.case, fsdp.run, fsdp.stderr)
    # It was sharded: the Trainer wrote its FSDP checkpoint format (a DDP run does not).
    for run, sharded in ((fsdp.run, True), (ddp.run, False)):
        for checkpoint in (run / "checkpoints").glob("checkpoint-*"):
            assert (checkpoint / "pytorch_model_fsdp.bin").is_file() == sharded, checkpoint
    assert_weights(weights(fsdp.run), weights(ddp.run), atol=FSDP_ATOL)


def test_two_nodes_simulated_with_two_launchers(tmp_path, launched):
    """`torchrun --nnodes 2 --nproc_per_node 1` started twice, as on two machines: each "node"
    has its own Hugging Face cache; the output directory is shared, as it must be on a cluster."""
    case = CASES["image-classification"]
    recipe = write_recipe(case, tmp_path, tmp_path / "run")
    port = free_port()

    def node(rank: int) -> list[str]:
        return [
            str(BIN / "torchrun"), "--nnodes", "2", "--nproc_per_node", "1",
            "--node_rank", str(rank), "--rdzv_backend", "c10d",
            "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", "hfft-test",
            "-m", "hfft.cli", "train", str(recipe),
        ]  # fmt: skip

    nodes = [
        subprocess.Popen(
            node(rank),
            cwd=tmp_path,
            env=launch_env(HF_HOME=str(tmp_path / f"hf-home-node{rank}")),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    errs = [node.communicate(timeout=300)[1] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], errs[0][-3000:] + errs[1][-3000:]
    assert_complete_run(case, tmp_path / "run", errs[0] + errs[1])
    # Same world size, seed and data order as one machine with 2 processes: the same weights,
    # bit for bit.
    assert_weights(weights(tmp_path / "run"), weights(launched(case.task, "ddp").run))


@pytest.mark.parametrize("task", ONE_PROCESS_ONLY)
def test_a_task_that_evaluates_on_one_process_is_refused_under_torchrun(task, tmp_path):
    """Before anything trains or is written: one line naming the task and the world size."""
    recipe = write_recipe(Case(task, "full"), tmp_path, tmp_path / "run")
    done = subprocess.run(
        [*torchrun(), "train", str(recipe)],
        cwd=tmp_path,
        env=launch_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert f"{task} (" in done.stderr and "evaluates on one process only" in done.stderr
    assert "this launch has 2" in done.stderr
    run = tmp_path / "run"
    assert not run.exists() or not any(run.iterdir())  # nothing written
