"""Why an image folder gave no labels: `imagefolder` takes each image's label from the folder it
sits in, and only when every image sits at the same depth and there are two or more such
folders. Anything else (class folders with subfolders, a single class) silently gives no
label column, so say what was found instead."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

# Folder names `datasets` reads as splits (data_files patterns), lower-cased.
SPLIT_NAMES = {"train", "training", "test", "testing", "eval", "evaluation", "validation",
               "valid", "val", "dev"}  # fmt: skip
LAYOUT = (
    "imagefolder expects split/class/image.png or class/image.png, every image directly in its "
    "class folder"
)


def _image_extensions() -> set[str]:
    try:
        from datasets.packaged_modules.imagefolder.imagefolder import ImageFolder

        return {e.lower() for e in ImageFolder.EXTENSIONS}
    except (ImportError, AttributeError):  # an internal name: keep the common ones if it moves
        return {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def _images(folder: str | Path) -> list[Path]:
    """The image files under `folder`, relative to it; none when a metadata file gives the
    labels (metadata.csv/jsonl: labels come from its columns, not from folders)."""
    root = Path(folder).expanduser()
    if not root.is_dir() or any(root.rglob("metadata.*")):
        return []
    extensions = _image_extensions()
    return [p.relative_to(root) for p in sorted(root.rglob("*")) if p.suffix.lower() in extensions]


def explain_missing_labels(folder: str | Path, key: str) -> str | None:
    """A one-line reason why the image folder `folder` (the recipe's `key`) gave no label
    column, or None when its layout is not the cause (e.g. it has a metadata file)."""
    images = _images(folder)
    if not images:
        return None
    where = f"{key} '{folder}'"
    depths = Counter(len(p.parts) for p in images)
    parents = sorted({p.parent.name for p in images})
    deepest = max(images, key=lambda p: len(p.parts))
    # One folder name above every image, itself inside a folder that is not a split (red/sub/,
    # train/red/sub/): the class folders hold subfolders.
    nested = len(parents) == 1 and deepest.parent.parent.name.lower() not in SPLIT_NAMES | {""}
    if len(depths) > 1 or nested:
        return (
            f"no label column: the class folders in {where} contain subfolders "
            f"(e.g. {deepest.parent.as_posix()}/); {LAYOUT}: move the images up into their "
            "class folders, or list them in a CSV with an image-path column and a label column"
        )
    if parents == [""]:
        return f"no label column: the images in {where} are not in class folders; {LAYOUT}"
    if len(parents) == 1:
        return (
            f"no label column: {where} holds one class folder ({parents[0]!r}), and a classifier "
            f"needs two or more; {LAYOUT}"
        )
    return None


def subfolders_as_labels(folder: str | Path, key: str) -> str | None:
    """A warning when the labels `imagefolder` inferred look like the subfolders of the real
    class folders: one label folder inside several folders that are not splits (cat/2019/,
    dog/2019/ gives the label '2019'). None when the layout looks right."""
    holders: defaultdict[str, set[str]] = defaultdict(set)  # label folder -> folders above it
    for image in _images(folder):
        if len(image.parts) >= 3:
            holders[image.parent.name].add(image.parent.parent.name)
    for label, above in sorted(holders.items()):
        if len(above) > 1 and not {name.lower() for name in above} <= SPLIT_NAMES:
            return (
                f"the labels of {key} '{folder}' come from the folders the images sit in "
                f"({sorted(holders)[:10]}), and {label!r} sits in several folders that are not "
                f"splits ({sorted(above)[:5]}): if those are your classes, their subfolders were "
                f"taken as the labels; {LAYOUT}"
            )
    return None
