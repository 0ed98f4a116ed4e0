"""Frozen-backbone feature caching: run the frozen backbone once, then train only the head.

In `frozen` mode without augmentation every epoch feeds the same inputs through the same frozen
backbone, so its output never changes. We compute the head's input once per example (a forward
pre-hook on the head module catches exactly what the head sees, whatever the architecture pools or
normalises before it), store it with `datasets.map` (batched, fingerprinted by the backbone's
weights so a rerun reuses the cache; computed in the run's mixed precision, as the uncached run's
forward passes would be), and train the *same head module object* on it. The full
model therefore ends up with the trained head and is saved exactly like an uncached run.

Heads that take the whole sequence output and pool inside (RoBERTa, ELECTRA: `features[:, 0]`)
get inputs as long as each batch; their cached features are zero-padded to the split's longest,
which a probe checks changes nothing. Where the model does more after its head (decoder models
pick the last token's logits out of the head's per-token output), caching would train a
different function, so the run trains uncached and the log says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import datasets
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from hfft.errors import RecipeError, first_line
from hfft.modes import anatomy, mode_of
from hfft.modes.structure import in_any
from hfft.tasks import TASKS

log = logging.getLogger("hfft")


class HeadOnly(nn.Module):
    """The task model's head, trained on cached backbone features with the task model's loss
    (the label scheme's `head_loss`)."""

    def __init__(self, head: nn.Module, loss: Any) -> None:
        super().__init__()
        self.head = head
        self.loss = loss

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        logits = self.head(features)
        loss = self.loss(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def cache_decision(recipe: Any, model: nn.Module, probe: bool = False) -> tuple[bool, str]:
    """(cache?, why) for this recipe and model; `probe`: for a stage that trains the head alone
    on the frozen backbone whatever the mode (LP-FT's probe, `hfft.probe`)."""
    wanted = recipe.model.cache_features
    if wanted is False:
        return False, "model.cache_features is false"
    reasons = []
    if getattr(recipe.data, "streaming", False):
        reasons.append("data.streaming: the train split is read pass by pass, not kept")
    mode = mode_of(recipe.model)
    if not (mode.frozen_backbone or probe):
        reasons.append(f"mode is {mode.name}, which trains the backbone")
    reasons += TASKS[recipe.task].modality.varying_inputs(recipe)
    if not reasons:  # only a frozen backbone needs its anatomy here
        head = anatomy(model, recipe.model.backbone).head
        # A frozen-backbone mode may train a module outside the head too (frozen: a pooler the
        # checkpoint's objective never trained), which cached features would hold still.
        outside = sorted(
            {n.rsplit(".", 1)[0] for n, p in model.named_parameters() if p.requires_grad}
            - {n.rsplit(".", 1)[0] for n, _ in model.named_parameters() if in_any(n, head)}
        )
        if len(head) != 1:
            reasons.append(f"the head of {type(model).__name__} spans several modules {head}")
        elif outside:
            reasons.append(f"the mode also trains {', '.join(outside[:3])} outside the head")
        else:
            reasons += head_probe(model, model.get_submodule(head[0]))
    if not reasons:
        return True, "frozen backbone and fixed inputs"
    if wanted is True:
        raise RecipeError(f"model.cache_features is true but cannot apply: {'; '.join(reasons)}")
    return False, "; ".join(reasons)


def head_probe(model: nn.Module, head: nn.Module) -> list[str]:
    """Why training `head` alone on its recorded inputs would not train the model's own
    function (empty when it would): run the model on two dummy inputs of different lengths."""
    name = type(model).__name__
    seen: dict[str, Any] = {}
    hooks = [
        head.register_forward_pre_hook(lambda _m, args: seen.__setitem__("input", args[0])),
        head.register_forward_hook(lambda _m, _a, out: seen.__setitem__("output", out)),
    ]
    was_training = model.training
    model.eval()
    try:
        shapes = []
        for length in (4, 7):
            inputs = dummy_inputs(model, length)
            if inputs is None:  # never cache what was not checked
                return [f"hfft has no probe input for {name}'s {model.main_input_name!r}"]
            with torch.no_grad():
                logits = model(**inputs).logits
                if not _same(seen.get("output"), logits):
                    return [
                        f"{name} computes its logits after the head (the head outputs "
                        f"{_shape(seen.get('output'))}, the logits are {tuple(logits.shape)})"
                    ]
                features = seen["input"]
                shapes.append(tuple(features.shape))
                # A sequence-shaped input: padding it must not change what the head computes.
                if len(shapes) == 2 and shapes[0] != shapes[1]:
                    padded = head(_pad(features, features.shape[1] + 3))
                    if features.dim() != 3 or not _same(padded, logits):
                        return [f"the head of {name} reads its whole variable-length input"]
    except Exception as err:  # an unknown architecture: training uncached still works
        return [f"probing the head of {name} failed ({type(err).__name__}: {first_line(err)})"]
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return []


def dummy_inputs(model: nn.Module, length: int) -> dict[str, torch.Tensor] | None:
    """A one-example batch for `model`: `length` token ids, or an image of the config's size."""
    import inspect

    config = model.config
    inner = getattr(config, "vision_config", None) or config
    kind = model.main_input_name
    if kind not in ("input_ids", "pixel_values"):  # Perceiver's generic `inputs`
        accepted = inspect.signature(model.forward).parameters
        vision = "pixel_values" in accepted and hasattr(inner, "image_size")
        kind = "pixel_values" if vision else "input_ids" if "input_ids" in accepted else kind
    if kind == "input_ids":
        ids = list(range(5, 5 + length))
        eos = getattr(config, "eos_token_id", None)
        if isinstance(eos, int):  # encoder-decoder heads pool on the end-of-sequence token
            ids[-1] = eos
        ids = torch.tensor([ids], device=model.device)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if kind == "pixel_values":
        size = getattr(inner, "image_size", 224)
        height, width = (size, size) if isinstance(size, int) else tuple(size)[:2]
        channels = getattr(inner, "num_channels", 3)
        generator = torch.Generator().manual_seed(0)
        pixels = torch.randn(1, channels, height, width, generator=generator)
        return {"pixel_values": pixels.to(model.device, model.dtype)}
    frames, bins = getattr(config, "max_length", None), getattr(config, "num_mel_bins", None)
    if kind == "input_values" and isinstance(frames, int) and isinstance(bins, int):
        # A spectrogram model (AST): the feature extractor's fixed (frames, mel bins) grid.
        generator = torch.Generator().manual_seed(0)
        values = torch.randn(1, frames, bins, generator=generator)
        return {"input_values": values.to(model.device, model.dtype)}
    return None


def _same(output: Any, logits: torch.Tensor) -> bool:
    return (
        isinstance(output, torch.Tensor)
        and output.shape == logits.shape
        and torch.allclose(output.float(), logits.float(), atol=1e-5, rtol=1e-4)
    )


def _shape(output: Any) -> Any:
    return tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__


def _pad(features: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad dimension 1 (the sequence) to `length`."""
    pad = [0, 0] * (features.dim() - 2) + [0, length - features.shape[1]]
    return nn.functional.pad(features, pad)


def weights_fingerprint(model: nn.Module, leave_out: str | None = None) -> str:
    """A hash of every parameter and buffer (but those under the module `leave_out`: the head,
    whose weights never change its input), so cached features follow the backbone exactly."""
    digest = hashlib.sha256()
    digest.update(type(model).__name__.encode())
    for name, tensor in model.state_dict().items():
        if leave_out and name.startswith(leave_out + "."):
            continue
        digest.update(name.encode())
        # reshape: a 0-dim tensor (BatchNorm's num_batches_tracked) cannot be viewed as bytes
        digest.update(
            tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()[:32]


def data_keys(raw: datasets.DatasetDict, processor: Any, recipe: Any) -> dict[str, str]:
    """Per split, a hash of what its model inputs are made from: the raw split's datasets
    fingerprint (its files, rows and carving), the processor's configuration, the recipe's
    `data:` section (options such as max_length included), the task and hfft's version. Any
    change there is another key, so the on-disk cache never serves stale features."""
    from dataclasses import asdict

    from hfft import __version__

    backend = getattr(processor, "backend_tokenizer", None)
    if backend is not None:  # a fast tokenizer: its whole vocabulary and rules
        preprocessing = backend.to_str()
    elif hasattr(processor, "to_json_string"):  # image processors, feature extractors
        preprocessing = processor.to_json_string()
    else:
        preprocessing = repr(processor)
    shared = json.dumps(
        [recipe.task, asdict(recipe.data), type(processor).__name__, preprocessing, __version__],
        sort_keys=True,
        default=str,
    )
    return {
        name: hashlib.sha256(f"{ds._fingerprint}\n{shared}".encode()).hexdigest()[:32]
        for name, ds in raw.items()
    }


def cache_dir() -> Path:
    """Where cached features live across runs and tune trials: under the datasets cache."""
    return Path(datasets.config.HF_DATASETS_CACHE) / "hfft-features"


def autocast_dtype(args: Any) -> torch.dtype | None:
    """The mixed precision a run's forward passes use (TrainingArguments bf16/fp16), or None."""
    return torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else None


def cache_features(
    model: nn.Module,
    splits: datasets.DatasetDict,
    collator: Any,
    batch_size: int,
    loss: Any,
    backbone: str | None = None,
    keys: dict[str, str] | None = None,
    autocast: torch.dtype | None = None,
) -> tuple[HeadOnly, datasets.DatasetDict]:
    """Replace model-ready splits by (features, labels) splits and return the head to train
    with `loss` (logits, labels) -> loss. With `keys` (`data_keys`), each split's features are
    stored on disk under its key and the backbone's weights (the head's left out), and a later
    run or tune trial with the same backbone, data and preprocessing reads them back instead of
    running the backbone again.

    `autocast` (`autocast_dtype(args)`): the backbone runs in the precision the uncached run's
    forward passes would (the Trainer's autocast), so the head learns from the same features,
    and a bf16 machine extracts them several times faster; the features are stored in float32,
    under a key of their own per precision."""
    from transformers import default_data_collator

    head_name = anatomy(model, backbone).head[0]
    head = model.get_submodule(head_name)
    collate = collator or default_data_collator
    seen: dict[str, Any] = {}
    hooks = [
        head.register_forward_pre_hook(lambda _m, args: seen.__setitem__("input", args[0])),
        head.register_forward_hook(lambda _m, _a, out: seen.__setitem__("output", out)),
    ]
    fingerprint = weights_fingerprint(model, leave_out=head_name)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    def extract(batch: dict[str, list]) -> dict[str, Any]:
        rows = [
            dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)
        ]
        inputs = {k: v.to(device) for k, v in collate(rows).items() if k != "labels"}
        with torch.no_grad(), torch.autocast(device.type, autocast, enabled=bool(autocast)):
            logits = model(**inputs).logits
        if not _same(seen["output"], logits):  # the probe could not run for this input kind
            raise RecipeError(
                f"model.cache_features: the head of {type(model).__name__} does not compute its "
                "logits by itself; set model.cache_features=false"
            )
        features = seen["input"].detach().float().cpu()
        length = features.shape[1] if features.dim() == 3 else 0  # (batch, sequence, hidden)
        return {
            "features": list(features.numpy()),
            "length": [length] * len(features),
            "labels": batch["labels"],
        }

    out = datasets.DatasetDict()
    reused = []
    try:
        for name, ds in splits.items():
            source = keys[name] if keys and name in keys else ds._fingerprint
            # fp32 features keep the key they had before precisions were told apart
            precision = f"-{autocast}" if autocast else ""
            key = hashlib.sha256(f"{source}-{fingerprint}{precision}".encode()).hexdigest()[:32]
            where: dict[str, Any] = {}
            if keys and name in keys and datasets.is_caching_enabled():
                file = cache_dir() / f"{key}.arrow"
                file.parent.mkdir(parents=True, exist_ok=True)
                where = {"cache_file_name": str(file), "load_from_cache_file": True}
                if file.is_file():
                    reused.append(name)
            cached = ds.map(
                extract,
                batched=True,
                batch_size=batch_size,
                remove_columns=ds.column_names,
                new_fingerprint=key,
                desc=f"Caching frozen-backbone features ({name})",
                **where,
            )
            # map keeps the input split's transform (images -> pixels); the features need none.
            out[name] = _pad_split(cached.with_format(None)).with_format("torch")
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    log.info(
        "cached frozen-backbone features: %s per example%s",
        tuple(out["train"][0]["features"].shape),
        f", read back from {cache_dir()} ({', '.join(reused)})" if reused else "",
    )
    return HeadOnly(head, loss), out


def _pad_split(ds: datasets.Dataset) -> datasets.Dataset:
    """Sequence-shaped features (one batch's length each) zero-padded to the split's longest,
    so the default collator can stack them; the head reads only what padding leaves unchanged
    (checked by `head_probe`)."""
    lengths = set(ds["length"])
    if len(lengths) > 1:
        longest = max(lengths)

        def pad(batch: dict[str, list]) -> dict[str, list]:
            padded = [_pad(torch.tensor(f)[None], longest)[0].numpy() for f in batch["features"]]
            return {"features": padded}

        ds = ds.map(pad, batched=True, desc="Padding cached features")
    return ds.remove_columns("length")
