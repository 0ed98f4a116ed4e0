"""Trainer callbacks hfft adds to every run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

log = logging.getLogger("hfft")


class NativeKeyCheckpoints(TrainerCallback):
    """Rewrite each checkpoint's weights under the model's own parameter names, then mark the
    checkpoint complete.

    transformers 5 saves weights under the checkpoint's *original* names (ViT's `encoder.layer.N.
    attention.attention.query` for the in-memory `layers.N.attention.q_proj`), but the Trainer's
    resume and load-best-model paths read them back with a raw `load_state_dict`, which matches
    nothing for renamed architectures: the best model is silently not restored and a resumed run
    silently restarts from the pretrained weights. Checkpoints are internal to the run, so they
    keep the in-memory names; the final model in the run directory is saved in the original format.

    The marker (`hfft.run_dir.CHECKPOINT_MARKER`) is written after everything else in the folder:
    a process killed while saving leaves a checkpoint that resuming skips.
    """

    def on_save(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        from transformers import PreTrainedModel

        from hfft.run_dir import CHECKPOINT_MARKER

        if args.world_size > 1 and torch.distributed.is_initialized():
            # Each process writes its own part (its RNG state, under FSDP its shards); the marker
            # may only say "complete" once all of them have.
            torch.distributed.barrier()
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        # PEFT adapters and hfft's cached-feature head are saved under their own, stable names;
        # under FSDP the Trainer resumes from its own pytorch_model_fsdp.bin (in-memory names).
        if isinstance(model, PreTrainedModel) and not _is_fsdp(model):
            model.save_pretrained(folder, save_original_format=False)
        (folder / CHECKPOINT_MARKER).write_text(f"{state.global_step}\n")


def _is_fsdp(model: Any) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


class ResumeReport(TrainerCallback):
    """Mark the run directory unfinished when training begins; say where training starts (step
    0, or the step a checkpoint restored) and how many steps this process trained, so a resumed
    run shows that it did not start over."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.first_step: int | None = None
        self.steps_trained = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from hfft.run_dir import mark_unfinished

        if state.is_world_process_zero:
            # However training was started (train(), or build_run + trainer.train() as hfft tune
            # does), the run directory says it is unfinished until finish_run completes it.
            mark_unfinished(self.run_dir)
        self.first_step, self.steps_trained = state.global_step, 0
        if state.global_step and state.is_world_process_zero:
            log.info(
                "resumed at step %d of %d (epoch %.2f)",
                state.global_step,
                state.max_steps,
                state.epoch or 0.0,
            )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.steps_trained += 1

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.first_step and state.is_world_process_zero:
            log.info(
                "trained steps %d-%d in this session (%d steps)",
                self.first_step + 1,
                state.global_step,
                self.steps_trained,
            )
