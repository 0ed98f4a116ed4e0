"""`hfft zero-shot` and `hfft wise-ft` from the command line: the run directory's rules, and
the zero-shot run directory used by `hfft eval` and `hfft predict` like a trained one."""

from __future__ import annotations

import json

import pytest
import yaml

from hfft.cli import main
from tests.test_zero_shot import recipe_for
from tests.tiny_clip import make_dual_encoder


@pytest.fixture
def recipe_file(tmp_path):
    checkpoint = make_dual_encoder(tmp_path / "clip", "clip")
    recipe = recipe_for(tmp_path, checkpoint)
    path = tmp_path / "zero-shot.yaml"
    path.write_text(yaml.safe_dump(recipe.to_dict()))
    return path, recipe.output_dir


def test_zero_shot_writes_a_run_directory_others_commands_use(recipe_file, capsys):
    path, run = recipe_file
    assert main(["zero-shot", str(path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    metrics = json.loads((run / "metrics.json").read_text())
    assert shown["split"] == "test" and shown["accuracy"] == metrics["test"]["accuracy"]
    assert yaml.safe_load((run / "recipe.yaml").read_text())["model"]["head_init"] == "zero-shot"
    assert main(["eval", str(run), "--split", "validation"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["accuracy"] == metrics["validation"]["accuracy"]
    image = next((run / "examples").glob("*.png"))
    assert main(["predict", str(run), str(image), "--top-k", "1"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["predictions"][0]["label"] in {"red", "green", "blue"}


def test_a_zero_shot_run_pushes_its_model_code(recipe_file):
    """Its config.json's auto_map names modeling_zero_shot.py: without it the Hub copy would
    not load."""
    from hfft.recipe import load_recipe
    from hfft.upload_files import collect_model_files
    from hfft.zero_shot_run import zero_shot

    path, run = recipe_file
    zero_shot(load_recipe(path))
    files, left_out = collect_model_files(run, "user/clip-zero-shot")
    assert "modeling_zero_shot.py" in {f.path_in_repo for f in files}
    assert "modeling_zero_shot.py" not in left_out


def test_zero_shot_keeps_to_the_run_directory_rules(recipe_file, capsys):
    path, run = recipe_file
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert main(["zero-shot", str(path)]) == 2
    assert "is not empty and is not an hfft run directory" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]  # nothing written
    (run / "notes.txt").unlink()
    assert main(["zero-shot", str(path)]) == 0
    capsys.readouterr()
    assert main(["zero-shot", str(path)]) == 2
    assert "already holds a finished run: add --overwrite" in capsys.readouterr().err
    (run / "mine.txt").write_text("kept")
    assert main(["zero-shot", str(path), "--overwrite"]) == 0
    assert (run / "mine.txt").read_text() == "kept"  # hfft deletes only what it wrote
    assert not (run / "unfinished.json").exists()


def test_wise_ft_refuses_bad_alphas_and_a_run_without_a_zero_shot_start(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["wise-ft", str(tmp_path), "--alphas", "0,1.5"])
    assert exit_.value.code == 2
    assert "every alpha must lie in [0, 1]" in capsys.readouterr().err
    assert main(["wise-ft", str(tmp_path / "nowhere")]) == 2
    assert "cannot interpolate" in capsys.readouterr().err
