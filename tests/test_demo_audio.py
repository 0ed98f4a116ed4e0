"""`hfft demo --task audio-classification`: spoken words made with espeak-ng (held-out voices in
the test split), the demo-audio recipes, and the whole story scaled down (`--quick`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile

from hfft.demo_stories import DIGITS, SPOKEN_WORDS, story_for
from hfft.errors import HfftError
from hfft.recipe import load_recipe
from hfft.spoken_words import (
    SOURCE_WORDS,
    TARGET_WORDS,
    SpokenWordsSplit,
    espeak_available,
    voices,
    write_spoken_words,
)

needs_espeak = pytest.mark.skipif(
    espeak_available() is not None,
    reason="espeak-ng is not installed (`make test` installs it with apt)",
)
SMALL = SpokenWordsSplit(
    source_train_per_word=2,
    source_validation_per_word=1,
    target_train_per_word=2,
    target_validation_per_word=1,
    target_test_per_word=3,
)


def _voices_of(folder: Path) -> set[str]:
    """The espeak-ng voices of the clips under `folder` (from `<voice>_<n>.wav`)."""
    return {p.stem.rsplit("_", 1)[0].replace("_", "+", 1) for p in folder.rglob("*.wav")}


def test_voices_are_split_into_seen_and_held_out():
    seen, held_out = voices()
    assert len(seen) == 60 and len(held_out) == 24 and not set(seen) & set(held_out)
    assert all("en-029" in v or v.endswith(("+m7", "+f4")) for v in held_out)


@needs_espeak
def test_spoken_words_are_a_seeded_audiofolder_with_held_out_test_voices(tmp_path):
    counts = write_spoken_words(tmp_path / "a", SMALL)
    assert counts["source"]["train"] == dict.fromkeys(SOURCE_WORDS, 2)
    assert counts["target"]["test"] == dict.fromkeys(TARGET_WORDS, 3)
    root = tmp_path / "a"
    assert sorted(p.name for p in (root / "target" / "test").iterdir()) == sorted(TARGET_WORDS)
    seen = _voices_of(root / "source") | _voices_of(root / "target" / "train")
    seen |= _voices_of(root / "target" / "validation")
    test_voices = _voices_of(root / "target" / "test")
    assert test_voices and not test_voices & seen  # nobody in the test split was heard before
    clip = next((root / "target" / "train" / "yes").iterdir())
    info = soundfile.info(clip)
    assert (info.samplerate, info.channels) == (22050, 1) and 0.2 < info.duration < 1.5
    write_spoken_words(tmp_path / "b", SMALL)
    files = sorted(p.relative_to(root) for p in root.rglob("*.wav"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.wav"))
    assert clip.read_bytes() == (tmp_path / "b" / clip.relative_to(root)).read_bytes()


def test_the_demo_audio_recipes_share_one_budget():
    story = SPOKEN_WORDS
    names = sorted(p.name for p in story.recipes.glob("*.yaml"))
    assert names == sorted([story.pretrain, *story.targets])
    targets = []
    for name in names:
        path = story.recipes / name
        assert (
            path.read_text().splitlines()[0].startswith(f"# hfft train recipes/demo-audio/{name}")
        )
        recipe = load_recipe(path)
        assert recipe.task == "audio-classification"
        assert str(recipe.output_dir).startswith("demo-out-audio/")
        if name != story.pretrain:
            targets.append(recipe)
    shared = {
        (r.data.data_dir, r.training["num_train_epochs"], r.training["per_device_train_batch_size"],
         r.training["seed"], r.early_stopping.patience, r.data.max_duration)
        for r in targets
    }  # fmt: skip
    assert shared == {("demo-out-audio/data/target", 30, 16, 0, None, 1.0)}
    pretrain = load_recipe(story.recipes / story.pretrain)
    scratch = next(r for r in targets if r.model.config)
    assert scratch.model.config == pretrain.model.config
    assert [name for name, _ in story.target_recipes] == [
        "full", "freeze_layers=2", "frozen", "lora", "scratch",
    ]  # fmt: skip


def test_stories_are_chosen_by_task():
    assert story_for(None) is DIGITS and story_for("image-classification") is DIGITS
    assert story_for("audio-classification") is SPOKEN_WORDS
    with pytest.raises(HfftError, match="no demo for task 'text-classification'"):
        story_for("text-classification")


def test_without_espeak_the_audio_demo_says_what_to_install(monkeypatch, tmp_path, capsys):
    from hfft.cli import main

    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["demo", "--task", "audio-classification", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "espeak-ng is not installed" in err and "apt-get install espeak-ng" in err
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
@needs_espeak
def test_quick_audio_demo_runs_the_whole_story(tmp_path, capsys):
    from hfft.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--task", "audio-classification", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    source = out / "source-model"
    config = json.loads((source / "config.json").read_text())
    assert config["id2label"] == {str(i): w for i, w in enumerate(sorted(SOURCE_WORDS))}
    assert config["max_source_positions"] == 50  # the 1 s window the recipe's config asks for
    results = json.loads((out / "results.json").read_text())
    rows = {row["run"]: row for row in results["rows"]}
    assert list(rows) == [name for name, _ in SPOKEN_WORDS.target_recipes]
    for name, row in rows.items():
        metrics = json.loads((Path(row["run_dir"]) / "metrics.json").read_text())
        assert metrics["test"]["accuracy"] == pytest.approx(row["accuracy"])
        assert f"| {name} |" in printed
    trainable = {name: row["trainable_parameters"] for name, row in rows.items()}
    assert trainable["frozen"] < trainable["lora"] < trainable["freeze_layers=2"]
    assert trainable["freeze_layers=2"] < trainable["full"] == trainable["scratch"]
    table = (out / "results.md").read_text()
    assert table.startswith("# hfft demo: transfer learning on spoken words")
    assert "`hfft demo --task audio-classification --quick`" in table
    assert "spoken by 24 voices that no train or validation clip uses" in table
    assert (out / "runs" / "lora" / "examples" / "0.wav").is_file()
