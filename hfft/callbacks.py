"""Trainer callbacks hfft adds to every run."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
from collections.abc import Iterator
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

    The marker (`hfft.run_dir.CHECKPOINT_MARKER`, holding the step) is written after everything
    else in the folder is flushed to disk, and atomically: a process killed while saving, or a
    save that failed half-way (disk full, folder made read-only), leaves a checkpoint without a
    valid marker, which resuming skips.
    """

    def on_save(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        from transformers import PreTrainedModel

        from hfft.run_dir import CHECKPOINT_MARKER, atomic_write

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
        # A full disk may only say so when the data reaches it (delayed allocation, NFS,
        # quotas): flush every file before the marker vouches for them.
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != CHECKPOINT_MARKER:
                with open(path, "rb") as f:  # Linux and macOS fsync a read-only descriptor
                    os.fsync(f.fileno())
        atomic_write(folder / CHECKPOINT_MARKER, f"{state.global_step}\n")


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


# ---------------------------------------------------------------- a save that fails

# What a failed write says about its cause. torch.save raises a bare RuntimeError ("file write
# failed", "basic_ios::clear: iostream error") and safetensors a SafetensorError ("... (os error
# 28)"), so the errno is also read from their messages.
_WRITE_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the filesystem is read-only",
    errno.EACCES: "permission denied (the folder is not writable)",
    errno.EPERM: "permission denied (the folder is not writable)",
    errno.EFBIG: "the file grew over the size limit",
    errno.EIO: "an input/output error",
}
_OS_ERROR = re.compile(r"os error (\d+)|\[Errno (\d+)\]")
_WRITE_FAILED = ("file write failed", "unexpected pos", "iostream error", "No space left on device")


def write_failure(err: BaseException) -> str | None:
    """Why a write failed ('the disk is full (No space left on device)'), or None when `err` (or
    any exception it was raised from) is not a failed write."""
    seen: set[int] = set()
    found: BaseException | None = err
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        code = found.errno if isinstance(found, OSError) else None
        match = _OS_ERROR.search(str(found))
        if code is None and match:
            code = int(match.group(1) or match.group(2))
        if code in _WRITE_ERRNOS:
            return f"{_WRITE_ERRNOS[code]} ({os.strerror(code)})"
        if any(text in str(found) for text in _WRITE_FAILED):
            return "the file could not be written (disk full?)"
        found = found.__cause__ or found.__context__
    return None


@contextlib.contextmanager
def stop_on_failed_save(trainer: Any, run_dir: str | Path) -> Iterator[None]:
    """Turn a failed write during training (a checkpoint save on a full disk, or into a folder
    made read-only) into one HfftError line naming the checkpoint that failed and the complete
    one a resume will use; any other error passes through unchanged."""
    from hfft.errors import HfftError
    from hfft.run_dir import CHECKPOINTS, checkpoint_step, last_checkpoint

    try:
        yield
    except Exception as err:
        reason = write_failure(err)
        if reason is None:
            raise
        folder = Path(run_dir) / CHECKPOINTS
        previous = last_checkpoint(Path(run_dir))
        resume = (
            f"{previous.name} (step {checkpoint_step(previous)}) is the last complete checkpoint, "
            "which running the same `hfft train` command again resumes from"
            if previous is not None
            else "no checkpoint is complete yet, so the next run starts over"
        )
        raise HfftError(
            f"saving checkpoint-{trainer.state.global_step} into {folder} failed: {reason}; the "
            f"run stopped. {resume} once there is room (or the folder is writable again)"
        ) from err
