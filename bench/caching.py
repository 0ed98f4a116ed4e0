"""Section 2, frozen mode: cached frozen-backbone features against the uncached path, over the
same number of epochs — wall time ratio and the final test accuracy of each."""

from __future__ import annotations

import statistics
import time

from bench import workloads
from bench.context import Context
from bench.measure import interleave, quiet
from bench.report import Figure, Section

NAME = "caching"


def run(ctx: Context) -> Section:
    import datasets

    from hfft.recipe import load_recipe
    from hfft.run import build_run

    scale = ctx.scale
    checkpoint = workloads.vit_checkpoint(ctx.work / "vit-mid", scale.vit)
    data_dir = ctx.digits / "target"
    epochs = scale.cache_epochs
    training = {
        # As a user would run it: watch the validation split every epoch; no checkpoints, so
        # disk writes (a full model per epoch uncached, a head cached) stay out of the figure.
        **workloads.STEPS_ONLY,
        "eval_strategy": "epoch",
        "num_train_epochs": epochs,
        "per_device_train_batch_size": scale.batch_size,
        "learning_rate": 5e-3,
        "seed": 0,
    }
    accuracy: dict[str, float] = {}
    phases: dict[str, list[float]] = {
        "cached_build_s": [], "uncached_build_s": [], "cached_train_s": [], "uncached_train_s": [],
    }  # fmt: skip

    def one_run(cache: bool) -> float:
        key = "cached" if cache else "uncached"
        out = ctx.fresh_dir(f"caching-{key}")
        recipe = load_recipe(
            workloads.image_recipe(
                checkpoint, data_dir, out, training, mode="frozen", cache_features=cache
            )
        )
        start = time.perf_counter()
        built = build_run(recipe)  # the cached run extracts every split's features here
        built_at = time.perf_counter()
        phases[f"{key}_build_s"].append(built_at - start)
        quiet(built.trainer).train()
        phases[f"{key}_train_s"].append(time.perf_counter() - built_at)
        metrics = built.trainer.evaluate(built.prepared["test"], metric_key_prefix="test")
        seconds = time.perf_counter() - start
        accuracy[key] = metrics["test_accuracy"]
        return seconds

    # Every cached run must extract its features: no reuse of an earlier run's datasets cache.
    datasets.disable_caching()
    try:
        rounds = interleave(
            {"uncached": lambda: one_run(False), "cached": lambda: one_run(True)},
            scale.cache_rounds,
        )
    finally:
        datasets.enable_caching()
    speedup = rounds.ratio("uncached", "cached")
    epoch_speedup = statistics.median(
        u / c for u, c in zip(phases["uncached_train_s"], phases["cached_train_s"], strict=True)
    )
    split = scale.cache_split
    n_train, n_val, n_test = (5 * split[k] for k in ("train", "validation", "test"))
    # Backbone forwards: uncached = every epoch's train + validation, then test once;
    # cached = every split once. Their ratio bounds the speed-up when the backbone dominates.
    bound = (epochs * (n_train + n_val) + n_test) / (n_train + n_val + n_test)
    return Section(
        NAME,
        f"frozen backbone, cached vs uncached features, {epochs} epochs",
        figures=[
            Figure(
                "cached_speedup",
                f"frozen mode, uncached ÷ cached wall time ({epochs} epochs)",
                speedup,
                target=">= 10",
                context=f"{rounds.median('uncached'):.1f} s vs {rounds.median('cached'):.1f} s; "
                f"backbone-forward bound {bound:.1f}x",
            ),
            Figure(
                "cached_epoch_speedup",
                f"frozen mode, uncached ÷ cached training time ({epochs} epochs, features ready)",
                epoch_speedup,
                context="what every further epoch or tuning trial gains once features are cached",
            ),
            Figure(
                "cached_accuracy_ratio",
                "frozen mode, cached ÷ uncached test accuracy",
                accuracy["cached"] / accuracy["uncached"] if accuracy["uncached"] else 0.0,
                target=">= 0.99",
                context=f"{accuracy['cached']:.3f} vs {accuracy['uncached']:.3f}",
            ),
        ],
        context={
            "model": f"{scale.vit_label}, RANDOM init (no pretrained vision checkpoint offline)",
            "data": f"digits 5-9: train {n_train}, validation {n_val}, test {n_test} images",
            "epochs": epochs,
            "rounds": scale.cache_rounds,
            "uncached_s": rounds.values["uncached"],
            "cached_s": rounds.values["cached"],
            **{k: [round(x, 2) for x in v] for k, v in phases.items()},
            "cached_test_accuracy": accuracy["cached"],
            "uncached_test_accuracy": accuracy["uncached"],
            "forward_bound": round(bound, 2),
        },
        notes=[
            "Wall time of a whole run: build (the cached run extracts train, validation and test "
            "features here), train with validation every epoch, evaluate the test split.",
            "The backbone is randomly initialised, so the accuracy is a linear probe on random "
            "features; what matters is that cached and uncached agree.",
            f"With {epochs} epochs the speed-up cannot much exceed the ratio of backbone forward "
            f"passes, {bound:.1f}x (epochs × (train+validation) + test over train+validation+"
            "test); caching pays off more the more epochs (or trials) reuse the features.",
        ],
    )
