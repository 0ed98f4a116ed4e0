"""Trainer callbacks hfft adds to every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback


class NativeKeyCheckpoints(TrainerCallback):
    """Rewrite each checkpoint's weights under the model's own parameter names.

    transformers 5 saves weights under the checkpoint's *original* names (ViT's `encoder.layer.N.
    attention.attention.query` for the in-memory `layers.N.attention.q_proj`), but the Trainer's
    resume and load-best-model paths read them back with a raw `load_state_dict`, which matches
    nothing for renamed architectures: the best model is silently not restored and a resumed run
    silently restarts from the pretrained weights. Checkpoints are internal to the run, so they
    keep the in-memory names; the final model in the run directory is saved in the original format.
    """

    def on_save(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        from transformers import PreTrainedModel

        # PEFT adapters and hfft's cached-feature head are saved under their own, stable names.
        if not isinstance(model, PreTrainedModel) or not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            model.save_pretrained(folder, save_original_format=False)
