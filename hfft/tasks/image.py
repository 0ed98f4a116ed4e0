"""The image modality: the checkpoint's image processor, `datasets.Image` columns, the one image
check training and `hfft predict` share, train-time augmentation (torchvision transforms v2) and
its recipe options (`data.augmentation`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfft.errors import RecipeError, first_line
from hfft.tasks.input_files import expand_files
from hfft.tasks.task import Item, Modality

if TYPE_CHECKING:
    import datasets

NAME = "image"
# Pillow modes with more than 8 bits per channel: converting them to RGB clips every value above
# 255, so a 16-bit or float image would train (or be predicted) as a white or black square.
WIDE_MODES = ("I", "F")
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)


@dataclass
class AugmentationSpec:
    """Train-time image augmentation (torchvision transforms v2), applied lazily."""

    enabled: bool = True
    horizontal_flip: bool = True
    # Random rotation in [-degrees, degrees].
    rotation_degrees: float = 10.0
    # Random-resized-crop scale range (zoom); [1.0, 1.0] disables zoom.
    crop_scale: list[float] = field(default_factory=lambda: [0.8, 1.0])

    def __post_init__(self) -> None:
        from hfft.recipe_schema import check_range

        # Beyond 180 the range [-d, d] only repeats angles already covered.
        check_range("data.augmentation.rotation_degrees", self.rotation_degrees, 0, 180)
        scale = self.crop_scale
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise RecipeError(
                f"data.augmentation.crop_scale must be [low, high] with 0 < low <= high <= 1, "
                f"got {self.crop_scale}"
            )


@dataclass
class ImageOptions:
    """The `data:` options of image tasks."""

    augmentation: AugmentationSpec = field(default_factory=AugmentationSpec)


class UnusableImage(ValueError):
    """An image that cannot be used as it is; the message says why and what to do."""


def open_rgb_image(source: Any) -> Any:
    """Decode `source` (a path or a binary file object) into an RGB `PIL.Image`, or raise
    `UnusableImage`: not a readable image, or more than 8 bits per channel (would clip)."""
    from PIL import Image

    try:
        with Image.open(source) as image:
            image.load()
            if image.mode.split(";")[0] in WIDE_MODES:
                raise UnusableImage(
                    f"image mode {image.mode} has more than 8 bits per channel, and converting "
                    "it to RGB would clip it: convert the images to 8-bit"
                )
            return image.convert("RGB")
    except UnusableImage:
        raise
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBomb...
        reason = f"not a readable image ({type(err).__name__}: {first_line(err)})"
        raise UnusableImage(reason) from err


def image_problem(value: Any) -> str | None:
    """Why an undecoded `datasets.Image` value ({"bytes", "path"}) cannot be used, or None."""
    import io

    if value is None:
        return "no image"
    if not isinstance(value, dict):
        return None
    data, path = value.get("bytes"), value.get("path")
    if not data and not path:
        return "no image"
    try:
        open_rgb_image(io.BytesIO(data) if data else path)
    except UnusableImage as err:
        return str(err)
    return None


def _no_problem(value: Any) -> str | None:
    return None


def cast(ds: datasets.Dataset) -> datasets.Dataset:
    """A column of file paths becomes a `datasets.Image` column."""
    import datasets

    if getattr(ds.features[NAME], "dtype", None) in ("string", "large_string"):
        ds = ds.cast_column(NAME, datasets.Image())
    return ds


def scan(ds: datasets.Dataset) -> tuple[datasets.Dataset, Any]:
    """Images are checked from their raw bytes/paths (decoded once, here); pixel arrays have
    nothing to decode."""
    import datasets

    if not isinstance(ds.features.get(NAME), datasets.Image):
        return ds, _no_problem
    return ds.cast_column(NAME, datasets.Image(decode=False)), image_problem


def load_processor(checkpoint: str, kwargs: dict[str, Any]) -> Any:
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(checkpoint, **kwargs)


def processor_size(processor: Any) -> tuple[int, int]:
    """(height, width) the processor produces."""
    crop = (
        getattr(processor, "crop_size", None)
        if getattr(processor, "do_center_crop", False)
        else None
    )
    size = crop or processor.size
    if "height" in size:
        return size["height"], size["width"]
    edge = size.get("shortest_edge") or size.get("longest_edge")
    return edge, edge


def train_augmentation(spec: AugmentationSpec, size: tuple[int, int]) -> Any:
    """PIL -> PIL augmentation from the recipe's data.augmentation (None when switched off)."""
    from torchvision.transforms import v2

    steps = []
    if spec.crop_scale != [1.0, 1.0]:
        steps.append(v2.RandomResizedCrop(size, scale=tuple(spec.crop_scale), antialias=True))
    if spec.horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    if spec.rotation_degrees:
        steps.append(v2.RandomRotation(spec.rotation_degrees))
    return v2.Compose(steps) if spec.enabled and steps else None


def expand_inputs(inputs: Iterable[str]) -> Iterator[Item]:
    """Image paths as given; folders and globs expanded to their image files."""
    return expand_files(inputs, IMAGE_EXTENSIONS, "image")


def read_input(item: Item) -> Item:
    """Decode one image with the check training's scan makes, so a file training refuses (say a
    16-bit image, which RGB conversion would clip) is refused here too."""
    try:
        item.payload = open_rgb_image(item.input)
    except UnusableImage as err:
        item.error = str(err)
    return item


def save_example(image: Any, folder: Path, index: int) -> str:
    name = f"{index}.png"
    image = image.convert("RGB")
    image.thumbnail((512, 512))  # examples are for a demo, not a dataset copy
    image.save(folder / name)
    return name


def varying_inputs(recipe: Any) -> list[str]:
    """Augmentation changes the inputs every epoch, so frozen features cannot be cached."""
    if recipe.data.augmentation.enabled:
        return ["augmentation changes the inputs every epoch (data.augmentation.enabled)"]
    return []


IMAGE = Modality(
    name=NAME,
    aliases=("image", "img", "picture", "photo", "pixel_values"),
    processor_kind="image processor",
    load_processor=load_processor,
    cast=cast,
    scan=scan,
    expand_inputs=expand_inputs,
    read_input=read_input,
    save_example=save_example,
    usage_example='"path/to/image.jpg"',
    options=ImageOptions,
    varying_inputs=varying_inputs,
    folder_builder="imagefolder",
)
