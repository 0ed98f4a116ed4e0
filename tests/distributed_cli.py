"""`python -m tests.distributed_cli ARGS...` = `hfft ARGS...`, with FSDP allowed on the CPU.

accelerate 1.15 turns a run into FSDP only for accelerator backends: `AcceleratorState` sets
`DistributedType.FSDP` inside its `MULTI_GPU/MULTI_XPU/...` branch, so with gloo on a CPU
(`MULTI_CPU`) a `training.fsdp` recipe silently trains plain DDP. This entry point makes the one
decision accelerate skips on the CPU (MULTI_CPU + an FSDP plugin -> FSDP), so everything after it
runs for real: torch's `fully_shard` over gloo, sharded steps, the Trainer's FSDP checkpoints and
resume, the full-state-dict gather, hfft's run directory. On a GPU machine accelerate makes the
same decision itself and hfft needs no such help.

For the tests that kill one rank mid-run: HFFT_TEST_STEP_SECONDS pauses after each step,
HFFT_TEST_PID_DIR gets a `rank<N>.pid` file per process, and HFFT_TEST_SLOW_RANK_SAVE_SECONDS
delays every rank but 0 before it writes its RNG state into a checkpoint (its own last part of the
checkpoint), so a marker written before all ranks finished would show.
"""

from __future__ import annotations

import os
import sys
import time

from accelerate import state
from accelerate.utils import DistributedType
from transformers import Trainer, TrainerCallback

import hfft.run
from hfft.cli import main

_accelerator_state_init = state.AcceleratorState.__init__


def _init(self, *args, fsdp_plugin=None, **kwargs):
    _accelerator_state_init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type = DistributedType.FSDP
        self.fsdp_plugin = fsdp_plugin
        # accelerate copies the decision to PartialState too; later AcceleratorState() calls
        # re-read it from there.
        state.PartialState._shared_state["distributed_type"] = DistributedType.FSDP


class SlowSteps(TrainerCallback):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.seconds)


def _build_run(recipe, _build=hfft.run.build_run):
    run = _build(recipe)
    pause = float(os.environ.get("HFFT_TEST_STEP_SECONDS", "0"))
    if pause:
        run.trainer.add_callback(SlowSteps(pause))
    return run


_save_rng_state = Trainer._save_rng_state


def _slow_save_rng_state(self, output_dir):
    if self.args.process_index:
        time.sleep(float(os.environ["HFFT_TEST_SLOW_RANK_SAVE_SECONDS"]))
    _save_rng_state(self, output_dir)


if __name__ == "__main__":
    state.AcceleratorState.__init__ = _init
    hfft.run.build_run = _build_run
    if os.environ.get("HFFT_TEST_PID_DIR"):
        pid_file = f"{os.environ['HFFT_TEST_PID_DIR']}/rank{os.environ.get('RANK', '0')}.pid"
        with open(pid_file, "w") as f:
            f.write(str(os.getpid()))
    if os.environ.get("HFFT_TEST_SLOW_RANK_SAVE_SECONDS"):
        Trainer._save_rng_state = _slow_save_rng_state
    sys.exit(main(sys.argv[1:]))
