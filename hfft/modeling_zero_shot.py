"""Image classifiers whose head reads a CLIP/SigLIP model's own image embedding, so a head set
from the class prompts' text embeddings predicts exactly what zero-shot classification does.

transformers' `CLIPForImageClassification` and `SiglipForImageClassification` feed their head
the *mean of the patch tokens* (CLIP: before the final layer norm, without the visual
projection); zero-shot classification compares the *pooled* image embedding (CLIP: the class
token after `post_layernorm`, through `visual_projection`; SigLIP: the attention-pooling head's
output) with the prompts' text embeddings. No linear head on the patch mean can compute that, so
these models keep the image tower of `CLIPModel`/`SiglipModel` (same weight names: they load from
a CLIP/SigLIP checkpoint as it is), L2-normalise its embedding and apply the `classifier`:

    logits = classifier(image_embeds / |image_embeds|)

With `classifier.weight = exp(logit_scale) * T` (T: one unit text embedding per class) and
`classifier.bias = logit_bias` (SigLIP; 0 for CLIP), the logits are zero-shot's
`logits_per_image`, bit for bit the same formula. The head they started from is kept in the
buffers `zero_shot_weight`/`zero_shot_bias` (saved with the weights), which `hfft wise-ft`
interpolates back towards.

This file imports transformers only: `save_pretrained` copies it into the model directory
(`auto_map` in config.json), so `pipeline("image-classification", model=DIR,
trust_remote_code=True)` loads a saved model without hfft. The configs have model types of their
own, so a load without the code fails with a clear message instead of building transformers'
mean-pooling classifier on these weights. hfft itself registers the classes (`register`) and
never runs the copy.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import CLIPConfig, SiglipConfig
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.models.clip.modeling_clip import CLIPPreTrainedModel, CLIPVisionModel
from transformers.models.siglip.modeling_siglip import SiglipPreTrainedModel, SiglipVisionModel


class HfftCLIPZeroShotConfig(CLIPConfig):
    """A CLIP config for `HfftCLIPZeroShotForImageClassification`."""

    model_type = "hfft_clip_zero_shot"


class HfftSiglipZeroShotConfig(SiglipConfig):
    """A SigLIP config for `HfftSiglipZeroShotForImageClassification`."""

    model_type = "hfft_siglip_zero_shot"


class _ZeroShotHead:
    """What both classifiers share: the normalised embedding, the classifier, the start head."""

    def _init_head(self, width: int, num_labels: int) -> None:
        self.classifier = nn.Linear(width, num_labels)
        # The head training started from (the zero-shot head), saved with the weights.
        self.register_buffer("zero_shot_weight", torch.zeros(num_labels, width))
        self.register_buffer("zero_shot_bias", torch.zeros(num_labels))

    def set_zero_shot_head(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Start the classifier from a zero-shot head (and remember it)."""
        with torch.no_grad():
            for param, buffer, value in (
                (self.classifier.weight, self.zero_shot_weight, weight),
                (self.classifier.bias, self.zero_shot_bias, bias),
            ):
                param.copy_(value)
                buffer.copy_(value)

    def _classify(self, image_embeds: torch.Tensor, labels: torch.Tensor | None, outputs):
        image_embeds = image_embeds / image_embeds.norm(p=2, dim=-1, keepdim=True)
        logits = self.classifier(image_embeds)
        loss = self.loss_function(labels, logits, self.config) if labels is not None else None
        return ImageClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class HfftCLIPZeroShotForImageClassification(_ZeroShotHead, CLIPPreTrainedModel):
    """CLIP's image tower and visual projection, a normalised embedding, a linear head."""

    config_class = HfftCLIPZeroShotConfig
    main_input_name = "pixel_values"
    input_modalities = CLIPVisionModel.input_modalities

    def __init__(self, config: HfftCLIPZeroShotConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.vision_model = CLIPVisionModel._from_config(config.vision_config)
        self.visual_projection = nn.Linear(
            config.vision_config.hidden_size, config.projection_dim, bias=False
        )
        self._init_head(config.projection_dim, config.num_labels)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        outputs = self.vision_model(pixel_values=pixel_values, **kwargs)
        embeds = self.visual_projection(outputs.pooler_output)
        return self._classify(embeds, labels, outputs)


class HfftSiglipZeroShotForImageClassification(_ZeroShotHead, SiglipPreTrainedModel):
    """SigLIP's image tower (its attention-pooling head included), a normalised embedding, a
    linear head."""

    config_class = HfftSiglipZeroShotConfig
    main_input_name = "pixel_values"
    input_modalities = SiglipVisionModel.input_modalities

    def __init__(self, config: HfftSiglipZeroShotConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.vision_model = SiglipVisionModel._from_config(config.vision_config)
        self._init_head(config.vision_config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        outputs = self.vision_model(pixel_values=pixel_values, **kwargs)
        return self._classify(outputs.pooler_output, labels, outputs)


# (config, classifier) per image-text family, by the model type of the checkpoint it loads from.
CLASSES = {
    "clip": (HfftCLIPZeroShotConfig, HfftCLIPZeroShotForImageClassification),
    "siglip": (HfftSiglipZeroShotConfig, HfftSiglipZeroShotForImageClassification),
}


def register() -> None:
    """Make the Auto classes (and so `pipeline()`) build these models in this process, from
    hfft's own code; `save_pretrained` then writes this file and the `auto_map` beside the
    weights. Idempotent."""
    from transformers import AutoConfig, AutoModelForImageClassification

    for config_class, model_class in CLASSES.values():
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModelForImageClassification.register(config_class, model_class, exist_ok=True)
        config_class.register_for_auto_class()
        model_class.register_for_auto_class("AutoModelForImageClassification")
