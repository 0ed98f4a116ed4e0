"""Preflight checks one by one (the corpus in test_bad_inputs.py covers their messages through
the CLI), the skip policy for unusable examples, the safety defaults, and token redaction."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import constants
from PIL import Image
from safetensors.torch import load_file

from hfft import checkpoint, preflight
from hfft.cli import main
from hfft.data import find_bad_examples, load_data
from hfft.errors import DataError, HfftError
from hfft.recipe import DataSpec, ModelSpec, load_recipe
from hfft.redact import MASK, RedactingFilter, redact, redact_tree
from hfft.tasks import TASKS
from hfft.tasks.text import TEXT
from tests import tiny
from tests.hub_server import GOOD_TOKEN, FakeHub

IMAGE = TASKS["image-classification"]


def corrupt(folder):
    """Three unusable files in train/red: truncated, not an image, 16-bit."""
    red = folder / "train" / "red"
    good = next(red.glob("*.png")).read_bytes()
    (red / "cut.png").write_bytes(good[: len(good) // 2])
    (red / "text.png").write_text("not pixels")
    deep = np.full((tiny.IMAGE_SIZE, tiny.IMAGE_SIZE), 60000, dtype=np.uint16)
    Image.fromarray(deep, mode="I;16").save(red / "deep.png")
    return folder


def test_unusable_images_stop_the_run_with_the_whole_list(image_folder):
    spec = DataSpec(path="imagefolder", data_dir=str(corrupt(image_folder)))
    with pytest.raises(DataError) as err:
        load_data(spec, TASKS["image-classification"])
    message = str(err.value)
    assert message.startswith("3 unusable example(s): train row ")
    for name, why in (
        ("cut.png", "not a readable image (OSError: image file is truncated"),
        ("text.png", "not a readable image (UnidentifiedImageError"),
        ("deep.png", "image mode I;16 has more than 8 bits per channel"),
    ):
        assert f"{name}): {why}" in message
    assert message.endswith("or set data.on_bad_example=skip to train without them")


def test_skip_leaves_unusable_examples_out_and_counts_them(image_folder, caplog):
    spec = DataSpec(path="imagefolder", data_dir=str(corrupt(image_folder)), on_bad_example="skip")
    with caplog.at_level(logging.WARNING, logger="hfft"):
        data = load_data(spec, TASKS["image-classification"])
    assert sum(data.sizes().values()) == 18  # 6 per class; the 3 bad files are gone
    assert "skipped 3 unusable example(s) (data.on_bad_example=skip): train 3 |" in caplog.text
    # What is left decodes: every image of every split.
    for split in data.splits.values():
        assert all(image.convert("RGB").size for image in split["image"])


def test_text_rows_without_text_or_label_are_found(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict(
        {"text": ["fine", "", "  ", None, "ok", "good"], "label": ["a", "b", "a", "b", None, "a"]}
    )
    found = [(b.row, b.reason) for b in find_bad_examples(ds, TEXT, "train")]
    assert found == [(1, "empty text"), (2, "empty text"), (3, "no text"), (4, "no label")]


def test_many_bad_examples_are_listed_up_to_a_limit(tmp_path):
    rows = ["sentence,sentiment"] + [f",{'positive' if i % 2 else 'negative'}" for i in range(30)]
    rows += ["good fun,positive", "awful,negative"] * 3
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    spec = DataSpec(
        path="csv", data_files=str(tmp_path / "t.csv"), columns={"text": "sentence", "label": "sentiment"}
    )  # fmt: skip
    with pytest.raises(DataError, match=r"^30 unusable example\(s\): train row 0: no text;") as err:
        load_data(spec, TASKS["text-classification"])
    assert "; ... and 10 more. Fix or remove them" in str(err.value)


def test_output_dir_blocked_by_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(HfftError, match="is not writable"):
        preflight.check_output_dir(tmp_path / "file" / "run")
    preflight.check_output_dir(tmp_path / "new" / "run")
    assert (tmp_path / "new" / "run").is_dir()


def test_problems_keep_a_lone_error_type_and_join_several():
    problems = preflight.Problems()
    problems.run(lambda: (_ for _ in ()).throw(DataError("one")))
    with pytest.raises(DataError, match="^one$"):
        problems.raise_if_any()
    problems.note("two")
    problems.note("two")  # the same cause once
    with pytest.raises(preflight.PreflightError) as err:
        problems.raise_if_any()
    assert str(err.value) == "2 problems found before training:\n  1. one\n  2. two"


# ---------------------------------------------------------------- safety defaults


def pickle_only(source, target):
    folder = shutil.copytree(source, target)
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def test_pickle_weights_need_an_explicit_opt_in(vit_checkpoint, tmp_path):
    folder = pickle_only(vit_checkpoint, tmp_path / "bin")
    refused = ModelSpec(checkpoint=str(folder))
    with pytest.raises(HfftError, match="set model.allow_pickle=true if you trust their source"):
        preflight.check_checkpoint(refused)
    # Loading itself (a Hub checkpoint skips the local file check) also refuses, naming the key.
    with pytest.raises(HfftError, match="model.allow_pickle=true"):
        checkpoint.load_model(IMAGE, refused, ["a", "b", "c"])
    allowed = ModelSpec(checkpoint=str(folder), allow_pickle=True)
    preflight.check_checkpoint(allowed)
    model = checkpoint.load_model(IMAGE, allowed, ["a", "b", "c"])
    # The pickled weights were loaded, not initialised: the backbone equals the original's.
    original = checkpoint.load_model(IMAGE, ModelSpec(checkpoint=str(vit_checkpoint)), ["a", "b", "c"])  # fmt: skip
    expected = {k: v for k, v in original.state_dict().items() if "classifier" not in k}
    loaded = model.state_dict()
    assert expected and all(torch.equal(loaded[k], v) for k, v in expected.items())


def test_remote_code_is_never_run_unless_the_recipe_trusts_it(vit_checkpoint, tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text(
        '{"model_type": "fancy-net", "auto_map": {"AutoConfig": "configuration_fancy.Cfg"}}'
    )
    ran = tmp_path / "ran"
    (folder / "configuration_fancy.py").write_text(f"open({str(ran)!r}, 'w')\n")
    shutil.copy(vit_checkpoint / "model.safetensors", folder)
    spec = ModelSpec(checkpoint=str(folder))
    assert checkpoint.load_kwargs(spec)["trust_remote_code"] is False
    with pytest.raises(HfftError, match="set model.trust_remote_code=true"):
        preflight.check_checkpoint(spec)
    with pytest.raises(HfftError, match="model.trust_remote_code=true only if you trust"):
        checkpoint.load_model(IMAGE, spec, ["a"])
    assert not ran.exists()


# ---------------------------------------------------------------- checkpoint messages


def _image_recipe(path, checkpoint_value, folder, out) -> None:
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": str(checkpoint_value)},
        # 0.2 of 18 rows holds one of each of the 3 classes: carved stratified, no warning.
        "data": {"path": "imagefolder", "data_dir": str(folder), "validation_fraction": 0.2},
        "training": {"output_dir": str(out), "use_cpu": True},
    }
    path.write_text(yaml.safe_dump(raw))


def test_a_missing_relative_checkpoint_says_the_folder_does_not_exist(image_folder, tmp_path, monkeypatch, capsys):  # fmt: skip
    """`runs/base` could be a Hub id, so the Hub was tried (offline here); the message leads
    with what the user most likely meant: that folder is not there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    _image_recipe(tmp_path / "r.yaml", "runs/base", image_folder, tmp_path / "out")
    assert main(["train", str(tmp_path / "r.yaml")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"hfft: error: model.checkpoint 'runs/base' does not exist: there is no "
        f"{tmp_path / 'runs' / 'base'}, and as a Hub id it could not be loaded either ("
    )


def test_unreadable_weights_say_permission_denied(vit_checkpoint, image_folder, tmp_path):
    """safetensors calls an unreadable file "No such file or directory"; hfft says what it is.
    Root reads everything, so as root the command runs in a user namespace, as nobody."""
    import os
    import subprocess
    import sys
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="hfft-unreadable-"))
    try:
        root.chmod(0o777)
        ckpt = Path(shutil.copytree(vit_checkpoint, root / "ckpt"))
        data = Path(shutil.copytree(image_folder, root / "colors"))
        for path in [ckpt, data, *data.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o666)
        (ckpt / "model.safetensors").chmod(0o000)
        recipe = root / "r.yaml"
        _image_recipe(recipe, ckpt, data, root / "out")
        recipe.chmod(0o666)
        command = [sys.executable, "-m", "hfft.cli", "train", str(recipe)]
        if os.geteuid() == 0:
            if subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode:
                pytest.skip("running as root without user namespaces: every file is readable")
            command = ["unshare", "--user", *command]
        repo = Path(__file__).resolve().parent.parent
        env = {**os.environ, "PYTHONPATH": str(repo), "HF_HOME": str(root / "hf")}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"hfft: error: model.checkpoint '{ckpt}': cannot read {ckpt / 'model.safetensors'} "
        "(permission denied); make it readable (chmod -R a+rX) or copy the checkpoint somewhere "
        "you can read"
    )


class _Records(logging.Handler):
    """Collects what reaches a logger's handlers (after the logger's own filters)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def transformers_log():
    """What transformers logs at its default verbosity (warnings), whatever earlier tests set."""
    logger = logging.getLogger("transformers")
    records, level = _Records(), logger.level
    logger.setLevel(logging.WARNING)  # setLevel, not the attribute: it clears children's caches
    logger.addHandler(records)
    yield records
    logger.removeHandler(records)
    logger.setLevel(level)


def test_a_replaced_head_is_said_once_in_hfft_words(tmp_path, caplog, transformers_log):
    ckpt = tiny.make_image_checkpoint(tmp_path / "ckpt5", "vit", num_labels=5)
    caplog.set_level(logging.INFO, logger="hfft")
    model = checkpoint.load_model(IMAGE, ModelSpec(checkpoint=str(ckpt)), ["a", "b", "c"])
    assert model.config.num_labels == 3 and model.classifier.out_features == 3
    assert [r.getMessage() for r in caplog.records if r.name == "hfft"] == [
        "a new classification head was initialised for 3 labels (the checkpoint's head had 5)"
    ]
    library = " ".join(transformers_log.messages)
    for noise in ("LOAD REPORT", "MISMATCH", "incompatible"):
        assert noise not in library, library


def test_a_headless_checkpoint_and_missing_backbone_weights_are_told_apart(tmp_path, caplog):
    from safetensors.torch import save_file
    from transformers import ViTModel

    headless = tmp_path / "headless"
    ViTModel(tiny.image_config("vit")).save_pretrained(headless)
    caplog.set_level(logging.INFO, logger="hfft")
    checkpoint.load_model(IMAGE, ModelSpec(checkpoint=str(headless)), ["a", "b"])
    assert [r.getMessage() for r in caplog.records if r.name == "hfft"] == [
        "a new classification head was initialised for 2 labels (the checkpoint had none)"
    ]
    # A checkpoint missing backbone weights is not "the head": that is said, as a warning.
    weights = load_file(headless / "model.safetensors")
    save_file(
        {k: v for k, v in weights.items() if "layer.1." not in k}, headless / "model.safetensors"
    )
    caplog.clear()
    checkpoint.load_model(IMAGE, ModelSpec(checkpoint=str(headless)), ["a", "b"])
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().startswith("16 backbone weights were not in the checkpoint")


def test_the_trainers_mtime_warning_is_dropped(transformers_log):
    from hfft import library_noise

    library_noise.install()
    library_noise.install()  # idempotent
    logger = logging.getLogger("transformers.trainer_utils")
    assert sum(isinstance(f, library_noise.DropMessages) for f in logger.filters) == 1
    logger.warning(
        "mtime may not be reliable on this filesystem, falling back to numerical ordering"
    )
    logger.warning("another trainer_utils warning")
    assert transformers_log.messages == ["another trainer_utils warning"]


# ---------------------------------------------------------------- Hub preflight


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", GOOD_TOKEN)
        yield server


def test_hub_preflight_accepts_the_users_namespace(hub):
    preflight.check_hub(load_recipe(_push_recipe("tester/model")).hub)


@pytest.mark.parametrize(
    ("token", "repo_id", "expected"),
    [
        (
            GOOD_TOKEN,
            "someone-else/model",
            "the token belongs to 'tester', who cannot create repos under 'someone-else'",
        ),
        (
            "hf_unknown_token_000000000000",
            "tester/model",
            "hub.push is on but the Hub did not accept the token",
        ),
    ],
    ids=["other-namespace", "bad-token"],
)
def test_hub_preflight_refuses(hub, monkeypatch, token, repo_id, expected):
    monkeypatch.setenv("HF_TOKEN", token)
    with pytest.raises(HfftError, match=expected):
        preflight.check_hub(load_recipe(_push_recipe(repo_id)).hub)
    assert token not in "".join(r.path for r in hub.requests)


def test_hub_preflight_offline(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", GOOD_TOKEN)
    with pytest.raises(HfftError, match="unreachable in offline mode"):
        preflight.check_hub(load_recipe(_push_recipe("tester/model")).hub)


def _push_recipe(repo_id: str) -> dict:
    return {
        "task": "image-classification",
        "model": {"checkpoint": "x/y"},
        "data": {"path": "imagefolder"},
        "training": {"output_dir": "run"},
        "hub": {"push": True, "repo_id": repo_id},
    }


# ---------------------------------------------------------------- tokens never written


SECRET = "hf_" + "Q" * 34


def test_redaction_masks_token_shapes_and_the_configured_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "my-own-token-value")
    assert redact(f"a {SECRET} b my-own-token-value c") == f"a {MASK} b {MASK} c"
    tree = {"hub": {"token": "x" * 10, "repo_id": "me/m"}, "data": [f"https://u:{SECRET}@h/f"]}
    assert redact_tree(tree) == {"hub": {"token": MASK, "repo_id": "me/m"}, "data": [f"https://u:{MASK}@h/f"]}  # fmt: skip
    record = logging.LogRecord("hfft", logging.INFO, "", 0, "got %s", (SECRET,), None)
    assert RedactingFilter().filter(record) and record.getMessage() == f"got {MASK}"


def test_tokens_stay_out_of_recipe_yaml_error_messages_and_logs(tmp_path, capsys, image_folder):
    recipe = load_recipe(
        {
            "task": "image-classification",
            "model": {"checkpoint": "x/y"},
            "data": {"path": "csv", "data_files": f"https://user:{SECRET}@example.com/d.csv"},
            "training": {"output_dir": str(tmp_path / "run")},
        }
    )
    recipe.save(tmp_path / "recipe.yaml")
    saved = (tmp_path / "recipe.yaml").read_text()
    assert SECRET not in saved and yaml.safe_load(saved)["data"]["data_files"].count(MASK) == 1
    assert SECRET not in recipe.to_yaml()

    # An error that quotes the user's input prints it masked.
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"task": "image-classification", "model": {"checkpoint": f"./{SECRET}/m"}, "data": {"path": "imagefolder", "data_dir": str(image_folder)}, "training": {"output_dir": str(tmp_path / "o")}}))  # fmt: skip
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert SECRET not in err and f"model.checkpoint './{MASK}/m' does not exist" in err
    # Log records through hfft's handler are masked too.
    logger = logging.getLogger("hfft")
    handler = next(h for h in logger.handlers if any(isinstance(f, RedactingFilter) for f in h.filters))  # fmt: skip
    record = logger.makeRecord("hfft", logging.INFO, "", 0, "token %s", (SECRET,), None)
    assert all(f.filter(record) for f in handler.filters) and SECRET not in record.getMessage()


@pytest.mark.slow
def test_a_trained_run_writes_no_token_anywhere(vit_checkpoint, image_folder, tmp_path, monkeypatch, caplog):  # fmt: skip
    from hfft.run import train

    own = "my-personal-access-value-123"  # the machine's token, in no hf_ shape
    monkeypatch.setenv("HF_TOKEN", own)
    recipe = load_recipe(
        {
            "task": "image-classification",
            "model": {"checkpoint": str(vit_checkpoint)},
            "data": {"path": "imagefolder", "data_dir": str(image_folder)},
            "training": {"output_dir": str(tmp_path / "run"), "num_train_epochs": 1},
            # `tune:` is typed now; its metric is a free string until `hfft tune` reads it.
            "tune": {"metric": f"pasted by mistake: {own} and {SECRET}"},
        }
    )
    with caplog.at_level(logging.INFO):
        train(recipe)
    written = [p for p in (tmp_path / "run").rglob("*") if p.is_file() and p.suffix in (".md", ".yaml", ".json")]  # fmt: skip
    assert {"README.md", "recipe.yaml"} <= {p.name for p in written}
    for path in written:
        text = path.read_text()
        assert own not in text and SECRET not in text, path
    assert MASK in (tmp_path / "run" / "recipe.yaml").read_text()
