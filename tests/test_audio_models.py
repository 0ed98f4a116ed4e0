"""Audio architectures in every mode (tiny wav2vec2, HuBERT, WavLM, AST and Whisper-encoder
configs): which parameters train, the conv feature encoder frozen where it should be, LoRA's
auto targets, Whisper's window cut to data.max_duration, sliding-window score averaging, and
telling an audio model from a text one by its config."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hfft import modes
from hfft.recipe import load_recipe
from hfft.run import _load_model_in_mode, train
from hfft.tasks import TASKS, task_of_config
from tests import tiny

TASK = TASKS["audio-classification"]
ARCHS = ("wav2vec2", "hubert", "wavlm", "ast", "whisper")
# The parameters of each architecture's feature encoder (conv layers / patch embeddings).
FEATURE_ENCODER = {
    "wav2vec2": "wav2vec2.feature_extractor.",
    "hubert": "hubert.feature_extractor.",
    "wavlm": "wavlm.feature_extractor.",
    "ast": "audio_spectrogram_transformer.embeddings.",
    "whisper": "encoder.conv",
}
BLOCKS = {
    "wav2vec2": "wav2vec2.encoder.layers",
    "hubert": "hubert.encoder.layers",
    "wavlm": "wavlm.encoder.layers",
    "ast": "audio_spectrogram_transformer.layers",
    "whisper": "encoder.layers",
}
HEAD = {"ast": ("classifier.",)}  # the others: projector + classifier
MODES = {
    "full": {"mode": "full"},
    "freeze_layers": {"mode": "full", "freeze_layers": 1},
    "frozen": {"mode": "frozen"},
    "lora": {"mode": "lora", "lora": {"r": 4, "alpha": 8}},
}


def recipe_for(checkpoint: Path, data: Path, out: Path, model: dict, **data_options) -> object:
    return load_recipe(
        {
            "task": "audio-classification",
            "model": {"checkpoint": str(checkpoint), **model},
            "data": {"path": "audiofolder", "data_dir": str(data), **data_options},
            "early_stopping": {"patience": None},
            "training": {
                "output_dir": str(out),
                "num_train_epochs": 1,
                "per_device_train_batch_size": 4,
                "learning_rate": 1e-2,
                "use_cpu": True,
                "save_strategy": "no",
                "load_best_model_at_end": False,
            },
        }
    )


def in_mode(arch: str, mode: str, tmp_path: Path):
    checkpoint = tiny.make_audio_checkpoint(tmp_path / arch, arch)
    recipe = recipe_for(checkpoint, tmp_path, tmp_path / "run", MODES[mode])
    processor = TASK.modality.load_processor(str(checkpoint), {})
    return _load_model_in_mode(TASK, recipe, ["high", "low", "mid"], processor)


def trainable(model) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("arch", ARCHS)
def test_anatomy_and_lora_auto_targets(arch, tmp_path):
    model = in_mode(arch, "full", tmp_path)
    parts = modes.anatomy(model)
    assert parts.blocks_prefix == BLOCKS[arch] and parts.num_blocks == 2
    assert parts.head == (["classifier"] if arch == "ast" else ["projector", "classifier"])
    pattern = re.compile(modes.lora_target_modules(model))
    targeted = {name for name, _ in model.named_modules() if pattern.fullmatch(name)}
    expected = {
        name
        for name, _ in model.named_modules()
        if name.startswith(BLOCKS[arch] + ".") and name.rsplit(".", 1)[-1] in ("q_proj", "v_proj")
    }
    assert targeted == expected and len(targeted) == 4  # q and v in each of the 2 blocks


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("arch", ARCHS)
def test_which_parameters_train_in_each_mode(arch, mode, tmp_path):
    model = in_mode(arch, mode, tmp_path)
    names = trainable(model)
    head = HEAD.get(arch, ("projector.", "classifier."))
    encoder = {n for n, _ in model.named_parameters() if FEATURE_ENCODER[arch] in n}
    assert encoder, "the feature encoder's parameters were not found"
    if mode == "full":
        assert names == {n for n, _ in model.named_parameters()} - {
            "encoder.embed_positions.weight"  # Whisper's fixed sinusoids never train
        }
        return
    assert not names & encoder, f"{mode}: the feature encoder trains"
    assert any(n.startswith(head) or f".{head[0]}modules_to_save" in n for n in names)
    if mode == "frozen":
        assert all(n.startswith(head) for n in names), sorted(names)
    elif mode == "freeze_layers":
        assert not any(n.startswith(BLOCKS[arch] + ".0.") for n in names)
        assert any(n.startswith(BLOCKS[arch] + ".1.") for n in names)
    else:  # lora: adapters on the attention query/value projections, and the new head
        adapters = {n for n in names if "lora_" in n}
        assert adapters and all(("q_proj" in n or "v_proj" in n) for n in adapters)
        assert all("lora_" in n or "modules_to_save" in n for n in names), sorted(names)


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("arch", ("hubert", "ast", "whisper"))
def test_training_changes_exactly_what_the_mode_trains(arch, mode, tmp_path):
    data = tiny.make_audio_folder(tmp_path / "tones", per_class=3)
    checkpoint = tiny.make_audio_checkpoint(tmp_path / arch, arch)
    result = train(recipe_for(checkpoint, data, tmp_path / "run", MODES[mode]))
    before = load_file(str(checkpoint / "model.safetensors"))
    after = load_file(str(result.run_dir / "model.safetensors"))
    head = HEAD.get(arch, ("projector.", "classifier."))
    backbone = [k for k in before if not k.startswith(head)]
    changed = {k for k in backbone if not torch.equal(before[k], after[k])}
    encoder = {k for k in backbone if FEATURE_ENCODER[arch] in k}
    if mode == "full":
        assert changed & encoder, "full fine-tuning left the feature encoder as it was"
    else:
        assert not changed & encoder, f"{mode}: the feature encoder changed"
    if mode == "frozen":
        assert not changed
    if mode == "freeze_layers":
        assert not any(k.startswith(BLOCKS[arch] + ".0.") for k in changed)


def test_a_frozen_feature_encoder_is_skipped_by_backward(tmp_path):
    model = in_mode("wav2vec2", "freeze_layers", tmp_path)
    model.train()
    seen = []
    model.wav2vec2.feature_extractor.register_forward_hook(
        lambda module, args, out: seen.append(out.requires_grad)
    )
    out = model(input_values=torch.randn(2, 4000), labels=torch.tensor([0, 1]))
    out.loss.backward()
    assert seen == [False]  # no graph through the frozen convolutions
    assert model.classifier.weight.grad is not None


def test_whisper_window_is_cut_to_max_duration_and_the_run_loads_in_a_pipeline(tmp_path):
    from transformers import AutoFeatureExtractor, pipeline

    from hfft.predict import predict

    data = tiny.make_audio_folder(tmp_path / "tones", per_class=3)
    # A 30 s window (1,500 encoder positions), as the real Whisper checkpoints have.
    checkpoint = tiny.make_audio_checkpoint(tmp_path / "whisper", "whisper", window_seconds=30)
    full_table = load_file(str(checkpoint / "model.safetensors"))["encoder.embed_positions.weight"]
    assert full_table.shape[0] == 1500
    recipe = recipe_for(checkpoint, data, tmp_path / "run", {"mode": "lora"}, max_duration=1.0)
    run = train(recipe).run_dir
    config = json.loads((run / "config.json").read_text())
    assert config["max_source_positions"] == 50
    saved = load_file(str(run / "model.safetensors"))["encoder.embed_positions.weight"]
    torch.testing.assert_close(saved, full_table[:50], rtol=0, atol=0)  # the same sinusoids
    extractor = AutoFeatureExtractor.from_pretrained(run)
    assert (extractor.chunk_length, extractor.n_samples) == (1, 16000)
    features = extractor(tiny.tone(440, 0.4), sampling_rate=16000, return_tensors="pt")
    assert features["input_features"].shape == (1, 16, 100)  # 1 s of 10 ms frames, not 30 s
    scores = pipeline("audio-classification", model=str(run))(
        {"raw": tiny.tone(440, 3.0), "sampling_rate": 16000}
    )
    assert {s["label"] for s in scores} == {"high", "low", "mid"}
    (line,) = predict(str(run), [str(next((data / "train" / "low").iterdir()))], top_k=1)
    assert "predictions" in line


def test_sliding_windows_average_the_class_scores(tmp_path):
    from hfft.tasks.audio_models import average_windows

    model = in_mode("wav2vec2", "full", tmp_path).eval()
    clips = torch.randn(5, 4000)
    with torch.no_grad():
        per_window = model(input_values=clips).logits.softmax(-1)
        average_windows(model, TASK.labels.head_loss)
        average_windows(model, TASK.labels.head_loss)  # idempotent
        out = model(
            input_values=clips, window_counts=torch.tensor([2, 3]), labels=torch.tensor([0, 2])
        )
    expected = torch.stack([per_window[:2].mean(0), per_window[2:].mean(0)])
    torch.testing.assert_close(out.logits.softmax(-1), expected)
    loss = torch.nn.functional.nll_loss(expected.log(), torch.tensor([0, 2]))
    torch.testing.assert_close(out.loss, loss)
    with torch.no_grad():  # a batch without window counts (training) is the model's own
        assert model(input_values=clips).logits.shape == (5, 3)


@pytest.mark.slow
def test_sliding_window_evaluation_runs_through_train_and_hfft_eval(tmp_path):
    from hfft.eval_run import evaluate_run

    data = tiny.make_audio_folder(tmp_path / "tones", per_class=4)
    checkpoint = tiny.make_audio_checkpoint(tmp_path / "ckpt", "wav2vec2")
    recipe = recipe_for(
        checkpoint, data, tmp_path / "run", {"mode": "full"},
        max_duration=0.2, eval_windows="sliding", test_fraction=0.25,
    )  # fmt: skip
    result = train(recipe)
    again = evaluate_run(result.run_dir, split="test")
    assert again["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])


@pytest.mark.slow
def test_frozen_ast_without_random_inputs_caches_its_features(tmp_path, caplog):
    import logging

    data = tiny.make_audio_folder(tmp_path / "tones", per_class=3)
    checkpoint = tiny.make_audio_checkpoint(tmp_path / "ast", "ast")
    recipe = recipe_for(
        checkpoint, data, tmp_path / "run", {"mode": "frozen"},
        augmentation={"enabled": False}, train_crop="center",
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="hfft"):
        cached = train(recipe).run_dir
    assert "caching frozen-backbone features: frozen backbone and fixed inputs" in caplog.text
    plain = recipe_for(
        checkpoint, data, tmp_path / "plain", {"mode": "frozen", "cache_features": False},
        augmentation={"enabled": False}, train_crop="center",
    )  # fmt: skip
    plain_dir = train(plain).run_dir
    a = load_file(str(cached / "model.safetensors"))
    b = load_file(str(plain_dir / "model.safetensors"))
    for key in ("classifier.dense.weight", "classifier.dense.bias"):
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)  # the same head


def test_an_audio_model_is_told_from_a_text_one_by_its_config():
    wav2vec2 = {"model_type": "wav2vec2", "architectures": ["Wav2Vec2ForSequenceClassification"]}
    whisper = {"model_type": "whisper", "architectures": ["WhisperForAudioClassification"]}
    bert = {"model_type": "bert", "architectures": ["BertForSequenceClassification"]}
    assert task_of_config(wav2vec2).name == "audio-classification"
    assert task_of_config(whisper).name == "audio-classification"
    assert task_of_config(bert).name == "text-classification"
    assert task_of_config({"architectures": ["ASTForAudioClassification"]}).name == (
        "audio-classification"
    )


def test_random_inputs_rule_out_the_feature_cache(tmp_path):
    from hfft.feature_cache import cache_decision

    model = in_mode("ast", "frozen", tmp_path)
    recipe = recipe_for(tmp_path, tmp_path, tmp_path / "r", {"mode": "frozen"})
    use, why = cache_decision(recipe, model)
    assert not use
    assert why == (
        "augmentation changes the inputs every epoch (data.augmentation.enabled); clips longer "
        "than data.max_duration get a new random crop every epoch (data.train_crop=random)"
    )
    windows = recipe_for(
        tmp_path, tmp_path, tmp_path / "r", {"mode": "frozen"},
        augmentation={"enabled": False}, train_crop="center", eval_windows="sliding",
    )  # fmt: skip
    assert cache_decision(windows, model) == (
        False,
        "sliding-window evaluation feeds several windows per clip",
    )
