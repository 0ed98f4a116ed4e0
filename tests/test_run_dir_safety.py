"""hfft never deletes or replaces a file it did not write: a folder of other files is refused as
training.output_dir, and starting a run over (--overwrite, or a rerun after a run that died before
its first checkpoint) removes only what the run directory's manifest says hfft wrote."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from transformers import TrainerCallback

import hfft.run
from hfft import run_dir as run_state
from hfft import run_manifest
from hfft.cli import main
from hfft.errors import HfftError
from hfft.preflight import check_output_dir
from hfft.recipe import load_recipe
from hfft.run_lock import LOCK_FILE as LOCK  # held by this process after run_state.begin
from tests import tiny
from tests.test_resume import write_recipe

# What a user keeps in a folder: notes, a copy of their data, their own card and model config.
FOREIGN = {
    "notes.txt": b"my notes\n",
    "mydata/train.csv": b"sentence,label\nhello,1\n",
    "README.md": b"# my project\n",
    "config.json": b'{"mine": true}\n',
}
LATER = {"notes.txt": b"notes added later\n", "mydata/copy.csv": b"a,b\n1,2\n"}


def put(folder: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(content)


def assert_kept(folder: Path, files: dict[str, bytes]) -> None:
    """Every one of `files` is still there, byte for byte."""
    found = {
        rel: (folder / rel).read_bytes() if (folder / rel).is_file() else None for rel in files
    }
    assert found == files


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}  # fmt: skip


@pytest.fixture
def recipe_for(tmp_path, vit_checkpoint, image_folder):
    """A tiny image recipe (18 images, 2 epochs of a few steps) training into `out`."""

    def make(out: Path, *overrides: str) -> Path:
        extra = ["training.num_train_epochs=2", *overrides]
        return write_recipe(tmp_path / "recipe.yaml", vit_checkpoint, image_folder, out, extra)

    return make


# ---------------------------------------------------------------- a folder hfft did not make


def test_a_folder_of_other_files_is_refused_on_every_path_and_nothing_is_written(
    tmp_path, recipe_for, capsys
):
    out = tmp_path / "project"
    put(out, FOREIGN)
    before = tree(out)
    recipe = recipe_for(out)
    expected = (
        f"hfft: error: training.output_dir {out} is not empty and is not an hfft run directory "
        "(it holds README.md, config.json, mydata/, notes.txt): hfft trains only into a new or "
        "empty folder or its own run directory, and never replaces or deletes files it did not "
        "write (--overwrite neither); set training.output_dir to a new folder"
    )
    for flags in ([], ["--overwrite"], ["--resume"], ["--resume", "checkpoint-4"]):
        assert main(["train", str(recipe), *flags]) == 2
        assert capsys.readouterr().err.strip() == expected, flags
        assert tree(out) == before and sorted(p.name for p in out.iterdir()) == sorted(
            ["README.md", "config.json", "mydata", "notes.txt"]
        )
    # build_run's preflight (hfft tune's trials, the benchmarks) says the same.
    with pytest.raises(HfftError, match="is not an hfft run directory"):
        check_output_dir(out)


def test_the_refusal_names_the_first_few_entries(tmp_path):
    put(tmp_path / "big", {f"f{i}.txt": b"x" for i in range(9)})
    with pytest.raises(HfftError) as err:
        run_state.refuse_foreign(tmp_path / "big")
    assert "(it holds f0.txt, f1.txt, f2.txt, f3.txt, f4.txt, ... (9 in all))" in str(err.value)


def test_empty_new_hidden_only_or_tune_only_folders_are_accepted(tmp_path, recipe_for):
    """hfft writes no hidden name and never touches tune/: `hfft train RUN_DIR/tune/best.yaml`
    trains beside its study, and a folder holding only .git or .DS_Store is as good as empty."""
    for name, files in (
        ("new", None),
        ("empty", {}),
        ("hidden", {".git/HEAD": b"ref\n", ".DS_Store": b"\0"}),
        ("tuned", {"tune/best.yaml": b"task: x\n", "tune/trials.csv": b"a\n"}),
    ):
        out = tmp_path / name
        if files is not None:
            out.mkdir()
            put(out, files)
        start = run_state.plan_start(load_recipe(recipe_for(out)), None, False)
        assert start.resume_from is None and not start.wipe, name
        run_state.begin(out, load_recipe(recipe_for(out)), start)
        assert_kept(out, files or {})
        assert run_state.written(out) == {run_state.MARKER, LOCK, "recipe.yaml", "checkpoints"}


# ---------------------------------------------------------------- the manifest and the wipe


def fake_run(out: Path, recipe: Path) -> None:
    """What `train` leaves when it dies before its first checkpoint: the marker and recipe."""
    run_state.begin(out, load_recipe(recipe), run_state.Start())


def test_a_rerun_after_a_failed_run_removes_only_what_hfft_wrote(tmp_path, recipe_for, caplog):
    out = tmp_path / "run"
    recipe = recipe_for(out)
    fake_run(out, recipe)
    with run_manifest.recording(out):  # a crash half-way through writing the results
        (out / "metrics.json").write_text("{}")
        (out / "examples").mkdir()
    (out / "checkpoints" / "checkpoint-4").mkdir(parents=True)  # incomplete: no marker
    put(out, LATER)
    start = run_state.plan_start(load_recipe(recipe), None, False)
    assert start.wipe and start.resume_from is None
    with caplog.at_level(logging.INFO, logger="hfft"):
        run_state.begin(out, load_recipe(recipe), start)
    assert caplog.messages == [
        "no complete checkpoint to continue from, starting over: removing checkpoints/, "
        f"examples/, metrics.json, recipe.yaml from {out}; keeping mydata/, notes.txt (not "
        "written by hfft)"
    ]
    assert_kept(out, LATER)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [run_state.MARKER, run_state.MANIFEST, LOCK, "recipe.yaml", "notes.txt", "mydata"]
    )
    assert run_state.written(out) == {run_state.MARKER, LOCK, "recipe.yaml", "checkpoints"}


def test_overwrite_of_a_finished_run_keeps_a_file_added_later(tmp_path, recipe_for, caplog):
    out = tmp_path / "run"
    recipe = recipe_for(out)
    fake_run(out, recipe)
    with run_manifest.recording(out):  # what finish_run writes, file names chosen by transformers
        tiny.make_image_checkpoint(out, "vit")
        (out / "README.md").write_text("# hfft's card\n")
    run_state.mark_finished(out)
    assert run_state.is_finished(out)
    put(out, LATER)
    start = run_state.plan_start(load_recipe(recipe), None, overwrite=True)
    with caplog.at_level(logging.INFO, logger="hfft"):
        run_state.begin(out, load_recipe(recipe), start)
    assert caplog.messages == [
        "--overwrite: removing README.md, config.json, model.safetensors, "
        f"preprocessor_config.json, recipe.yaml from {out}; keeping mydata/, notes.txt (not "
        "written by hfft)"
    ]
    assert_kept(out, LATER)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [run_state.MARKER, run_state.MANIFEST, LOCK, "recipe.yaml", "notes.txt", "mydata"]
    )


def test_recording_lists_what_save_pretrained_wrote_even_when_a_step_fails(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError), run_manifest.recording(out):
        tiny.make_text_checkpoint(out, "bert")  # config, weights and the tokenizer's own names
        raise RuntimeError("died before the card")
    names = {p.name for p in out.iterdir()} - {"notes.txt", run_state.MANIFEST}
    assert {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"} <= names
    assert run_state.written(out) == names
    run_state.mark_unfinished(out)
    assert run_state.wipe(out, "test") == sorted(names)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [run_state.MARKER, run_state.MANIFEST, "notes.txt"]
    )


def test_the_manifest_cannot_point_a_wipe_outside_the_run_directory(tmp_path):
    out, outside = tmp_path / "run", tmp_path / "precious.txt"
    outside.write_text("keep")
    run_state.record_written(out, ["../precious.txt", "..", "a/b", "", run_state.MANIFEST])
    assert run_state.written(out) == set()
    # A hand-edited manifest is read with the same care (an absolute name would be joined as is).
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    manifest = {"written": ["../precious.txt", str(decoy), "..", "notes.txt"]}
    (out / run_state.MANIFEST).write_text(json.dumps(manifest))
    assert run_state.written(out) == {"notes.txt"}
    run_state.mark_unfinished(out)
    run_state.wipe(out)
    assert outside.read_text() == "keep" and decoy.is_dir()


def test_overwrite_help_says_what_goes_and_what_stays(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert (
        "the files and folders hfft wrote there are deleted (it logs which); files it did not "
        "write, and tune/, are kept. A folder that is not an hfft run directory is refused with "
        "or without this flag"
    ) in help_text


# ---------------------------------------------------------------- every path, really trained


class FailAtFirstStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        raise RuntimeError("out of memory, say")


class InterruptAfterFirstSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


@pytest.mark.slow
def test_foreign_files_survive_failed_run_rerun_resume_and_overwrite(
    tmp_path, recipe_for, monkeypatch, capsys
):
    """The issue's story end to end: first run refused, a run that fails before its first
    checkpoint, a rerun (interrupted after one), --resume, then --overwrite in another mode; the
    user's files are byte-identical after each, and each start over removes hfft's files only."""
    build = hfft.run.build_run
    callbacks: list[TrainerCallback] = []

    def build_run(recipe):
        built = build(recipe)
        for callback in callbacks:
            built.trainer.add_callback(callback)
        return built

    monkeypatch.setattr(hfft.run, "build_run", build_run)
    out = tmp_path / "run"
    lora = ["model.mode=lora", "model.lora.r=4", "model.lora.alpha=8"]
    recipe = str(recipe_for(out, *lora))

    callbacks[:] = [FailAtFirstStep()]
    with pytest.raises(RuntimeError, match="out of memory"):
        main(["train", recipe])
    assert run_state.is_unfinished(out) and run_state.last_checkpoint(out) is None
    put(out, LATER)

    callbacks[:] = [InterruptAfterFirstSave()]
    assert main(["train", recipe]) == 130
    assert_kept(out, LATER)
    assert (
        "hfft: no complete checkpoint to continue from, starting over: removing checkpoints/, "
        f"recipe.yaml from {out}; keeping mydata/, notes.txt (not written by hfft)\n"
    ) in capsys.readouterr().err

    callbacks[:] = []
    assert main(["train", recipe, "--resume"]) == 0
    assert "continuing from checkpoint-" in capsys.readouterr().err
    assert_kept(out, LATER)
    assert run_state.is_finished(out) and (out / "adapter").is_dir()
    first = run_state.written(out)
    assert {"README.md", "config.json", "model.safetensors", "adapter", "examples"} <= first
    assert {"metrics.json", "confusion_matrix.png", "preprocessor_config.json"} <= first
    assert not first & {"notes.txt", "mydata"}

    # --overwrite in full mode: the LoRA run's adapter/ goes, the user's files stay.
    removed = ", ".join(p.name + "/" * p.is_dir() for p in run_state.owned_entries(out))
    assert "adapter/" in removed and "notes.txt" not in removed
    full = str(recipe_for(out))
    assert main(["train", full, "--overwrite"]) == 0
    err = capsys.readouterr().err
    assert (
        f"hfft: --overwrite: removing {removed} from {out}; keeping mydata/, notes.txt (not "
        "written by hfft)\n"
    ) in err
    assert_kept(out, LATER)
    assert run_state.is_finished(out) and not (out / "adapter").exists()
    # The manifest lists what is hfft's now (and the marker and lock it deleted last), nothing else.
    hfft_names = {p.name for p in out.iterdir()} - {"notes.txt", "mydata", run_state.MANIFEST}
    assert run_state.written(out) == hfft_names | {run_state.MARKER, LOCK}
