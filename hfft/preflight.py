"""Preflight: everything that can be checked before the first training step, checked together.

`build_run` runs each check and collects what fails, so one `hfft train` reports every problem
(a missing column *and* a missing tokenizer *and* no Hub token) instead of one per attempt, and
before any time is spent training. Checks that depend on another (the processor of a checkpoint
that does not exist) are skipped when it fails, so each cause is reported once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hfft.errors import HfftError, RecipeError, first_line
from hfft.problems import FAILED, PreflightError, Problems  # noqa: F401  (build_run uses them here)


def check_output_dir(path: Path) -> None:
    """The run directory can be created and written to, and is new, empty or hfft's own (in a
    folder of other files hfft would replace a README.md or a config.json)."""
    from hfft.run_dir import refuse_foreign

    path = Path(path)
    refuse_foreign(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except FileExistsError:
        raise HfftError(f"training.output_dir {path}: a file is in the way") from None
    except OSError as err:
        raise HfftError(
            f"training.output_dir {path} is not writable ({err.strerror or err}): choose a folder "
            "you can write to"
        ) from None


def check_checkpoint(spec: Any) -> None:
    """The checkpoint resolves, its config loads (custom code only with trust_remote_code), and a
    local checkpoint holds safetensors weights (or .bin ones with model.allow_pickle)."""
    from hfft import checkpoint

    if spec.checkpoint is None:
        return  # trained from model.config: nothing to resolve
    source = checkpoint.resolve(spec.checkpoint)
    local = Path(source)
    if local.is_dir():
        safetensors = list(local.glob("*.safetensors")) + list(local.glob("*.safetensors.*"))
        pickled = list(local.glob("*.bin")) + list(local.glob("*.bin.index.json"))
        if not safetensors:
            if not pickled:
                raise HfftError(
                    f"model.checkpoint '{spec.checkpoint}' has no weights (no *.safetensors file)"
                )
            if not spec.allow_pickle:
                raise HfftError(
                    f"model.checkpoint '{spec.checkpoint}' has only pickled weights "
                    f"({pickled[0].name}), which can run arbitrary code when loaded; hfft loads "
                    "safetensors only: convert them, or set model.allow_pickle=true if you trust "
                    "their source"
                )
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(source, **checkpoint.load_kwargs(spec))
    except (OSError, ValueError) as err:
        text = str(err)
        if "trust_remote_code" in text:
            raise HfftError(
                f"model.checkpoint '{spec.checkpoint}' needs its own Python code to load; hfft "
                "does not run a checkpoint's code unless you set model.trust_remote_code=true "
                "(only for a source you trust)"
            ) from None
        raise HfftError(
            checkpoint.load_failure("model.checkpoint", spec.checkpoint, "config", err, spec)
        ) from None


def check_hub(hub: Any) -> None:
    """With hub.push on: a token, a reachable Hub that accepts it, and a repo id it may write."""
    from huggingface_hub import HfApi, constants, get_token
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    problems = Problems()
    with problems.collect():
        try:
            validate_repo_id(hub.repo_id)
        except HFValidationError as err:
            raise HfftError(f"hub.repo_id {hub.repo_id!r} is not a valid repo id: {err}") from None
    token = get_token()
    if not token:
        problems.note(
            "hub.push is on but no Hugging Face token is set: set HF_TOKEN or run "
            "`hf auth login` (or set hub.push=false)"
        )
    elif constants.HF_HUB_OFFLINE:
        problems.note(
            "hub.push is on but the Hub is unreachable in offline mode (HF_HUB_OFFLINE=1): unset "
            "it, or set hub.push=false and push later with `hfft push`"
        )
    else:
        try:
            me = HfApi(token=token).whoami()
        except Exception as err:  # 401, no network, proxy: each one a reason not to start
            problems.note(
                f"hub.push is on but the Hub did not accept the token ({type(err).__name__}: "
                f"{first_line(err)}); check the "
                "token and network, or set hub.push=false"
            )
        else:
            owner = hub.repo_id.split("/")[0] if "/" in hub.repo_id else me.get("name")
            allowed = {me.get("name")} | {o.get("name") for o in me.get("orgs", [])}
            if owner not in allowed:
                problems.note(
                    f"hub.repo_id {hub.repo_id}: the token belongs to {me.get('name')!r}, who "
                    f"cannot create repos under {owner!r} (may write to {sorted(allowed - {None})})"
                )
    problems.raise_if_any()


def check_deepspeed(training: dict[str, Any]) -> None:
    """DeepSpeed asked for (`training.deepspeed`, or an accelerate DeepSpeed config, which
    `accelerate launch` passes on as ACCELERATE_USE_DEEPSPEED) needs the deepspeed package;
    without it transformers fails with a traceback when it builds the training arguments."""
    import importlib.util
    import os

    from_env = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() in {"1", "true", "yes"}
    if not (training.get("deepspeed") or from_env):
        return
    if importlib.util.find_spec("deepspeed") is not None:
        return
    asked = (
        "training.deepspeed is set"
        if training.get("deepspeed")
        else "the launch asks for DeepSpeed (ACCELERATE_USE_DEEPSPEED=true)"
    )
    raise HfftError(
        f"{asked} but the deepspeed package is not installed: `pip install deepspeed` on the "
        "training machines, or train without it (DDP or FSDP, see recipes/launch/README.md)"
    )


def check_mode(task: Any, spec: Any) -> None:
    """The recipe's mode can adapt this architecture: the backbone, blocks, head and LoRA
    targets it needs are found. Runs on a weightless copy built from the checkpoint's config (on
    the meta device), so a model type that cannot work in a mode is one line at preflight,
    before any data or weights load, naming what was not found and what to set."""
    import torch
    import transformers

    from hfft import checkpoint, modes

    if spec.checkpoint is None:
        return  # built from model.config: the recipe only allows full fine-tuning
    if spec.head_init is not None:  # the checkpoint must have the text tower it starts from
        from hfft.zero_shot import check_dual_encoder

        check_dual_encoder(spec)
    try:
        config = transformers.AutoConfig.from_pretrained(
            checkpoint.resolve(spec.checkpoint), **checkpoint.load_kwargs(spec)
        )
        with torch.device("meta"):
            model = getattr(transformers, task.model_class).from_config(
                config, trust_remote_code=spec.trust_remote_code
            )
    except Exception:  # whatever stops this copy, loading the real model reports it
        return
    try:
        modes.apply_mode(model, spec)
    except HfftError:
        raise
    except Exception:  # a mode step that needs real weights: checked when the model loads
        return


def check_processes(task: Any, args: Any) -> None:
    """Refuse a multi-process launch for a label scheme whose evaluation runs on one process
    only (hfft.tasks.task.LabelScheme.multi_process_eval)."""
    if args is FAILED or args.world_size <= 1 or task.labels.multi_process_eval:
        return
    raise RecipeError(
        f"{task.name} ({task.labels.name}) evaluates on one process only, and this launch has "
        f"{args.world_size}: run it without torchrun/accelerate launch (one GPU or the CPU)"
    )
