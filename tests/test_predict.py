"""hfft.predict / `hfft predict`: matches transformers.pipeline, survives bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from transformers import AutoConfig, pipeline

from hfft.cli import main
from hfft.errors import HfftError
from hfft.predict import predict, task_for
from hfft.tasks.image import expand_inputs as expand_image_inputs
from hfft.tasks.image import image_problem
from hfft.tasks.text import expand_inputs as expand_text_inputs
from tests import tiny

REPO_ROOT = Path(__file__).resolve().parent.parent


def _name_labels(run_dir, names):
    """Give a tiny checkpoint real label names, as `hfft train` does."""
    config = AutoConfig.from_pretrained(run_dir)
    config.id2label = dict(enumerate(names))
    config.label2id = {name: i for i, name in enumerate(names)}
    config.save_pretrained(run_dir)
    return run_dir


@pytest.fixture
def image_run(tmp_path):
    run = tiny.make_image_checkpoint(tmp_path / "vit-run", "vit", num_labels=3)
    return _name_labels(run, list(tiny.COLORS))


@pytest.fixture
def text_run(tmp_path):
    run = tiny.make_text_checkpoint(tmp_path / "bert-run", "bert", num_labels=2)
    return _name_labels(run, sorted(tiny.WORDS))


def _lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _assert_same(results, expected):
    assert len(results) == len(expected)
    for got, want in zip(results, expected, strict=True):
        assert [p["label"] for p in got["predictions"]] == [w["label"] for w in want]
        assert [p["score"] for p in got["predictions"]] == pytest.approx(
            [w["score"] for w in want], abs=1e-5
        )


def test_image_folder_with_a_bad_file_matches_pipeline(image_run, image_folder, capsys):
    not_an_image = image_folder / "train" / "red" / "notes.png"
    not_an_image.write_text("this is not a PNG")
    missing = image_folder / "missing.jpg"

    rc = main(
        ["predict", str(image_run), str(image_folder), str(missing), "--top-k", "2",
         "--batch-size", "4"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 1
    results, errors = _lines(out), _lines(err)

    good = sorted(p for p in image_folder.rglob("*.png") if p != not_an_image)
    assert [r["input"] for r in results] == [str(p) for p in good]
    assert all(len(r["predictions"]) == 2 for r in results)
    assert {p["label"] for r in results for p in r["predictions"]} <= set(tiny.COLORS)
    reference = pipeline("image-classification", model=str(image_run))
    _assert_same(results, reference([str(p) for p in good], top_k=2))

    assert [e["input"] for e in errors] == [str(not_an_image), str(missing)]
    assert "not a readable image" in errors[0]["error"]
    assert "no such file" in errors[1]["error"]


def test_glob_input_and_top_k_clamped(image_run, image_folder):
    pattern = str(image_folder / "train" / "*" / "blue_*.png")
    results = list(predict(str(image_run), [pattern, str(image_folder / "nope_*.png")], top_k=9))
    assert [r["input"].rsplit("/", 1)[-1] for r in results[:-1]] == [
        f"blue_{i}.png" for i in range(6)
    ]
    assert all(len(r["predictions"]) == 3 for r in results[:-1])  # 3 classes, not 9
    assert results[-1] == {
        "input": str(image_folder / "nope_*.png"),
        "error": "no image file matches this pattern",
    }


def test_text_inputs_and_text_file_match_pipeline(text_run, tmp_path, capsys):
    lines = ["good fun movie", "", "the plot was awful and boring", "nice film"]
    txt = tmp_path / "reviews.txt"
    txt.write_text("\n".join(lines) + "\n")
    rc = main(["predict", str(text_run), "really great", str(txt), "--batch-size", "2"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    results = _lines(out)
    texts = ["really great", "good fun movie", "the plot was awful and boring", "nice film"]
    assert [r["input"] for r in results] == texts
    reference = pipeline("text-classification", model=str(text_run))
    _assert_same(results, reference(texts, top_k=2))
    assert {p["label"] for p in results[0]["predictions"]} == {"negative", "positive"}


def test_image_inputs_expand_folders_recursively_and_flag_empty_ones(tmp_path):
    (tmp_path / "pics" / "sub").mkdir(parents=True)
    for name in ("b.png", "sub/a.JPG", "notes.txt"):
        (tmp_path / "pics" / name).write_bytes(b"")
    (tmp_path / "empty").mkdir()
    items = list(expand_image_inputs([str(tmp_path / "pics"), str(tmp_path / "empty")]))
    assert [(i.input, i.error) for i in items[:2]] == [
        (str(tmp_path / "pics" / "b.png"), None),
        (str(tmp_path / "pics" / "sub" / "a.JPG"), None),
    ]
    assert items[2].input == str(tmp_path / "empty")
    assert items[2].error.startswith("folder holds no image file (.bmp, .gif, .jpeg")
    assert len(items) == 3


def test_missing_text_file_is_an_error_line():
    items = list(expand_text_inputs(["missing.txt", "a review ending in notes.txt"]))
    assert items[0].error == "no such text file"
    assert items[1].error is None and items[1].input == "a review ending in notes.txt"


def test_run_dir_without_config_is_refused(tmp_path, capsys):
    (tmp_path / "half-run").mkdir()
    assert main(["predict", str(tmp_path / "half-run"), "x.png"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hfft: error: ") and "has no config.json" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(HfftError, match="neither a directory nor a Hub model id"):
        list(predict(str(tmp_path / "no" / "such" / "run"), ["x"]))
    with pytest.raises(HfftError, match=">= 1"):
        list(predict(str(tmp_path), ["x"], top_k=0))


def test_task_from_architectures():
    assert task_for({"architectures": ["ViTForImageClassification"]}) == "image-classification"
    assert task_for({"architectures": ["BertForSequenceClassification"]}) == ("text-classification")
    with pytest.raises(HfftError, match="GPT2LMHeadModel"):
        task_for({"architectures": ["GPT2LMHeadModel"]})


@pytest.mark.parametrize(
    ("mode", "dtype", "value"), [("I;16", "uint16", 40000), ("F", "float32", 0.5)]
)
def test_wide_images_are_refused_as_in_training(image_run, tmp_path, capsys, mode, dtype, value):
    wide = tmp_path / f"wide-{dtype}.tif"
    pixels = np.full((tiny.IMAGE_SIZE, tiny.IMAGE_SIZE), value, dtype=dtype)
    Image.fromarray(pixels, mode=mode).save(wide)
    ok = next(iter(sorted((tiny.make_image_folder(tmp_path / "c", per_class=1)).rglob("*.png"))))

    assert main(["predict", str(image_run), str(wide), str(ok)]) == 1
    out, err = capsys.readouterr()
    assert [r["input"] for r in _lines(out)] == [str(ok)]
    [error] = _lines(err)
    assert error["input"] == str(wide)
    # The very words training uses for the same file (one check, shared).
    assert error["error"] == image_problem({"path": str(wide), "bytes": None})
    assert error["error"].startswith(f"image mode {mode} has more than 8 bits per channel")
    assert "would clip it" in error["error"]


def test_output_piped_into_a_reader_that_stops_ends_quietly(image_run, image_folder):
    # `hfft predict ... | head -3`: the reader goes away; hfft must stop without a traceback.
    read_end, write_end = os.pipe()
    os.close(read_end)  # a reader that has already stopped: the first line breaks the pipe
    try:
        done = subprocess.run(
            [sys.executable, "-m", "hfft.cli", "predict", str(image_run), str(image_folder)],
            cwd=REPO_ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=180,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
