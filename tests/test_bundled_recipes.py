"""Every bundled recipe's architecture runs in that recipe's mode on a tiny random model of the
same model_type (the real checkpoints need the Hub; their architectures do not)."""

from __future__ import annotations

import pytest

from hfft.recipe import RECIPES_DIR, bundled_recipes, load_recipe
from hfft.run import train
from tests import tiny, tiny_tokens

pytestmark = pytest.mark.slow

# The model_type of each Hub checkpoint a bundled recipe names. A new recipe with a new
# checkpoint fails `test_every_bundled_checkpoint_is_mapped` until it is added here.
MODEL_TYPES = {
    "google/vit-base-patch16-224-in21k": "vit",
    "microsoft/resnet-50": "resnet",
    "google-bert/bert-base-uncased": "bert",
    "sentence-transformers/all-MiniLM-L6-v2": "bert",
    "google-bert/bert-base-cased": "bert",
    "microsoft/deberta-base": "deberta",
    "distilbert/distilroberta-base": "roberta",
}
HUB_RECIPES = [
    path
    for path, _ in bundled_recipes()
    if path.startswith(
        (
            "recipes/image-classification/",
            "recipes/text-classification/",
            "recipes/token-classification/",
        )
    )
]


def test_every_bundled_checkpoint_is_mapped():
    assert len(HUB_RECIPES) >= 10
    for path in HUB_RECIPES:
        assert load_recipe(RECIPES_DIR.parent / path).model.checkpoint in MODEL_TYPES, path


@pytest.mark.parametrize("path", HUB_RECIPES)
def test_bundled_recipe_architecture_runs_in_its_mode(path, tmp_path):
    recipe = load_recipe(RECIPES_DIR.parent / path)
    model_type = MODEL_TYPES[recipe.model.checkpoint]
    if recipe.data.multi_label:  # a multi-label recipe runs on tiny multi-label data
        ckpt, data_overrides = _multi_label(recipe.task, model_type, tmp_path)
    elif recipe.task == "image-classification":
        ckpt = tiny.make_image_checkpoint(tmp_path / "ckpt", model_type)
        data = tiny.make_image_folder(tmp_path / "data", per_class=6)
        data_overrides = ["data.path=imagefolder", f"data.data_dir={data}", "data.columns={}"]
    elif recipe.task == "token-classification":
        ckpt = tiny_tokens.make_token_checkpoint(tmp_path / "ckpt", model_type)
        data = tiny_tokens.make_entity_jsonl(tmp_path / "data", rows=24)
        data_overrides = ["data.path=json", f"data.data_files={data}", "data.revision=null"]
    else:
        ckpt = tiny.make_text_checkpoint(tmp_path / "ckpt", model_type)
        data = tiny.make_text_csv(tmp_path / "data", rows=24)
        data_overrides = [
            "data.path=csv",
            f"data.data_files={data}",
            "data.columns={text: sentence, label: sentiment}",
        ]
    overrides = [
        f"model.checkpoint={ckpt}",
        *data_overrides,
        f"training.output_dir={tmp_path / 'run'}",
        "training.num_train_epochs=1",
        "training.per_device_train_batch_size=8",
        "training.bf16=false",
        "training.use_cpu=true",
        "training.dataloader_num_workers=0",
    ]
    if recipe.data.streaming:  # the tiny data streamed: no test split, a few rows held out
        overrides += ["data.test_split=null", "data.max_eval_samples=6", "training.max_steps=3"]
    recipe = load_recipe(RECIPES_DIR.parent / path, overrides)
    result = train(recipe)
    assert (result.run_dir / "model.safetensors").is_file()
    share = result.trainable_parameters / result.total_parameters
    # The mode that trains last (LP-FT fine-tunes in model.lp_ft.then after its probe).
    last = recipe.model.lp_ft.then if recipe.model.mode == "lp-ft" else recipe.model.mode
    if last == "full":
        assert share == 1.0
    else:
        assert 0 < share < 0.5, f"{recipe.model.mode}: {share:.2%} of the parameters trained"
    assert (result.run_dir / "adapter").is_dir() == (last in ("lora", "peft"))
    if recipe.data.multi_label:
        assert (result.run_dir / "thresholds.json").is_file()
        assert "f1_micro" in result.metrics["test"]


def _multi_label(task: str, model_type: str, tmp_path) -> tuple:
    if task == "image-classification":
        ckpt = tiny.make_image_checkpoint(tmp_path / "ckpt", model_type)
        data = tiny.make_multilabel_images(tmp_path / "data", rows=48)
        columns = "data.columns={label: colours}"
    else:
        ckpt = tiny.make_text_checkpoint(tmp_path / "ckpt", model_type)
        data = tiny.make_multilabel_text(tmp_path / "data", rows=48)
        columns = "data.columns={text: sentence, label: tags}"
    overrides = [f"data.path={data}", "data.name=null", columns, "data.test_fraction=0.2",
                 "data.validation_fraction=0.2"]  # fmt: skip
    return ckpt, overrides
