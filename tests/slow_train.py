"""`python -m tests.slow_train ARGS...` = `hfft ARGS...` with every training step slowed down.

The resume test kills this process with SIGKILL between two checkpoints; a fixed pause per step
(HFFT_TEST_STEP_SECONDS) makes "between two checkpoints" a window of seconds, not a race.
"""

from __future__ import annotations

import os
import sys
import time

from transformers import TrainerCallback

import hfft.run
from hfft.cli import main

PAUSE = float(os.environ.get("HFFT_TEST_STEP_SECONDS", "0.5"))


class SlowSteps(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(PAUSE)


def _slow_build_run(recipe, _build=hfft.run.build_run):
    run = _build(recipe)
    run.trainer.add_callback(SlowSteps())
    return run


if __name__ == "__main__":
    hfft.run.build_run = _slow_build_run
    sys.exit(main(sys.argv[1:]))
