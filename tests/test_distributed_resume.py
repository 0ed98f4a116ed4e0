"""One rank of a 2-process run is SIGKILLed between two checkpoints; the launcher tears the job
down; the same launch run again continues from the last complete checkpoint and ends with the
weights of an uninterrupted run, bit for bit (DDP and FSDP on the CPU are deterministic)."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time

import pytest

from hfft import run_dir as run_state
from tests.distributed_cases import (
    CASES,
    FSDP_TRAINING,
    assert_complete_run,
    assert_weights,
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


@pytest.mark.parametrize(
    ("backend", "task"),
    [("ddp", "image-classification"), ("fsdp", "text-classification")],
    ids=["ddp-vit-full", "fsdp-bert-lora"],
)
def test_a_killed_rank_resumes_from_the_last_complete_checkpoint(backend, task, tmp_path, launched):
    case = CASES[task]
    recipe = write_recipe(
        case, tmp_path, tmp_path / "run", FSDP_TRAINING if backend == "fsdp" else None
    )
    run = tmp_path / "run"
    # Each step pauses 0.5 s, so "after the first epoch's checkpoint, before the second's" is a
    # window of seconds; rank 1 writes its part of each checkpoint (its RNG state) 1 s late, so a
    # checkpoint marked complete before every rank finished would show.
    env = launch_env(
        HFFT_TEST_STEP_SECONDS="0.5",
        HFFT_TEST_SLOW_RANK_SAVE_SECONDS="1",
        HFFT_TEST_PID_DIR=str(tmp_path),
    )
    launch = [*torchrun("tests.distributed_cli"), "train", str(recipe)]
    job = subprocess.Popen(launch, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 240
    try:
        while not (markers := list(run.glob(f"checkpoints/*/{run_state.CHECKPOINT_MARKER}"))):
            assert job.poll() is None, job.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
        os.kill(int((tmp_path / "rank1.pid").read_text()), signal.SIGKILL)
        job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0  # torchrun saw the dead rank and stopped the other
    first = markers[0].parent  # the first epoch's checkpoint
    step = run_state.checkpoint_step(first)
    assert run_state.complete_checkpoints(run) == [first]
    assert sorted(p.name for p in first.glob("rng_state_*.pth")) == [
        "rng_state_0.pth",
        "rng_state_1.pth",
    ]
    assert json.loads((first / "trainer_state.json").read_text())["global_step"] == step
    assert run_state.is_unfinished(run)

    again = subprocess.run(launch, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-4000:]
    err = again.stderr
    assert f"found an interrupted run in {run}: continuing from {first.name} (step {step})" in err
    assert f"resumed at step {step} of {2 * step}" in err
    assert f"trained steps {step + 1}-{2 * step} in this session ({step} steps)" in err
    assert_complete_run(case, run, err)
    assert_weights(weights(run), weights(launched(task, backend).run))
