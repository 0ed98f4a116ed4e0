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
    # Each step pauses 0.5 s, so "after checkpoint-2, before checkpoint-4" is a window of
    # seconds; rank 1 writes its part of each checkpoint (its RNG state) 1 s late, so a
    # checkpoint marked complete before every rank finished would show.
    env = launch_env(
        HFFT_TEST_STEP_SECONDS="0.5",
        HFFT_TEST_SLOW_RANK_SAVE_SECONDS="1",
        HFFT_TEST_PID_DIR=str(tmp_path),
    )
    launch = [*torchrun("tests.distributed_cli"), "train", str(recipe)]
    job = subprocess.Popen(launch, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    marker = run / "checkpoints" / "checkpoint-2" / run_state.CHECKPOINT_MARKER
    deadline = time.monotonic() + 240
    try:
        while not marker.is_file():
            assert job.poll() is None, job.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint-2 within 240 s"
            time.sleep(0.05)
        os.kill(int((tmp_path / "rank1.pid").read_text()), signal.SIGKILL)
        job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0  # torchrun saw the dead rank and stopped the other
    assert [p.name for p in run_state.complete_checkpoints(run)] == ["checkpoint-2"]
    killed_at = run / "checkpoints" / "checkpoint-2"
    assert sorted(p.name for p in killed_at.glob("rng_state_*.pth")) == [
        "rng_state_0.pth",
        "rng_state_1.pth",
    ]
    assert json.loads((killed_at / "trainer_state.json").read_text())["global_step"] == 2
    assert run_state.is_unfinished(run)

    again = subprocess.run(launch, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-4000:]
    assert f"found an interrupted run in {run}: continuing from checkpoint-2 (step 2)" in (
        again.stderr
    )
    assert "resumed at step 2 of 4" in again.stderr
    assert "trained steps 3-4 in this session (2 steps)" in again.stderr
    assert_complete_run(case, tmp_path, run, again.stderr)
    assert_weights(weights(run), weights(launched(task, backend).run))
