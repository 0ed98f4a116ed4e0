"""The audio modality's recipe options (`data:` keys of audio tasks): how long a clip the model
sees (`max_duration`), how training crops and evaluation windows a longer one, and the train-time
augmentation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

from hfft.errors import RecipeError


@dataclass
class AudioAugmentationSpec:
    """Train-time audio augmentation, applied lazily to each mono clip (switch it all off with
    `enabled: false`, or one part with its neutral value)."""

    enabled: bool = True
    # Random shift in [-s, s] seconds (the gap filled with silence); 0 disables it.
    time_shift: float = 0.1
    # Random gain in [low, high] dB; [0, 0] disables it.
    gain_db: list[float] = field(default_factory=lambda: [-6.0, 6.0])
    # White noise at a random signal-to-noise ratio in [low, high] dB; [] disables it.
    noise_snr_db: list[float] = field(default_factory=lambda: [20.0, 40.0])
    # Speed (and pitch, as a tape does) times a random factor in [low, high]; [1, 1] disables it.
    speed: list[float] = field(default_factory=lambda: [0.9, 1.1])

    def __post_init__(self) -> None:
        from hfft.recipe_schema import check_range

        check_range("data.augmentation.time_shift", self.time_shift, 0, 10)
        _check_pair("data.augmentation.gain_db", self.gain_db, -40, 40)
        if self.noise_snr_db:
            _check_pair("data.augmentation.noise_snr_db", self.noise_snr_db, -20, 120)
        _check_pair("data.augmentation.speed", self.speed, 0.5, 2.0)


def _check_pair(key: str, pair: list[float], low: float, high: float) -> None:
    if len(pair) != 2 or not low <= pair[0] <= pair[1] <= high:
        raise RecipeError(
            f"{key} must be [low, high] with {low:g} <= low <= high <= {high:g}, got {pair}"
        )


@dataclass
class AudioOptions:
    """The `data:` options of audio tasks."""

    # Seconds of audio the model sees per example: longer clips are cropped (training takes a
    # random crop, evaluation as `eval_windows` says); null: whole clips, however long.
    max_duration: Union[float, None] = 10.0  # noqa: UP007  (runtime-inspected)
    # Training crop of a longer clip: "random" (a new crop every epoch) or "center".
    train_crop: Literal["random", "center"] = "random"
    # Evaluation of a longer clip: "crop" (its middle max_duration seconds) or "sliding" (windows
    # of max_duration seconds every window_hop seconds, their class scores averaged).
    eval_windows: Literal["crop", "sliding"] = "crop"
    # Seconds between sliding windows (null: half of max_duration).
    window_hop: Union[float, None] = None  # noqa: UP007
    augmentation: AudioAugmentationSpec = field(default_factory=AudioAugmentationSpec)

    def __post_init__(self) -> None:
        from hfft.recipe_schema import check_range

        check_range("data.max_duration", self.max_duration, 0, low_open=True, hint=" (or null)")
        check_range("data.window_hop", self.window_hop, 0, low_open=True, hint=" (or null)")
        if self.eval_windows == "sliding" and self.max_duration is None:
            raise RecipeError(
                "data.eval_windows=sliding needs data.max_duration (the window length in seconds)"
            )


__all__ = ["AudioAugmentationSpec", "AudioOptions"]
