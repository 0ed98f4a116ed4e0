"""`frozen`: the pretrained backbone is frozen (BatchNorm statistics included) and only the new
head trains: a linear probe when the head is one layer. Its backbone output never changes, so
`hfft.feature_cache` may compute it once.

On a sentence-transformers checkpoint (hfft.sentence_pooling) the backbone's pooler (BERT's
`pooler.dense` + tanh on the first token, through which transformers' classifiers see the text)
was never trained by that checkpoint's objective, which pools the token states instead: it
trains with the head (a two-layer head), and the run directory is still a plain transformers
model. Measured with hfft on all-MiniLM-L6-v2 and VADER word sentiment (700 train / 400 test
sentences, tests/test_frozen_probe.py): the linear head alone on the untrained pooler reached
0.810 / 0.875 / 0.900 test accuracy at learning rates 1e-3 / 1e-2 / 5e-2 (10 epochs), the pooler
trained with it 0.918 / 0.920 at 1e-3 / 1e-2, the linear-probe baseline (logistic regression on
the mean-pooled embeddings) 0.905. Mean pooling itself is not an option: transformers'
BertForSequenceClassification always pools the first token, so it would need custom model code.
The price: the feature cache no longer applies (the head's input now trains), so the frozen
backbone runs every epoch: 160 s instead of 10 s for those 10 epochs on a busy 2-core CPU."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hfft.modes.mode import Mode

if TYPE_CHECKING:
    from torch import nn


def apply(model: nn.Module, spec: Any) -> nn.Module:
    """Freeze everything but the head (and a pooler the checkpoint's objective never trained)."""
    from hfft.modes.structure import anatomy, freeze, in_any
    from hfft.sentence_pooling import objective_untrained_pooler

    head = anatomy(model, getattr(spec, "backbone", None)).head
    trained = head + objective_untrained_pooler(model, spec.checkpoint)
    freeze(model, lambda name: not in_any(name, trained))
    return model


def describe(model: Mapping[str, Any]) -> str:
    from hfft.sentence_pooling import declared_pooling

    if declared_pooling(model.get("checkpoint")) is not None:
        return (
            "the pretrained backbone was frozen; the new classification head trained, together "
            "with the backbone's pooler (BERT's `pooler.dense`) where one feeds the head: this "
            "sentence-transformers checkpoint's objective never trained it (it pools the token "
            "states instead)"
        )
    return "the pretrained backbone was frozen and only the new classification head trained"


def hyperparameters(model: Mapping[str, Any]) -> dict[str, Any]:
    return {}


FROZEN = Mode(
    name="frozen",
    apply=apply,
    describe=describe,
    hyperparameters=hyperparameters,
    # A frozen backbone tolerates much larger steps than full fine-tuning.
    learning_rates=(1e-4, 1e-1),
    frozen_backbone=True,
)
