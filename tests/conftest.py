"""Every test runs offline, on CPU, against tiny models and data made on disk."""

from __future__ import annotations

import os
import tempfile

# Set before anything imports huggingface_hub/datasets: without offline mode each Hub call
# retries for ~23 s before failing.
_HOME = tempfile.mkdtemp(prefix="hfft-test-home-")
os.environ.update(
    HF_HOME=_HOME,
    HF_HUB_OFFLINE="1",
    HF_DATASETS_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
    HF_EVALUATE_OFFLINE="1",
    HF_HUB_DISABLE_TELEMETRY="1",
    GRADIO_ANALYTICS_ENABLED="False",
    TOKENIZERS_PARALLELISM="false",
    CUDA_VISIBLE_DEVICES="",
    # `pytest -n 2` on 2 cores: one thread per worker, or each step fights for the cores.
    OMP_NUM_THREADS="1",
    # bf16 auto decided as on a CPU without bf16 instructions: the suite's runs stay fp32, as
    # their expected numbers were measured (tests of hfft.precision set it themselves).
    HFFT_CPU_BF16="0",
)
os.environ.pop("HF_TOKEN", None)

import pytest  # noqa: E402

from tests import tiny  # noqa: E402


@pytest.fixture
def vit_checkpoint(tmp_path):
    return tiny.make_image_checkpoint(tmp_path / "vit-ckpt", "vit")


@pytest.fixture
def bert_checkpoint(tmp_path):
    return tiny.make_text_checkpoint(tmp_path / "bert-ckpt", "bert")


@pytest.fixture
def image_folder(tmp_path):
    return tiny.make_image_folder(tmp_path / "colors", per_class=6)


@pytest.fixture
def text_csv(tmp_path):
    return tiny.make_text_csv(tmp_path / "reviews", rows=24)
