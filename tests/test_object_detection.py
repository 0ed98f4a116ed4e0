"""Object detection: box formats, the box check, the preview, the metrics, predict."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from hfft.errors import DataError
from hfft.tasks.box_formats import FORMATS, from_corners, to_corners
from hfft.tasks.boxes import BOXES
from tests.tiny_boxes import (
    SIZE,
    box_data,
    detector_processor,
    make_box_folder,
    make_detector_checkpoint,
)

CORNERS = np.array([[4.0, 6.0, 20.0, 30.0], [30.0, 10.0, 60.0, 18.0]])


def _split(tmp_path: Path, boxes: list, categories: list, size: int = SIZE) -> datasets.Dataset:
    files = []
    for i in range(len(boxes)):
        file = tmp_path / f"{i}.png"
        Image.new("RGB", (size, size), "grey").save(file)
        files.append(str(file))
    rows = {"image": files, "label": [{"bbox": b, "category": c}
                                      for b, c in zip(boxes, categories, strict=True)]}  # fmt: skip
    return datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())


def _spec(fmt: str = "coco", clip: bool = False) -> SimpleNamespace:
    return SimpleNamespace(bbox_format=fmt, clip_boxes=clip)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_box_format_converts_to_the_same_boxes(fmt, tmp_path):
    written = from_corners(CORNERS, fmt, SIZE, SIZE).tolist()
    ds = _split(tmp_path, [written], [["a", "b"]])
    reason, out = BOXES.resolve({"train": ds}, _spec(fmt))
    assert reason == f"{fmt} boxes"
    np.testing.assert_allclose(out["train"][0]["label"]["bbox"], CORNERS, atol=1e-4)
    names, encoded = BOXES.encode(out)
    assert names == ["a", "b"] and encoded["train"][0]["label"]["category"] == [0, 1]


def test_an_out_of_image_box_is_listed_by_image_and_index(tmp_path):
    boxes = [[[1, 1, 10, 10]], [[2, 2, 5, 5], [50, 40, 30, 10]]]  # row 1 box 1 ends at x=80
    ds = _split(tmp_path, boxes, [["a"], ["a", "b"]])
    with pytest.raises(DataError) as err:
        BOXES.resolve({"train": ds}, _spec("coco"))
    message = str(err.value)
    assert message.startswith("1 unusable box(es) as data.bbox_format coco: train row 1 (")
    assert "1.png) box 1 [50, 40, 30, 10] lies outside the 64x64 image" in message
    assert message.endswith("or set data.clip_boxes: true to clip them to the image")


def test_a_box_of_no_area_is_listed_and_a_format_slip_is_named(tmp_path):
    ds = _split(tmp_path, [[[10, 10, 0, 5]]], [["a"]])
    with pytest.raises(
        DataError, match=r"train row 0 \(.*0.png\) box 0 \[10, 10, 0, 5\] has no area"
    ):
        BOXES.resolve({"train": ds}, _spec("coco"))
    # pascal_voc corners read as COCO: x + width leaves the image; as pascal_voc they all fit.
    ds = _split(tmp_path, [[[30, 30, 60, 62]]], [["a"]])
    with pytest.raises(DataError) as err:
        BOXES.resolve({"train": ds}, _spec("coco"))
    assert "every box fits its image as pascal_voc (x_min, y_min, x_max, y_max in pixels): is " \
           "data.bbox_format pascal_voc?" in str(err.value)  # fmt: skip


def test_clip_boxes_clips_and_counts(tmp_path, caplog):
    ds = _split(tmp_path, [[[50, 40, 30, 10], [70, 70, 5, 5], [1, 1, 4, 4]]], [["a", "b", "a"]])
    with caplog.at_level(logging.WARNING, logger="hfft"):
        _, out = BOXES.resolve({"train": ds}, _spec("coco", clip=True))
    label = out["train"][0]["label"]
    np.testing.assert_allclose(label["bbox"], [[50, 40, 64, 50], [1, 1, 5, 5]])
    assert label["category"] == ["a", "a"]  # the box wholly outside went, with its category
    assert "train split: 1 of 3 box(es) clipped to their image, 1 dropped" in caplog.text


def test_class_label_ids_keep_their_names_and_order(tmp_path):
    ds = _split(tmp_path, [[[1, 1, 5, 5], [9, 9, 5, 5]]], [[1, 0]])
    kind = datasets.ClassLabel(names=["zebra", "apple"])
    ds = ds.cast_column("label", datasets.Features(
        {"bbox": datasets.List(datasets.List(datasets.Value("float32"))),
         "category": datasets.List(kind)}))  # fmt: skip
    _, out = BOXES.resolve({"train": ds}, _spec())
    names, encoded = BOXES.encode(out)
    assert names == ["zebra", "apple"] and encoded["train"][0]["label"]["category"] == [1, 0]


def _coco_folder(tmp_path: Path) -> Path:
    """The shapes imagefolder rewritten as a COCO annotations.json beside its images."""
    folder = make_box_folder(tmp_path / "shapes", rows=6) / "train"
    images, annotations, names = [], [], ["bar", "square"]
    for i, line in enumerate((folder / "metadata.jsonl").read_text().splitlines()):
        row = json.loads(line)
        images.append({"id": i, "file_name": row["file_name"], "width": SIZE, "height": SIZE})
        for box, name in zip(row["objects"]["bbox"], row["objects"]["category"], strict=True):
            annotations.append({"id": len(annotations), "image_id": i, "bbox": box,
                                "category_id": names.index(name) + 1, "iscrowd": 0})  # fmt: skip
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}  # fmt: skip
    (folder / "annotations.json").write_text(json.dumps(coco))
    return folder


def test_a_coco_annotations_file_reads_like_the_imagefolder(tmp_path):
    from hfft.data import load_data
    from hfft.recipe import load_recipe
    from hfft.tasks import TASKS

    folder = _coco_folder(tmp_path)

    def loaded(data: dict) -> list:
        recipe = load_recipe({"task": "object-detection", "model": {"checkpoint": "x"},
                              "data": {**data, "validation_fraction": 0.5},
                              "training": {"output_dir": "run"}})  # fmt: skip
        out = load_data(recipe.data, TASKS["object-detection"])
        rows = [*out.splits["train"], *out.splits["validation"]]
        return sorted((r["label"]["bbox"], [out.label_names[c] for c in r["label"]["category"]])
                      for r in rows)  # fmt: skip

    coco = loaded({"path": str(folder / "annotations.json")})
    assert coco == loaded({"path": "imagefolder", "data_dir": str(folder)})
    assert coco == loaded({"path": "coco", "data_files": str(folder / "annotations.json")})


def _loaded(tmp_path: Path, augmentation: bool = False):
    from hfft.data import load_data
    from hfft.recipe import load_recipe
    from hfft.tasks import TASKS

    data = {**box_data(tmp_path), "augmentation": {"enabled": augmentation}}
    recipe = load_recipe({"task": "object-detection", "model": {"checkpoint": "x"}, "data": data,
                          "training": {"output_dir": str(tmp_path / "run")}})  # fmt: skip
    task = TASKS["object-detection"]
    return recipe, task, load_data(recipe.data, task)


def test_the_preview_draws_each_box_where_its_object_is(tmp_path):
    from hfft.tasks.box_drawing import TILE, colour
    from hfft.tasks.object_detection import write_preview

    recipe, task, data = _loaded(tmp_path)
    processor = detector_processor("detr")
    prepared = task.prepare(data.splits, processor, recipe)
    path = write_preview(prepared, processor, data.label_names, tmp_path / "preview.png")
    sheet = np.asarray(Image.open(path).convert("RGB")).astype(int)
    first = data.splits["train"][0]["label"]
    scale = TILE / SIZE
    for (x0, y0, x1, y1), c in zip(first["bbox"], first["category"], strict=True):
        # the box's top edge, in the first tile (4 px margin, 22 px title line)
        row = 22 + round(y0 * scale) + 1
        edge = sheet[row, 4 + round(x0 * scale) + 4 : 4 + round(x1 * scale) - 4]
        share = np.mean(np.all(np.abs(edge - colour(c)) < 30, axis=1))
        assert share > 0.9, (data.label_names[c], share)
        # ... and inside it, the object's own colour (a drawn box around the object)
        inside = sheet[22 + round((y0 + y1) / 2 * scale), 4 + round((x0 + x1) / 2 * scale)]
        from tests.tiny_boxes import COLOURS

        assert np.all(np.abs(inside - COLOURS[data.label_names[c]]) < 40)


def test_augmentation_keeps_boxes_on_their_objects(tmp_path):
    """Flipped, zoomed and cropped: the augmented boxes still frame the object's pixels."""
    from hfft.tasks.detection_images import BoxAugmentationSpec, box_augmentation
    from tests.tiny_boxes import COLOURS, shapes_scene

    augment = box_augmentation(BoxAugmentationSpec(color_jitter=0.0, crop_probability=1.0))
    torch.manual_seed(0)
    pixels, boxes, _ = shapes_scene(np.random.default_rng(3))
    corners = to_corners(boxes, "coco", SIZE, SIZE)
    for _ in range(10):
        image, out, _ = augment(pixels, corners, [0] * len(boxes))
        for x0, y0, x1, y1 in out:
            centre = image[int((y0 + y1) / 2), int((x0 + x1) / 2)]
            assert any(np.all(np.abs(centre.astype(int) - c) < 40) for c in COLOURS.values())


def test_map_equals_torchmetrics_on_fixed_predictions():
    from torchmetrics.detection import MeanAveragePrecision

    from hfft.tasks.boxes_metrics import build_metrics

    metrics = build_metrics([], ["a", "b"])
    canvas = torch.tensor([100.0, 200.0])  # height, width of the canvas in pixels
    # two images, 3 queries, DETR-style logits (one more class: "no object")
    logits = torch.tensor([[[5.0, 0, 0], [0, 4, 0], [0, 0, 6]], [[0, 3, 0], [2, 0, 0], [0, 0, 9]]])
    boxes = torch.tensor(
        [
            [[0.2, 0.3, 0.1, 0.2], [0.6, 0.5, 0.2, 0.2], [0.5, 0.5, 0.1, 0.1]],
            [[0.4, 0.4, 0.3, 0.3], [0.8, 0.2, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1]],
        ]
    )
    labels = [{"class_labels": torch.tensor([0, 1]), "hfft_canvas": canvas,
               "hfft_boxes": torch.tensor([[20.0, 20, 60, 40], [100, 40, 140, 60]])},
              {"class_labels": torch.tensor([1]), "hfft_canvas": canvas,
               "hfft_boxes": torch.tensor([[50.0, 25, 110, 55]])}]  # fmt: skip
    entry, _ = metrics.report([(logits, boxes)], [labels])
    reference = MeanAveragePrecision(box_format="cxcywh", class_metrics=True)
    scale = torch.tensor([200.0, 100, 200, 100])
    probs = logits.softmax(-1)[..., :-1]
    reference.update(
        [{"boxes": b * scale, "scores": p.max(-1).values, "labels": p.argmax(-1)}
         for b, p in zip(boxes, probs, strict=True)],
        [{"boxes": torch.cat([(t["hfft_boxes"][:, :2] + t["hfft_boxes"][:, 2:]) / 2,
                              t["hfft_boxes"][:, 2:] - t["hfft_boxes"][:, :2]], 1),
          "labels": t["class_labels"]} for t in labels],
    )  # fmt: skip
    expected = reference.compute()
    for name in ("map", "map_50", "map_75", "map_small"):
        assert entry[name] == pytest.approx(float(expected[name]), abs=1e-6), name
    assert entry["map_50"] >= 0.5 and entry["map_large"] is None  # no large object: no AP
    assert entry["per_class"]["a"]["ap"] == pytest.approx(float(expected["map_per_class"][0]))
    assert entry["per_class"]["b"]["boxes"] == 2


@pytest.mark.parametrize("model_type", ["detr", "rt_detr"])
def test_decoding_matches_the_image_processor(model_type):
    """Box decoding for the metrics is what the processor's post-processing gives."""
    from transformers.utils import ModelOutput

    from hfft.tasks.boxes_metrics import decode

    torch.manual_seed(0)
    classes = 3 if model_type == "detr" else 2  # DETR: one more logit ("no object")
    logits, boxes = torch.randn(1, 8, classes), torch.rand(1, 8, 4) * 0.5 + 0.25
    ours = decode(logits[0], boxes[0], 2, torch.tensor([60.0, 90.0]))
    theirs = detector_processor(model_type).post_process_object_detection(
        ModelOutput(logits=logits, pred_boxes=boxes), threshold=0.0, target_sizes=[(60, 90)]
    )[0]
    order = theirs["scores"].argsort(descending=True)
    np.testing.assert_allclose(ours["scores"], theirs["scores"][order], atol=1e-5)
    np.testing.assert_allclose(ours["boxes"], theirs["boxes"][order], atol=1e-3)
    assert ours["labels"].tolist() == theirs["labels"][order].tolist()


def _train(tmp_path: Path, model_type: str, mode: str, **model: object):
    from hfft.recipe import load_recipe
    from hfft.run import train

    checkpoint = make_detector_checkpoint(tmp_path / "ckpt", model_type)
    recipe = load_recipe({
        "task": "object-detection",
        "model": {"checkpoint": str(checkpoint), "mode": mode, **model},
        "data": box_data(tmp_path / "data"),
        "early_stopping": {"patience": None},
        "training": {"output_dir": str(tmp_path / "run"), "num_train_epochs": 1,
                     "per_device_train_batch_size": 4, "learning_rate": 1e-2, "use_cpu": True,
                     "save_strategy": "no", "eval_strategy": "no",
                     "load_best_model_at_end": False},
    })  # fmt: skip
    return checkpoint, train(recipe)


def _changed(checkpoint: Path, run: Path) -> dict[str, bool]:
    from safetensors.torch import load_file

    before = load_file(str(checkpoint / "model.safetensors"))
    after = load_file(str(run / "model.safetensors"))
    return {k: not torch.equal(before[k], after[k]) for k in before if k in after}


def _any(changed: dict[str, bool], prefix: str) -> bool:
    return any(v for k, v in changed.items() if k.startswith(prefix))


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["detr", "yolos"])
@pytest.mark.parametrize("mode", ["full", "frozen", "freeze_layers", "lora"])
def test_every_mode_trains_what_it_says(model_type, mode, tmp_path):
    extra = {"freeze_layers": 1} if mode == "freeze_layers" else {}
    checkpoint, result = _train(tmp_path, model_type, "full" if extra else mode, **extra)
    changed = _changed(checkpoint, result.run_dir)
    heads = ("class_labels_classifier.", "bbox_predictor.")
    assert all(_any(changed, h) for h in heads), "the detection head did not train"
    if model_type == "detr":
        features, transformer = "model.backbone.", ("model.encoder.", "model.decoder.")
        first, later = "model.encoder.layers.0.", "model.decoder.layers.0."
    else:
        features, transformer = "vit.", ("vit.encoder.",)
        first, later = "vit.encoder.layer.0.", "vit.encoder.layer.1."
    if mode == "full":
        assert _any(changed, features) and all(_any(changed, t) for t in transformer)
    elif mode == "frozen":  # the feature extractor stays; a DETR's encoder/decoder train
        assert not _any(changed, features)
        assert all(_any(changed, t) for t in transformer) == (model_type == "detr")
    elif mode == "freeze_layers":
        assert not _any(changed, first) and _any(changed, later)
        frozen_embeddings = "model.input_projection." if model_type == "detr" else "vit.embeddings."
        assert not _any(changed, frozen_embeddings)
    else:  # lora: adapters on the transformer's attention, merged; the CNN/patches untouched
        assert (result.run_dir / "adapter").is_dir()
        q = [k for k, v in changed.items() if v and ("q_proj" in k or "query" in k)]
        assert q and not _any(changed, "model.backbone." if model_type == "detr" else
                              "vit.embeddings.")  # fmt: skip


@pytest.mark.slow
def test_pipeline_loads_the_run_and_predict_gives_boxes(tmp_path):
    from transformers import pipeline

    from hfft.errors import HfftError
    from hfft.predict import predict

    _, result = _train(tmp_path, "detr", "full")
    run = result.run_dir
    image = str(tmp_path / "data" / "shapes" / "train" / "0.png")
    boxes = pipeline("object-detection", model=str(run))(image, threshold=0.0)
    assert boxes and {"score", "label", "box"} <= set(boxes[0])
    assert boxes[0]["label"] in ("bar", "square")
    (line,) = predict(str(run), [image], threshold=0.0)
    assert len(line["predictions"]) == len(boxes)
    first = line["predictions"][0]
    assert first["score"] == max(b["score"] for b in boxes) and len(first["box"]) == 4
    (none,) = predict(str(run), [image], threshold=1.0)
    assert none["predictions"] == []
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    assert set(metrics) >= {"map", "map_50", "map_75", "map_small", "per_class"}
    card = (run / "README.md").read_text()
    assert (
        "![Predicted boxes](predicted_boxes.png)" in card
        and "pipeline_tag: object-detection" in card
    )
    assert (run / "box_preview.png").is_file() and (run / "predicted_boxes.png").is_file()
    with pytest.raises(HfftError, match="--threshold sets the score a detector's box needs"):
        from tests.tiny import make_image_checkpoint

        list(predict(str(make_image_checkpoint(tmp_path / "cls")), [image], threshold=0.5))


def test_class_layers_inside_the_base_model_are_the_new_head_not_missing_backbone(tmp_path, caplog):
    """RT-DETR keeps its class heads (and denoising class embedding) inside `model`: a new
    label count replaces them as a new head, with no "backbone weights not in the checkpoint"."""
    from hfft import checkpoint
    from hfft.recipe import load_recipe
    from hfft.tasks import TASKS

    path = make_detector_checkpoint(tmp_path / "ckpt", "rt_detr", num_labels=2)
    recipe = load_recipe({"task": "object-detection", "model": {"checkpoint": str(path)},
                          "data": {"path": "x"}, "training": {"output_dir": "run"}})  # fmt: skip
    with caplog.at_level(logging.INFO, logger="hfft"):
        checkpoint.load_model(TASKS["object-detection"], recipe.model, ["a", "b", "c"])
    assert "backbone weights were not in the checkpoint" not in caplog.text
    assert "a new classification head was initialised for 3 labels (the checkpoint's head had 2)" \
        in caplog.text  # fmt: skip


def test_perfect_predictions_score_map_1_through_resizing_and_padding(tmp_path):
    """Images of different sizes, resized by the processor and padded into one batch: the
    targets the model gets, fed back as its predictions, score mAP 1 in the images' pixels (a
    coordinate slip anywhere between the data and the metric would not)."""
    from hfft.tasks import TASKS
    from hfft.tasks.boxes_metrics import build_metrics
    from hfft.tasks.detection_images import BoxAugmentationSpec

    task = TASKS["object-detection"]
    boxes = [[[4, 6, 20, 30], [30, 10, 30, 8]], [[40, 20, 50, 40]]]
    files = []
    for i, (w, h) in enumerate([(64, 64), (120, 72)]):
        Image.new("RGB", (w, h), "grey").save(tmp_path / f"{i}.png")
        files.append(str(tmp_path / f"{i}.png"))
    ds = datasets.Dataset.from_dict(
        {"image": files, "label": [{"bbox": b, "category": ["a"] * len(b)} for b in boxes]}
    ).cast_column("image", datasets.Image())
    _, resolved = BOXES.resolve({"test": ds}, _spec("coco"))
    names, encoded = BOXES.encode({"train": resolved["test"], "test": resolved["test"]})
    recipe = SimpleNamespace(data=SimpleNamespace(augmentation=BoxAugmentationSpec(enabled=False)))
    processor = detector_processor("detr")
    prepared = task.prepare(datasets.DatasetDict(encoded), processor, recipe)
    batch = task.collator(processor)([prepared["test"][0], prepared["test"][1]])
    # 120x72 resized to 64x38 (longest edge 64), padded to 64x64 beside the 64x64 one
    assert batch["pixel_values"].shape[-2:] == (64, 64) and batch["pixel_mask"][1, 40:].sum() == 0
    queries = 3
    logits = torch.full((2, queries, len(names) + 1), -9.0)
    logits[..., -1] = 9.0  # "no object" everywhere but on the targets
    pred = torch.full((2, queries, 4), 0.5)
    for i, label in enumerate(batch["labels"]):
        n = len(label["boxes"])
        pred[i, :n] = label["boxes"]
        logits[i, :n, 0], logits[i, :n, -1] = 9.0, -9.0
    entry, _ = build_metrics([], names).report([(logits, pred)], [batch["labels"]])
    assert entry["map"] == pytest.approx(1.0) and entry["map_75"] == pytest.approx(1.0)


# The model_type of each Hub checkpoint a bundled detection recipe names.
RECIPE_MODEL_TYPES = {"facebook/detr-resnet-50": "detr", "PekingU/rtdetr_r50vd": "rt_detr"}


def _detection_recipes() -> list[str]:
    from hfft.recipe import bundled_recipes

    return [p for p, _ in bundled_recipes() if p.startswith("recipes/object-detection/")]


def test_every_bundled_detection_recipe_validates_and_is_mapped():
    from hfft.recipe import RECIPES_DIR, load_recipe

    paths = _detection_recipes()
    assert len(paths) >= 5
    for path in paths:
        recipe = load_recipe(RECIPES_DIR.parent / path)
        assert recipe.model.config or recipe.model.checkpoint in RECIPE_MODEL_TYPES, path


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in _detection_recipes() if "digit-scenes" not in p])
def test_bundled_detection_recipe_runs_in_its_mode(path, tmp_path):
    """Each Hub recipe's architecture, in its mode, on a tiny model of the same type; frozen
    keeps the feature extractor as it was."""
    from hfft.recipe import RECIPES_DIR, load_recipe
    from hfft.run import train

    recipe = load_recipe(RECIPES_DIR.parent / path)
    model_type = RECIPE_MODEL_TYPES[recipe.model.checkpoint]
    checkpoint = make_detector_checkpoint(tmp_path / "ckpt", model_type)
    data = box_data(tmp_path / "data")
    overrides = [
        f"model.checkpoint={checkpoint}", "model.revision=null", "model.processor=null",
        "data.path=imagefolder", f"data.data_dir={data['data_dir']}", "data.test_fraction=0.25",
        f"training.output_dir={tmp_path / 'run'}", "training.num_train_epochs=1",
        "training.bf16=false", "training.use_cpu=true", "training.per_device_train_batch_size=4",
    ]  # fmt: skip
    result = train(load_recipe(RECIPES_DIR.parent / path, overrides))
    changed = _changed(checkpoint, result.run_dir)
    assert _any(changed, "model.decoder.")
    assert _any(changed, "model.backbone.") == (recipe.model.mode == "full")


@pytest.mark.slow
def test_a_tiny_detector_learns_the_digit_scenes_on_cpu(tmp_path):
    """The bundled recipe on the offline fixture: well above zero mAP@50, shown in the card."""
    from hfft.digit_scenes import write_digit_scenes
    from hfft.recipe import RECIPES_DIR, load_recipe
    from hfft.run import train

    write_digit_scenes(tmp_path / "scenes")
    path = RECIPES_DIR / "object-detection" / "tiny-rt-detr_digit-scenes_full.yaml"
    overrides = [f"data.data_dir={tmp_path / 'scenes'}", f"training.output_dir={tmp_path / 'run'}"]
    result = train(load_recipe(path, overrides))
    map_50 = result.metrics["test"]["map_50"]
    assert map_50 > 0.25, result.metrics["test"]
    card = (result.run_dir / "README.md").read_text()
    assert f"| test | {result.metrics['test']['map']:.4f} | {map_50:.4f} |" in card


def test_detection_options_are_refused_in_other_image_tasks_by_task_name(tmp_path):
    from hfft.errors import RecipeError
    from hfft.recipe import load_recipe

    def recipe(task: str, data: dict) -> None:
        load_recipe({"task": task, "model": {"checkpoint": "x"},
                     "data": {"path": "imagefolder", "data_dir": ".", **data},
                     "training": {"output_dir": str(tmp_path)}})  # fmt: skip

    with pytest.raises(RecipeError) as err:
        recipe("image-classification", {"bbox_format": "yolo"})
    assert str(err.value) == (
        "data.bbox_format=yolo only applies to object-detection tasks (image-classification "
        "reads image): remove data.bbox_format"
    )
    # A shared name (augmentation) takes the task's own keys: the others are unknown there.
    with pytest.raises(RecipeError, match=r"unknown recipe key 'data.augmentation.rotation_deg"):
        recipe("object-detection", {"augmentation": {"rotation_degrees": 30}})
    recipe("object-detection", {"augmentation": {"enabled": False}})  # shared name, own value


def test_a_registered_split_keeps_its_key_after_older_ones_are_dropped():
    from hfft.tasks import boxes_metrics

    keys = [boxes_metrics.register_source([i]) for i in range(20)]
    assert len(set(keys)) == 20
    assert all(boxes_metrics._SOURCES[k] == [i] for i, k in list(enumerate(keys))[-8:])
