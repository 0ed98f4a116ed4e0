"""The Space and zero-shot: a plain CLIP/SigLIP checkpoint classifies the labels a visitor
types; a run that started from a zero-shot head is served as the image classifier it is."""

from __future__ import annotations

import hashlib
from pathlib import Path

import gradio as gr
import pytest

from tests.test_zero_shot import recipe_for
from tests.tiny import make_image_folder, uploaded_image
from tests.tiny_clip import make_dual_encoder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def app():
    from hfft.serve import load_app_module

    return load_app_module()


def _predict_fn(demo):
    return next(f for f in demo.fns.values() if f.api_name == "predict").fn


def test_the_app_trusts_exactly_hffts_own_model_code(app):
    own = hashlib.sha256((ROOT / "hfft" / "modeling_zero_shot.py").read_bytes()).hexdigest()
    assert {"modeling_zero_shot.py": own} == app.model_files.OWN_CODE


@pytest.mark.parametrize("model_type", ["clip", "siglip"])
def test_a_plain_checkpoint_classifies_the_labels_a_visitor_types(app, tmp_path, model_type):
    from transformers import pipeline

    checkpoint = make_dual_encoder(tmp_path / model_type, model_type)
    info = app.load_info(str(checkpoint))
    assert (info.task, info.labels) == ("zero-shot-image-classification", [])
    image = next((make_image_folder(tmp_path / "img", per_class=1) / "train" / "red").iterdir())
    demo = app.build_app(str(checkpoint))
    scores = _predict_fn(demo)(uploaded_image(image), "red, green,blue\ngreen")
    assert set(scores) == {"red", "green", "blue"}
    expected = pipeline("zero-shot-image-classification", model=str(checkpoint))(
        str(image),
        candidate_labels=["red", "green", "blue"],
        hypothesis_template="a photo of a {}.",
    )
    assert max(scores, key=scores.get) == expected[0]["label"]
    assert scores[expected[0]["label"]] == pytest.approx(expected[0]["score"], abs=1e-5)
    with pytest.raises(gr.Error, match="type at least two labels"):
        _predict_fn(demo)(uploaded_image(image), "red")
    assert "**Labels:** yours" in app.summary_markdown(info)


def test_a_run_started_from_a_zero_shot_head_is_served_as_an_image_classifier(app, tmp_path):
    from hfft.zero_shot_run import zero_shot

    checkpoint = make_dual_encoder(tmp_path / "clip", "clip")
    recipe = recipe_for(tmp_path, checkpoint)
    zero_shot(recipe)
    info = app.load_info(str(recipe.output_dir))
    assert info.task == "image-classification"
    assert info.labels == ["blue", "green", "red"]
    demo = app.build_app(str(recipe.output_dir))
    image = next((tmp_path / "colors" / "train" / "red").iterdir())
    ((scores,),) = _predict_fn(demo)([uploaded_image(image)])
    assert set(scores) == {"blue", "green", "red"}


@pytest.mark.slow  # two fresh processes import gradio and transformers
def test_other_model_code_is_not_run(app, tmp_path):
    from hfft.zero_shot_run import zero_shot

    checkpoint = make_dual_encoder(tmp_path / "clip", "clip")
    recipe = recipe_for(tmp_path, checkpoint)
    zero_shot(recipe)
    run = str(recipe.output_dir)
    # A Space process: hfft is not importable, so only the run's own code could build the model.
    assert _space_process(run) == "image-classification ['blue', 'green', 'red']"
    code = recipe.output_dir / "modeling_zero_shot.py"
    code.write_text(code.read_text() + "\nprint('not hfft')\n")
    assert not app.own_code(run)
    assert "trust_remote_code" in _space_process(run)


def _space_process(model: str) -> str:
    """What space/app.py's load_info says about `model` in a process without hfft."""
    import os
    import subprocess
    import sys

    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(ROOT / 'space' / 'app.py')!r})\n"
        "app = importlib.util.module_from_spec(spec); sys.modules['app'] = app\n"
        "spec.loader.exec_module(app)\n"
        "try:\n"
        f"    info = app.load_info({model!r}); print(info.task, info.labels)\n"
        "except ValueError as err:\n"
        "    print(err)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]
