"""hfft/run_files.py: the one place that names a run directory's files and opens a finished run,
and space/app.py's copies of those names (the app cannot import hfft)."""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path

import pytest

from hfft import run_files
from hfft.errors import HfftError
from hfft.run_files import open_finished
from hfft.space_files import SPACE_MODEL_FILE, SPACE_MODEL_VARIABLE

SPACE = Path(__file__).resolve().parents[1] / "space"


def _module_constants(path: Path) -> dict[str, object]:
    """NAME = literal assignments at the top level of a module, read without importing it
    (space/app.py imports gradio and transformers)."""
    out = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                with contextlib.suppress(ValueError):  # not a literal: not a name it repeats
                    out[target.id] = ast.literal_eval(node.value)
    return out


def _string_literals(path: Path) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_space_app_repeats_the_run_directory_names_exactly():
    app = _module_constants(SPACE / "model_files.py")
    assert app["RUN_UNFINISHED_MARKER"] == run_files.MARKER
    assert app["MODEL_FILE"] == SPACE_MODEL_FILE
    assert app["EXTRA_FILES"] == [
        f"{run_files.EXAMPLES_DIR}/*",
        run_files.RECIPE_FILE,
        run_files.METRICS_FILE,
    ]
    # Names it spells inline: the examples file it reads and the Space variable it takes.
    literals = _string_literals(SPACE / "app.py") | _string_literals(SPACE / "model_files.py")
    assert {run_files.EXAMPLES_DIR, run_files.EXAMPLES_FILE, SPACE_MODEL_VARIABLE} <= literals


def test_every_file_name_the_space_spells_is_one_hfft_writes():
    """A renamed run-directory file that the app still reads by its old name fails here."""
    known = {
        value
        for name, value in vars(run_files).items()
        if name.isupper() and isinstance(value, str)
    } | {SPACE_MODEL_FILE}
    for path in SPACE.glob("*.py"):
        names = {
            s.removesuffix("/*")
            for s in _string_literals(path)
            if s.endswith((".json", ".yaml", ".txt", "/*")) and " " not in s
        }
        assert names <= known, f"{path.name} reads {sorted(names - known)}, which hfft never writes"


def _run(tmp_path: Path, *names: str) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    for name in names:
        (run / name).write_text("{}")
    return run


def test_open_finished_refuses_a_missing_folder(tmp_path):
    with pytest.raises(HfftError) as err:
        open_finished(tmp_path / "nope", "push")
    assert str(err.value) == f"cannot push {tmp_path / 'nope'}: there is no such folder"


def test_open_finished_refuses_an_unfinished_run(tmp_path):
    run = _run(tmp_path, run_files.MARKER, run_files.RECIPE_FILE, run_files.CONFIG_FILE)
    with pytest.raises(HfftError) as err:
        open_finished(run, "predict with")
    assert str(err.value) == (
        f"cannot predict with {run}: it is an unfinished hfft run (unfinished.json is there: "
        "training was interrupted or is still running). Continue it with `hfft train "
        f"{run / 'recipe.yaml'} --resume`, or point at a finished run directory"
    )
    assert not run_files.is_finished(run)


def test_open_finished_says_what_a_folder_lacks_for_each_action(tmp_path):
    run = _run(tmp_path)
    with pytest.raises(HfftError) as err:
        open_finished(run, "serve", or_hub_id=True)
    assert str(err.value) == (
        f"cannot serve {run}: it has no config.json, so it is not a trained model directory; "
        "pass the training.output_dir of a finished `hfft train` run, or a Hub model id"
    )
    with pytest.raises(HfftError) as err:
        open_finished(run, "push", need_weights=True)
    assert str(err.value) == (
        f"cannot push {run}: it is not a finished run: no config.json and no model weights "
        "(model.safetensors); pass the training.output_dir of a finished `hfft train` run (an "
        "interrupted run only has checkpoints/)"
    )
    # `hfft eval` needs the recipe too: an empty folder is no hfft run (it said "no config.json")
    with pytest.raises(HfftError) as err:
        open_finished(run, "evaluate", need_recipe=True)
    assert str(err.value) == (
        f"cannot evaluate {run}: it is not an hfft run directory (no config.json and no "
        "recipe.yaml); train one with `hfft train RECIPE`"
    )


def test_open_finished_takes_a_plain_saved_model_unless_the_recipe_is_needed(tmp_path):
    run = _run(tmp_path, run_files.CONFIG_FILE, "model.safetensors")
    found = open_finished(run, "push", need_weights=True)
    assert found.path == run and found.config == run / "config.json" and not found.has_recipe
    assert not run_files.is_finished(run)
    with pytest.raises(HfftError, match="not an hfft run directory \\(no recipe.yaml\\)"):
        open_finished(run, "evaluate", need_recipe=True)
    (run / run_files.RECIPE_FILE).write_text("task: x\n")
    assert open_finished(run, "evaluate", need_recipe=True).has_recipe
    assert run_files.is_finished(run)
