"""The stories `hfft demo` can tell: each is a data maker, a recipes folder (one pretraining
recipe, the step-2 recipes in table order) and the words its report uses. `hfft demo` tells the
digits one; `hfft demo --task T` the one whose recipes train task T (read from its recipes, so
no task name is written here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hfft.digits import DigitsSplit
from hfft.errors import HfftError
from hfft.recipe import RECIPES_DIR


@dataclass(frozen=True)
class Story:
    """One transfer-learning story: pretrain on a source task, fine-tune on a target task."""

    recipes: Path
    pretrain: str
    targets: tuple[str, ...]
    # The prefix of every path in its recipes, and `--out`'s default; `--out` replaces it.
    out: str
    # (data folder, quick) -> {task: {split: {class: n}}}, the data written there.
    write_data: Callable[[Path, bool], dict[str, dict]]
    # The report's words.
    title: str
    unit: str  # "images"
    per_class: str  # "digit"
    source_task: str  # "digits 0-4"
    target_task: str  # "digits 5-9"
    model_name: str  # "ViT"
    data_note: str  # how the data was made
    test_note: str = ""  # what is special about the test split
    # Row names that say more than the recipe file's last word.
    row_names: dict[str, str] = field(default_factory=lambda: {"freeze2": "freeze_layers=2"})
    quick_overrides: tuple[str, ...] = ("training.num_train_epochs=1",)
    # Why the story cannot run on this machine (None: it can), checked before anything runs.
    unavailable: Callable[[], str | None] = lambda: None
    # `hfft demo --methods`' extra rows: (row name, the step-2 recipe it starts from, overrides).
    methods: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @property
    def target_recipes(self) -> tuple[tuple[str, str], ...]:
        """(row name in the table, recipe file), in table order: a row is named after the last
        word of its recipe file's name (the mode it runs in, or `scratch`)."""
        return tuple(
            (self.row_names.get(word, word), file)
            for file in self.targets
            for word in [Path(file).stem.rsplit("_", 1)[-1]]
        )

    @property
    def task(self) -> str:
        """The task its recipes train."""
        from hfft.recipe import load_recipe

        return load_recipe(self.recipes / self.pretrain).task


def method_rows(full: str, lora: str, out: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The `--methods` rows of a story, from its full and LoRA recipes: DoRA and IA3 (PEFT, the
    LoRA recipe's settings), layer-wise lr decay and LP-FT (the full recipe's)."""

    def to(name: str) -> str:
        return f"training.output_dir={out}/runs/{name}"

    peft = ("model.mode=peft", "model.lora=null")
    return (
        ("dora", lora, (*peft, "model.peft.method=dora", "model.peft.r=8", to("dora"))),
        ("ia3", lora, (*peft, "model.peft.method=ia3", to("ia3"))),
        ("layer_decay=0.75", full, ("optim.layer_decay=0.75", to("layer-decay"))),
        (
            "LP-FT",
            full,
            (
                "model.mode=lp-ft",
                "model.lp_ft.probe_epochs=5",
                # the frozen recipe's rate: a head alone takes far larger steps
                "model.lp_ft.probe_learning_rate=0.1",
                to("lp_ft"),
            ),
        ),
    )


FULL_SPLIT = DigitsSplit()
# --quick: the same pipeline scaled down to seconds (tests, smoke checks); numbers mean nothing.
QUICK_SPLIT = DigitsSplit(
    source_validation_per_class=4,
    source_train_per_class=12,
    target_train_per_class=4,
    target_validation_per_class=2,
    target_test_per_class=6,
)


def _write_digits(folder: Path, quick: bool) -> dict[str, dict]:
    from hfft.digits import write_digits

    return write_digits(folder, QUICK_SPLIT if quick else FULL_SPLIT)


def _write_spoken_words(folder: Path, quick: bool) -> dict[str, dict]:
    from hfft.spoken_words import SpokenWordsSplit, write_spoken_words

    quick_split = SpokenWordsSplit(
        source_train_per_word=4,
        source_validation_per_word=2,
        target_train_per_word=2,
        target_validation_per_word=1,
        target_test_per_word=2,
    )
    return write_spoken_words(folder, quick_split if quick else SpokenWordsSplit())


def _espeak() -> str | None:
    from hfft.spoken_words import espeak_available

    return espeak_available()


DIGITS = Story(
    recipes=RECIPES_DIR / "demo",
    pretrain="source_vit-tiny_digits0-4_pretrain.yaml",
    targets=(
        "target_vit-tiny_digits5-9_full.yaml",
        "target_vit-tiny_digits5-9_freeze2.yaml",
        "target_vit-tiny_digits5-9_frozen.yaml",
        "target_vit-tiny_digits5-9_lora.yaml",
        "target_vit-tiny_digits5-9_scratch.yaml",
    ),
    out="demo-out",
    write_data=_write_digits,
    title="transfer learning on handwritten digits",
    unit="images",
    per_class="digit",
    source_task="digits 0-4",
    target_task="digits 5-9",
    model_name="ViT",
    data_note="scikit-learn's UCI digits, upscaled to 32x32",
    methods=method_rows(
        "target_vit-tiny_digits5-9_full.yaml", "target_vit-tiny_digits5-9_lora.yaml", "demo-out"
    ),
)

SPOKEN_WORDS = Story(
    recipes=RECIPES_DIR / "demo-audio",
    pretrain="source_whisper-tiny_digits-spoken_pretrain.yaml",
    targets=(
        "target_whisper-tiny_commands_full.yaml",
        "target_whisper-tiny_commands_freeze2.yaml",
        "target_whisper-tiny_commands_frozen.yaml",
        "target_whisper-tiny_commands_lora.yaml",
        "target_whisper-tiny_commands_scratch.yaml",
    ),
    out="demo-out-audio",
    write_data=_write_spoken_words,
    title="transfer learning on spoken words",
    unit="clips",
    per_class="word",
    source_task="spoken digits",
    target_task="ten command words",
    model_name="Whisper-style encoder",
    data_note="spoken by Debian's espeak-ng in 60 voices at random speeds and pitches",
    test_note=", spoken by 24 voices that no train or validation clip uses",
    unavailable=_espeak,
    methods=method_rows(
        "target_whisper-tiny_commands_full.yaml",
        "target_whisper-tiny_commands_lora.yaml",
        "demo-out-audio",
    ),
)

STORIES = (DIGITS, SPOKEN_WORDS)


def story_for(task: str | None) -> Story:
    """The story of `task` (None: the default, digits)."""
    if task is None:
        return DIGITS
    for story in STORIES:
        if story.task == task:
            return story
    told = sorted(story.task for story in STORIES)
    raise HfftError(f"no demo for task {task!r}; `hfft demo --task` takes one of {told}")
