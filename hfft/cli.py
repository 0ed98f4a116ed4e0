"""`hfft` command line. Imports stay lazy so `hfft --help` answers without loading torch."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from hfft import __version__
from hfft.errors import HfftError


def _lazy(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    """A command handler that imports its module only when that command runs."""

    def handler(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), function)(args)

    handler.target = (module, function)  # type: ignore[attr-defined]
    return handler


def _add_threads(p: argparse.ArgumentParser) -> None:
    """The same `--threads` on every command that computes (see hfft.threads)."""
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch CPU compute threads (default: $HFFT_THREADS, else $OMP_NUM_THREADS, else the "
        "cores this process may use that are idle; 0: torch's own default)",
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune a model from a recipe")
    p.add_argument("recipe", help="path to a recipe YAML (see `hfft recipes`)")
    p.add_argument(
        "overrides", nargs="*", metavar="key.sub=value", help="dotted overrides, values are YAML"
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CHECKPOINT",
        help="continue the interrupted run in training.output_dir from its last complete "
        "checkpoint (or the one named, e.g. checkpoint-40); an interrupted run is also continued "
        "without this flag, which only makes a missing checkpoint an error",
    )
    again.add_argument(
        "--overwrite",
        action="store_true",
        help="train from scratch even if training.output_dir holds a finished or interrupted hfft "
        "run: the files and folders hfft wrote there are deleted (it logs which); files it did "
        "not write, and tune/, are kept. A folder that is not an hfft run directory is refused "
        "with or without this flag",
    )
    p.add_argument(
        "--seeds",
        type=_positive,
        metavar="N",
        help="train N runs, training.seed = the recipe's seed + 0..N-1, into "
        "OUTPUT_DIR/seed-<seed>/, and write OUTPUT_DIR/seeds.json (mean ± std per metric); "
        "seeds already trained are kept unless --overwrite",
    )
    _add_threads(p)
    p.set_defaults(func=_lazy("hfft.commands.train", "train_command"))


def _positive(value: str) -> int:
    """A count of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: give a whole number of at least 1")
    return number


EVAL_SPLITS = ("test", "validation")


def _held_out_split(value: str) -> str:
    """`--split`: a held-out split. Train is refused with why: the model learnt those rows, so
    its metrics there say nothing about unseen data."""
    if value == "train":
        raise argparse.ArgumentTypeError(
            "'train' is the data the model learnt from, so its metrics say nothing about new "
            "data: choose test or validation"
        )
    if value not in EVAL_SPLITS:
        raise argparse.ArgumentTypeError(f"{value!r}: choose test or validation")
    return value


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a run directory on a split")
    p.add_argument("run_dir")
    p.add_argument(
        "--split",
        default="test",
        type=_held_out_split,
        metavar="{test,validation}",
        help="test or validation (default: test); the report goes to RUN_DIR/eval/, the "
        "training run's own report is left as it is",
    )
    p.add_argument(
        "--data",
        metavar="PATH|HUB_ID",
        help="evaluate other data: a folder, a csv/json/parquet file or a Hub dataset id "
        "(the recipe's column mapping applies)",
    )
    p.add_argument(
        "--baselines",
        action="store_true",
        help="also score the majority class and a linear probe (logistic regression on the "
        "recipe's frozen checkpoint's features, fitted on the run's train split)",
    )
    _add_threads(p)
    p.set_defaults(func=_lazy("hfft.commands.eval", "eval_command"))


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict labels: one JSON line per input")
    p.add_argument("model", help="run directory or Hub id")
    p.add_argument("inputs", nargs="+", help="image paths/folders/globs, or texts / a text file")
    p.add_argument(
        "--top-k",
        type=int,
        default=5,
        help="labels per input (default: 5); a multi-label model gives those above threshold",
    )
    p.add_argument("--batch-size", type=int, default=8, help="inputs per forward pass (default: 8)")
    p.add_argument("--all-scores", action="store_true", help='also every label\'s score ("scores")')
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="object detection: the score a box needs to be listed (default: 0.5)",
    )
    _add_threads(p)
    p.set_defaults(func=_lazy("hfft.commands.predict", "predict_command"))


def _add_push(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push",
        help="push a run directory to the Hugging Face Hub",
        description="Push the model, card, metrics, plots and examples of a finished run (never "
        "checkpoints/ or optimizer state) in one commit. Token: HF_TOKEN or `hf auth login`.",
    )
    p.add_argument("run_dir", help="output_dir of a finished `hfft train`")
    p.add_argument("--repo-id", required=True, metavar="USER/NAME", help="model repo to push to")
    p.add_argument("--private", action="store_true", help="create the repo(s) private")
    p.add_argument("--revision", metavar="BRANCH", help="branch to commit to (default: main)")
    p.add_argument("--commit-message", metavar="MESSAGE")
    p.add_argument("--space", action="store_true", help="also push a Gradio Space that loads it")
    p.add_argument(
        "--space-id",
        metavar="USER/NAME",
        help="id of the Space (implies --space; default: repo id)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list what would be uploaded; no network call"
    )
    p.set_defaults(func=_lazy("hfft.commands.push", "push_command"))


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the Gradio demo app for a run directory or Hub id")
    p.add_argument("model", help="run directory or Hub id")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=_lazy("hfft.commands.serve", "serve_command"))


def _add_recipes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recipes", help="list the bundled recipes")
    p.set_defaults(func=_lazy("hfft.commands.recipes", "recipes_command"))


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the embedded default: the transfer-learning story, offline, in minutes",
        description="Pretrain a small ViT on handwritten digits 0-4 (scikit-learn's UCI digits), "
        "fine-tune it on digits 5-9 with 20 labels per class in each mode (full, freeze_layers, "
        "frozen, LoRA) and from scratch, and compare them on a held-out test split: "
        "OUT/results.md, OUT/results.png. Runs the recipes in recipes/demo/; no network.",
    )
    p.add_argument(
        "--task",
        default=None,
        help="the story of another task: audio-classification pretrains on spoken digits and "
        "fine-tunes on command words (espeak-ng voices; recipes/demo-audio/)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="output directory (default: demo-out, demo-out-audio for the audio story)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="scaled down to seconds (a few images, 1 epoch): checks the pipeline, not the story",
    )
    _add_threads(p)
    p.add_argument(
        "--seeds",
        type=_positive,
        default=1,
        metavar="N",
        help="train each step-2 run with N seeds and report the mean ± std (default 1: one "
        "seed, with 95%% bootstrap intervals)",
    )
    p.add_argument(
        "--methods",
        action="store_true",
        help="also DoRA and IA3 (PEFT), layer-wise lr decay and LP-FT, as rows of the same table",
    )
    p.set_defaults(func=_lazy("hfft.commands.demo", "demo_command"))


def _add_tune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help="hyper-parameter search over a recipe (Optuna)",
        description="Train the recipe once per trial with Optuna-chosen values (seeded TPE, "
        "median pruning on the validation metric) and write RUN_DIR/tune/: trials.csv, "
        "trials.md, tune.png and best.yaml, a recipe that `hfft train` runs to reproduce the "
        "best trial. The search space is a default per mode, overridden by the recipe's "
        "tune.space and then by --search.",
    )
    p.add_argument("recipe", help="path to a recipe YAML (see `hfft recipes`)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key.sub=value",
        help="dotted overrides, values are YAML (right after RECIPE, before the options)",
    )
    p.add_argument("--trials", type=int, metavar="N", help="number of trials (tune.trials)")
    p.add_argument(
        "--timeout", type=float, metavar="S", help="stop starting trials after S seconds"
    )
    p.add_argument(
        "--search",
        metavar="SPACE.yaml",
        help="search space: dotted recipe keys -> {type, low, high, log} or {choices: [...]}",
    )
    _add_threads(p)
    p.set_defaults(func=_lazy("hfft.commands.tune", "tune_command"))


def _add_zero_shot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "zero-shot",
        help="classify a recipe's data with a CLIP/SigLIP checkpoint, no training",
        description="Build class prompts from model.zero_shot.templates and the label names, "
        "classify the recipe's held-out splits by image-text similarity, and write a run "
        "directory to training.output_dir (metrics.json, per-class report, confusion matrix, "
        "card, and the zero-shot classifier, which pipeline() loads).",
    )
    p.add_argument(
        "recipe", help="path to an image classification recipe with a CLIP/SigLIP model.checkpoint"
    )
    p.add_argument(
        "overrides", nargs="*", metavar="key.sub=value", help="dotted overrides, values are YAML"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished run in training.output_dir (only what hfft wrote)",
    )
    _add_threads(p)
    p.set_defaults(func=_lazy("hfft.commands.zero_shot", "zero_shot_command"))


def _add_wise_ft(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "wise-ft",
        help="interpolate a zero-shot-initialised run's weights back towards its start",
        description="WiSE-FT (Wortsman et al.): for each alpha, the weights "
        "(1 - alpha) * start + alpha * fine-tuned, where start is the checkpoint with its "
        "zero-shot head (the run must have trained with model.head_init: zero-shot), "
        "evaluated on validation and test. Writes RUN_DIR/wise-ft/: wise_ft.md, wise_ft.json, "
        "wise_ft.png; --save writes a complete run directory of one alpha.",
    )
    p.add_argument("run_dir", help="a finished run trained with model.head_init: zero-shot")
    p.add_argument(
        "--alphas",
        default="0,0.25,0.5,0.75,1",
        type=_alphas,
        help="comma-separated mixing weights in [0, 1] (default: 0,0.25,0.5,0.75,1)",
    )
    p.add_argument(
        "--save",
        metavar="ALPHA|best",
        help="also write the model of this alpha (best: the best on validation) as "
        "a run directory, RUN_DIR/wise-ft/alpha-A/ (or --out)",
    )
    p.add_argument("--out", metavar="DIR", help="where --save writes the run directory")
    _add_threads(p)
    p.set_defaults(func=_lazy("hfft.commands.wise_ft", "wise_ft_command"))


def _alphas(value: str) -> list[float]:
    try:
        alphas = [float(a) for a in value.split(",") if a.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give numbers like 0,0.5,1") from None
    bad = [a for a in alphas if not 0.0 <= a <= 1.0]
    if not alphas or bad:
        raise argparse.ArgumentTypeError(f"{value!r}: every alpha must lie in [0, 1]")
    return sorted(set(alphas))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hfft",
        description="Fine-tune Hugging Face vision and text classifiers from YAML recipes.",
    )
    parser.add_argument("--version", action="version", version=f"hfft {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_train,
        _add_eval,
        _add_predict,
        _add_push,
        _add_serve,
        _add_recipes,
        _add_demo,
        _add_tune,
        _add_zero_shot,
        _add_wise_ft,
    ):
        add(sub)
    return parser


def _configure_logging() -> None:
    import logging

    class CurrentStderr(logging.StreamHandler):
        """Writes to whatever `sys.stderr` is at the time (test capture and redirection swap it;
        a handler bound to the first stream would write to a closed file)."""

        @property
        def stream(self):  # type: ignore[override]
            return sys.stderr

        @stream.setter
        def stream(self, value: object) -> None:
            pass

    logger = logging.getLogger("hfft")
    if not logger.handlers:
        handler = CurrentStderr()
        handler.setFormatter(logging.Formatter("hfft: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    from hfft.redact import install_log_redaction, redact

    args = build_parser().parse_args(argv)
    _configure_logging()
    install_log_redaction(["hfft"])
    try:
        return args.func(args)
    except HfftError as err:
        print(f"hfft: error: {redact(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        # `hfft train` puts how to continue the run in the exception.
        hint = f": {redact(str(err))}" if str(err) else ""
        print(f"hfft: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
