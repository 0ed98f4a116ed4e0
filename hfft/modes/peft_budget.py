"""AdaLoRA's rank budget inside the Trainer: PEFT's AdaLoRA needs `update_and_allocate(step)`
after each optimizer step (while the gradients are still there) and the run's total number of
steps, which only the Trainer knows once it has sized the run."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from hfft.errors import RecipeError


class AdaLoraBudget(TrainerCallback):
    """Set AdaLoRA's `total_step` to the run's steps (unless the recipe gave one) and reallocate
    its ranks after every optimizer step."""

    def __init__(self, fixed_total: bool = False) -> None:
        self.fixed_total = fixed_total

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        config = model.peft_config[model.active_adapter]
        if not self.fixed_total:
            config.total_step = state.max_steps
        if config.tinit >= config.total_step - config.tfinal:
            raise RecipeError(
                f"model.peft: AdaLoRA's tinit={config.tinit} + tfinal={config.tfinal} leave no "
                f"step of the run's {config.total_step} to reallocate ranks in: lower them"
            )

    def on_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        model.base_model.update_and_allocate(state.global_step)
