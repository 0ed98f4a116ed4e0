"""`hfft push` against a Hub-compatible server on 127.0.0.1 (tests/hub_server.py), driven by the
real huggingface_hub client: what is uploaded, what never is, the Space, and the error messages."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml
from huggingface_hub import constants, snapshot_download

from hfft import space_files
from hfft.cli import main
from hfft.hub import push_run
from tests import tiny
from tests.hub_server import GOOD_TOKEN, FakeHub

LABELS = ["red", "green", "blue"]
REPO = "tester/tiny-vit"
# What the run below must put on the Hub, and nothing else.
EXPECTED_MODEL_FILES = {
    "README.md",
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "recipe.yaml",
    "metrics.json",
    "confusion_matrix.png",
    "examples/examples.json",
    "examples/0.png",
    "examples/1.png",
    "adapter/adapter_config.json",
    "adapter/adapter_model.safetensors",
}


def _png(path: Path, rgb: tuple[int, int, int]) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (tiny.IMAGE_SIZE, tiny.IMAGE_SIZE), rgb).save(path)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished run built by hand: tiny ViT with label names, card, recipe with local paths,
    metrics, examples, a LoRA adapter folder, and Trainer leftovers that must never be pushed."""
    from transformers import AutoConfig

    root = tmp_path_factory.mktemp("push")
    base = tiny.make_image_checkpoint(root / "vit-ckpt", "vit")  # a local base checkpoint
    data = tiny.make_image_folder(root / "colors", per_class=1)
    run = tiny.make_image_checkpoint(root / "run", "vit")
    config = AutoConfig.from_pretrained(run)
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {name: i for i, name in enumerate(LABELS)}
    config.save_pretrained(run)

    recipe = {
        "task": "image-classification",
        "model": {"checkpoint": str(base), "mode": "lora", "lora": {"r": 4}},
        "data": {"path": "imagefolder", "data_dir": str(data), "columns": {"image": "image"}},
        "training": {"output_dir": str(run), "learning_rate": 0.01, "seed": 0},
        "eval": {"metrics": ["accuracy"]},
        "hub": {"repo_id": REPO, "private": False, "push": False},
    }
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    metrics = {"test": {"accuracy": 0.5, "per_class": {n: {"f1": 0.5} for n in LABELS}}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "README.md").write_text(
        f"---\nbase_model: {base}\ndatasets:\n- {data}\ntags:\n- hfft\n---\n"
        f"# tiny-vit\n\nFine-tuned from {base} on {data}.\n\n"
        f'```python\npipeline("image-classification", model="{run}")\n```\n'
    )
    _png(run / "confusion_matrix.png", (0, 0, 0))
    _png(run / "examples" / "0.png", tiny.COLORS["red"])
    _png(run / "examples" / "1.png", tiny.COLORS["blue"])
    examples = [{"input": "0.png", "label": "red"}, {"input": "1.png", "label": "blue"}]
    (run / "examples" / "examples.json").write_text(json.dumps(examples))
    (run / "adapter").mkdir()
    adapter = {"peft_type": "LORA", "base_model_name_or_path": str(base), "r": 4}
    (run / "adapter" / "adapter_config.json").write_text(json.dumps(adapter))
    shutil.copy(run / "model.safetensors", run / "adapter" / "adapter_model.safetensors")
    # Trainer leftovers: never on the Hub.
    ckpt = run / "checkpoints" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin"):
        (ckpt / name).write_bytes(b"fake " + name.encode())
    (ckpt / "trainer_state.json").write_text(json.dumps({"output_dir": str(run)}))
    shutil.copy(run / "model.safetensors", ckpt / "model.safetensors")
    (run / "training_args.bin").write_bytes(b"fake training args")
    (run / "trainer_state.json").write_text(json.dumps({"best_model_checkpoint": str(ckpt)}))
    (run / "runs").mkdir()
    (run / "runs" / "events.out.tfevents.1.myhost").write_bytes(b"fake")
    return run


@pytest.fixture
def hub(monkeypatch):
    """A running fake Hub that huggingface_hub points at, online, with a valid token in HF_TOKEN."""
    with FakeHub() as server:
        # huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE at import time (conftest has
        # already imported it offline), so patch its constants rather than the environment.
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(
            constants,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            server.url + "/{repo_id}/resolve/{revision}/{filename}",
        )
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", GOOD_TOKEN)
        yield server


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _predict(model_dir, images: list[Path]) -> list[list[dict]]:
    from transformers import pipeline

    classify = pipeline("image-classification", model=str(model_dir), device="cpu")
    return [classify(str(image), top_k=3) for image in images]


def test_push_uploads_a_loadable_model_and_nothing_private(hub, run_dir, tmp_path, capsys):
    before = _tree_digest(run_dir)
    assert main(["push", str(run_dir), "--repo-id", REPO]) == 0
    out = capsys.readouterr().out
    assert f"pushed {len(EXPECTED_MODEL_FILES)} files" in out
    assert "left out: checkpoints/, runs/, trainer_state.json, training_args.bin" in out

    repo = hub.repo(REPO)
    files = repo.files("main")
    assert set(files) == EXPECTED_MODEL_FILES
    # One commit, one round of preupload: the whole run goes up atomically.
    commits = [r for r in hub.requests if "/commit/" in r.path]
    assert len(commits) == 1 and repo.messages == ["Upload run with hfft"]
    assert files["model.safetensors"] == (run_dir / "model.safetensors").read_bytes()

    # Nothing that was sent contains the token or where the run lives on this machine.
    tmp_root = str(run_dir.parent)
    for request in hub.requests:
        assert GOOD_TOKEN.encode() not in request.body
        assert tmp_root.encode() not in request.body, request.path
    for name, data in files.items():
        assert tmp_root.encode() not in data, name
    # The token went only where it belongs: the Authorization header.
    assert all(r.token == GOOD_TOKEN for r in hub.requests)

    recipe = yaml.safe_load(files["recipe.yaml"])
    assert recipe["training"]["output_dir"] == "run"
    assert recipe["data"]["data_dir"] == "colors"
    assert recipe["model"]["checkpoint"] == "vit-ckpt"
    assert recipe["data"]["path"] == "imagefolder"  # a builder name, not a path: unchanged
    assert recipe["training"]["learning_rate"] == 0.01
    card = files["README.md"].decode()
    assert "base_model" not in card and "datasets" not in card  # local ids the Hub would reject
    assert "tags:\n- hfft" in card
    assert "Fine-tuned from vit-ckpt on colors." in card
    assert f'model="{REPO}"' in card  # the usage snippet now points at the Hub
    adapter = json.loads(files["adapter/adapter_config.json"])
    assert adapter["base_model_name_or_path"] == "vit-ckpt"

    assert _tree_digest(run_dir) == before  # the run directory was not touched

    # Download it back with the real client and check it predicts exactly like the run dir.
    local = snapshot_download(
        REPO, endpoint=hub.url, cache_dir=tmp_path / "cache", token=GOOD_TOKEN
    )
    assert {p.relative_to(local).as_posix() for p in Path(local).rglob("*") if p.is_file()} == (
        EXPECTED_MODEL_FILES
    )
    images = [run_dir / "examples" / "0.png", run_dir / "examples" / "1.png"]
    expected, got = _predict(run_dir, images), _predict(local, images)
    assert [[p["label"] for p in preds] for preds in got] == [
        [p["label"] for p in preds] for preds in expected
    ]
    assert {p["label"] for p in got[0]} == set(LABELS)  # label names, not LABEL_0
    for mine, theirs in zip(got, expected, strict=True):
        assert [p["score"] for p in mine] == pytest.approx([p["score"] for p in theirs], abs=1e-6)


def test_space_is_a_gradio_app_pointed_at_the_model(hub, run_dir):
    space_dir = space_files.SPACE_DIR
    result = push_run(run_dir, REPO, space=True)
    assert result.space_id == REPO and result.space_url == f"{hub.url}/spaces/{REPO}"
    space = hub.repo(REPO, "space")
    files = space.files("main")
    assert space.sdk == "gradio"
    assert space.variables == {"HFFT_MODEL": REPO}
    assert files["app.py"] == (space_dir / "app.py").read_bytes()
    assert files["hfft_model.txt"] == f"{REPO}\n".encode()
    assert not any(name.startswith("examples/") for name in files)  # read from the model repo

    front, body = files["README.md"].decode().split("---\n")[1:3]
    meta = yaml.safe_load(front)
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    # space/README.md's text and front matter are kept, the front matter completed.
    source = (space_dir / "README.md").read_text()
    assert body.strip() and body.strip() in source
    assert meta["title"] == yaml.safe_load(source.split("---\n")[1])["title"]
    assert meta["models"] == [REPO]
    from importlib.metadata import version

    assert meta["sdk_version"] == version("gradio")
    requirements = [
        line for line in files["requirements.txt"].decode().splitlines() if line.strip()
    ]
    assert requirements and all("==" in line or line.startswith("#") for line in requirements)
    assert any(line.startswith("transformers==") for line in requirements)
    assert "+" not in files["requirements.txt"].decode()  # no local build tags (torch+cu128)

    # Re-pushing another model to the same (existing) Space re-points the variable.
    push_run(run_dir, "tester/other-vit", space=True, space_id=REPO)
    assert space.variables == {"HFFT_MODEL": "tester/other-vit"}
    assert space.files("main")["hfft_model.txt"] == b"tester/other-vit\n"


def test_revision_and_private(hub, run_dir):
    push_run(run_dir, REPO, revision="dev", private=True, commit_message="first try")
    repo = hub.repo(REPO)
    assert repo.private
    assert repo.files("main") == {}  # only the branch got the files
    assert set(repo.files("dev")) == EXPECTED_MODEL_FILES
    assert repo.messages == ["first try"]


def test_bare_name_goes_to_the_token_owner(hub, run_dir):
    result = push_run(run_dir, "tiny-vit")
    assert result.repo_id == REPO
    assert set(hub.repo(REPO).files("main")) == EXPECTED_MODEL_FILES


def test_dry_run_lists_files_and_makes_no_request(hub, run_dir, capsys):
    assert main(["push", str(run_dir), "--repo-id", REPO, "--dry-run", "--space"]) == 0
    out = capsys.readouterr().out
    assert hub.requests == []
    assert "dry run: nothing was uploaded." in out
    assert f"would push {len(EXPECTED_MODEL_FILES)} files" in out
    size = (run_dir / "model.safetensors").stat().st_size
    line = next(line for line in out.splitlines() if line.strip().startswith("model.safetensors"))
    assert f"{size / 1000:.1f} kB" in line
    assert "checkpoints" not in out.split("left out:")[0]
    assert "optimizer" not in out and "trainer_state.json" not in out.split("left out:")[0]
    assert f"would push Gradio Space {REPO} with HFFT_MODEL={REPO}" in out
    assert "  app.py" in out and "  requirements.txt" in out


def test_dry_run_works_offline(run_dir, capsys):
    """conftest keeps HF_HUB_OFFLINE=1: a dry run needs no network and no token."""
    assert main(["push", str(run_dir), "--repo-id", REPO, "--dry-run"]) == 0
    assert "recipe.yaml" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("bad-token", "rejected your token (401 Unauthorized)"),
        ("no-permission", "may not write to someone-else/tiny-vit (403 Forbidden)"),
        ("read-only", "may not write to tester/tiny-vit (403 Forbidden)"),
        ("no-token", "no Hugging Face token found: run `hf auth login`"),
        ("unreachable", "cannot reach the Hub at http://127.0.0.1:"),
        ("offline", "unset HF_HUB_OFFLINE to push"),
    ],
)
def test_errors_are_one_line(hub, run_dir, monkeypatch, capsys, case, expected):
    repo_id = REPO
    if case == "bad-token":
        monkeypatch.setenv("HF_TOKEN", "hf_not_a_valid_token")
    elif case == "no-permission":
        repo_id = "someone-else/tiny-vit"
    elif case == "read-only":
        hub.read_only.add(GOOD_TOKEN)
    elif case == "no-token":
        monkeypatch.delenv("HF_TOKEN")
    elif case == "unreachable":
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{_free_port()}")
    elif case == "offline":
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    assert main(["push", str(run_dir), "--repo-id", repo_id]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("hfft: error: ") and expected in lines[0]
    assert "Traceback" not in captured.err and GOOD_TOKEN not in captured.err + captured.out
    # Nothing was committed: at most the empty initial commit of a repo created before the error.
    assert all(len(repo.commits) <= 1 for repo in hub.repos.values())
    if case in ("no-token", "offline", "unreachable"):
        assert hub.requests == []


def test_unfinished_run_is_refused(hub, tmp_path, capsys):
    run = tmp_path / "crashed"
    (run / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    assert main(["push", str(run), "--repo-id", REPO]) == 2
    err = capsys.readouterr().err
    assert "is not a finished run: no config.json and no model weights" in err
    assert hub.requests == []


def test_a_file_holding_the_token_is_refused(hub, run_dir, tmp_path, capsys):
    run = shutil.copytree(run_dir, tmp_path / "run")
    (run / "notes.txt").write_text(f"export HF_TOKEN={GOOD_TOKEN}\n")
    assert main(["push", str(run), "--repo-id", REPO]) == 2
    err = capsys.readouterr().err
    assert "refusing to push: notes.txt line 1 contains your Hugging Face token" in err
    assert GOOD_TOKEN not in err
    assert hub.requests == []


# Someone else's token (not the one in use) and other people's home folders: refused all the same.
# Another user's home folder, as a recipe or notes file might quote it (assembled so that this
# file holds no machine path itself).
SOMEONES_HOME = "/".join(("", "home", "alice"))
ROOTS_HOME = "/".join(("", "root"))  # assembled: no machine path spelled out in a tracked file
OTHER_TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "notes.txt",
            f"trained by me\ntoken: {OTHER_TOKEN}\n",
            "notes.txt line 2 contains a Hugging Face token (hf_...)",
        ),
        (
            "notes.md",
            f"data in {SOMEONES_HOME}/datasets/train.csv\n",
            "notes.md line 1 contains a local path under a home directory (/home/alice...)",
        ),
        (
            "extra.json",
            '{"dir": "' + ROOTS_HOME + '/runs/vit"}',
            "extra.json line 1 contains a local path under a home directory (/root...)",
        ),
        (
            "extra.json",
            '{\n"dir":\n"/Users/bob/runs"}',
            "extra.json line 3 contains a local path under a home directory (/Users/bob...)",
        ),
        (
            "extra.json",
            '{"dir": "C:\\\\Users\\\\carol\\\\runs"}',
            "extra.json line 1 contains a local path under a home directory (C:\\Users\\carol...)",
        ),
    ],
)
def test_any_token_or_home_path_is_refused_whoever_it_belongs_to(hub, run_dir, tmp_path, monkeypatch, capsys, name, content, expected):  # fmt: skip
    # Another home than every path above: none of them is this user's, so none is rewritten.
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    run = shutil.copytree(run_dir, tmp_path / "run")
    (run / name).write_text(content)
    assert main(["push", str(run), "--repo-id", REPO]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"hfft: error: refusing to push: {expected}; remove it from the file (the run directory "
        "is never edited by hfft) and push again"
    ]
    assert OTHER_TOKEN not in err
    assert hub.requests == []
    # --dry-run checks the same, offline.
    assert main(["push", str(run), "--repo-id", REPO, "--dry-run"]) == 2
    assert expected in capsys.readouterr().err


def test_leak_guard_spares_urls_identifiers_and_vocabularies(tmp_path):
    from hfft.leak_guard import LeakGuard

    guard = LeakGuard(tmp_path / "run", token=None)
    guard.check("README.md", b"https://example.org/home/alice/page, hf_hub_download, /srv/data")
    guard.check("vocab.txt", b"[PAD]\n/home/user\n")  # a code model's token, not a path here
    with pytest.raises(Exception, match="image.png contains a Hugging Face token"):
        guard.check_binary(
            "image.png", _write(tmp_path / "x.png", b"\x89PNG\0" + OTHER_TOKEN.encode())
        )


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_pin_requirements_pins_only_bare_names():
    from importlib.metadata import version

    pinned = space_files.pin_requirements("transformers\npillow>=9\n# comment\nnot-installed-pkg\n")
    assert pinned.splitlines() == [
        f"transformers=={version('transformers')}",
        "pillow>=9",
        "# comment",
        "not-installed-pkg",
    ]


def test_recipe_secrets_are_dropped_and_hunted(hub, run_dir, tmp_path, capsys):
    """A token in the recipe (TrainingArguments' hub_token) never leaves: the published
    recipe.yaml drops it, and any other file still holding it is refused."""
    run = shutil.copytree(run_dir, tmp_path / "run")
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    secret = "hf_" + "x" * 30
    recipe["training"]["hub_token"] = secret
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))

    push_run(run, REPO)
    published = hub.repo(REPO).files("main")["recipe.yaml"]
    assert secret.encode() not in published
    assert yaml.safe_load(published)["training"]["learning_rate"] == 0.01

    (run / "notes.txt").write_text(f"pushed with {secret}\n")
    assert main(["push", str(run), "--repo-id", REPO]) == 2
    err = capsys.readouterr().err
    assert (
        "notes.txt line 1 contains a token-like value from recipe.yaml" in err and secret not in err
    )


def test_a_failed_space_says_the_model_was_pushed(hub, run_dir, capsys):
    hub.spaces_need_payment = True
    assert main(["push", str(run_dir), "--repo-id", REPO, "--space"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"hfft: error: the model was pushed to {hub.url}/{REPO}, but the Space")
    assert "(402): A subscription is required" in err
    assert set(hub.repo(REPO).files("main")) == EXPECTED_MODEL_FILES
    assert ("space", REPO) not in hub.repos


@pytest.mark.slow
def test_a_real_lora_run_round_trips(hub, bert_checkpoint, text_csv, tmp_path):
    """`hfft train` with hub.push (tiny BERT, LoRA) -> snapshot_download -> same predictions."""
    from transformers import pipeline

    from hfft.recipe import load_recipe
    from hfft.run import train

    out = tmp_path / "runs" / "bert-lora"
    raw = {
        "task": "text-classification",
        "model": {"checkpoint": str(bert_checkpoint), "mode": "lora", "lora": {"r": 4}},
        "data": {
            "path": "csv",
            "data_files": str(text_csv),
            "columns": {"text": "sentence", "label": "sentiment"},
            "test_fraction": 0.25,
        },
        "training": {"output_dir": str(out), "num_train_epochs": 1, "use_cpu": True},
        # The recipe pushes when training ends (preflight checks token and repo first).
        "hub": {"repo_id": "tester/bert-lora", "push": True},
    }
    train(load_recipe(raw))
    assert (out / "checkpoints").is_dir()

    files = hub.repo("tester/bert-lora").files("main")
    assert {"README.md", "config.json", "model.safetensors", "recipe.yaml", "metrics.json"} <= set(
        files
    )
    assert "examples/examples.json" in files and any(f.startswith("adapter/") for f in files)
    assert not any(f.startswith("checkpoints/") or "optimizer" in f for f in files)
    for name, data in files.items():
        assert str(tmp_path).encode() not in data, name
    assert 'model="tester/bert-lora"' in files["README.md"].decode()  # usage points at the Hub

    local = snapshot_download("tester/bert-lora", endpoint=hub.url, cache_dir=tmp_path / "cache")
    texts = [e["input"] for e in json.loads(files["examples/examples.json"])]
    expected = pipeline("text-classification", model=str(out), device="cpu")(texts, top_k=None)
    got = pipeline("text-classification", model=local, device="cpu")(texts, top_k=None)
    assert [[p["label"] for p in row] for row in got] == [
        [p["label"] for p in row] for row in expected
    ]
    for mine, theirs in zip(got, expected, strict=True):
        assert [p["score"] for p in mine] == pytest.approx([p["score"] for p in theirs], abs=1e-6)
