"""PNG plots for a run: confusion matrix and training curves.

matplotlib is imported inside the functions (it costs ~0.5 s) and drawn on an Agg canvas directly,
without pyplot: no GUI backend, no global figure state, safe from any thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Beyond this many classes the per-cell numbers are unreadable: colour alone tells the story.
ANNOTATE_MAX_CLASSES = 20
# Beyond this many classes a whole matrix is unreadable (1,000 rows of 4-point labels, a 22-inch
# figure of mostly white): the plot shows the MOST_CONFUSED classes with the most errors instead;
# metrics.json keeps every class's precision, recall and F1.
MATRIX_MAX_CLASSES = 100
MOST_CONFUSED = 30
_MAX_LABEL_CHARS = 24


def _short(label: str) -> str:
    label = str(label)
    return label if len(label) <= _MAX_LABEL_CHARS else label[: _MAX_LABEL_CHARS - 1] + "…"


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure (constrained layout) on its own Agg canvas: no pyplot, no global
    state, ready for `savefig`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def confusion_matrix_normalized(
    y_true: Sequence[int], y_pred: Sequence[int], num_labels: int
) -> np.ndarray:
    """Row-normalised confusion matrix: row i = where examples of true class i went (a class
    absent from y_true gives a row of zeros)."""
    return _normalised(_counts(y_true, y_pred, num_labels))


def _counts(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> np.ndarray:
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(num_labels))).astype(float)


def _normalised(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def most_confused(counts: np.ndarray, k: int = MOST_CONFUSED) -> np.ndarray:
    """The ids of `k` classes for a readable part of a large confusion matrix: both classes of
    each most frequent confusion (true i predicted as j), largest first, so that the pairs
    mixed up most are side by side; then, if fewer than `k` classes were ever confused, the
    classes with the most errors of all (ties by class id)."""
    off = counts * (1 - np.eye(len(counts)))
    order = np.argsort(-off, axis=None, kind="stable")
    pairs = np.column_stack(np.unravel_index(order[: np.count_nonzero(off)], off.shape))
    chosen = list(dict.fromkeys(int(c) for c in pairs.ravel()))[:k]
    if len(chosen) < k:
        wrong = off.sum(axis=0) + off.sum(axis=1)
        rest = [int(c) for c in np.argsort(-wrong, kind="stable") if int(c) not in chosen]
        chosen += rest[: k - len(chosen)]
    return np.array(chosen, dtype=np.int64)


def plot_confusion_matrix(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    label_names: Sequence[str],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Save the confusion matrix, normalised per true class, with label names on both axes.

    Readable from 2 to ~100 classes: the figure grows with the number of classes, tick labels
    shrink, and per-cell values are written only up to ANNOTATE_MAX_CLASSES classes. With more
    than MATRIX_MAX_CLASSES classes it shows the MOST_CONFUSED classes with the most errors,
    rows still the fractions of each true class (its errors into classes not shown are left
    out), and says so in the title.
    """
    counts = _counts(y_true, y_pred, len(label_names))
    matrix = _normalised(counts)
    total = len(label_names)
    if total > MATRIX_MAX_CLASSES:
        shown = most_confused(counts)
        matrix = matrix[np.ix_(shown, shown)]
        label_names = [label_names[i] for i in shown]
    n = len(label_names)
    # ~0.22 inch per class beyond the first few, bounded so 100 classes stays a sane PNG
    side = min(22.0, max(5.0, 2.5 + 0.22 * n))
    # a row of the matrix is ~80% of the side over n classes; labels take ~60% of a row's height
    row_points = side * 72 * 0.8 / max(n, 1)
    tick_size = max(4.0, min(10.0, 0.6 * row_points))
    fig = new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="fraction of the true class")

    names = [_short(name) for name in label_names]
    ax.set_xticks(range(n), names, fontsize=tick_size, rotation=45 if n <= 10 else 90)
    if n <= 10:
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
            tick.set_rotation_mode("anchor")
    ax.set_yticks(range(n), names, fontsize=tick_size)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    accuracy = float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else 0.0
    title = (
        title
        or f"Confusion matrix (normalised per true class) — {len(y_true)} examples, "
        f"accuracy {accuracy:.3f}"
    )
    if n < total:
        title += (
            f"\nthe {n} most-confused of {total:,} classes, the pairs mixed up most first "
            "(errors into classes not shown are left out; metrics.json has every class)"
        )
    ax.set_title(title, fontsize=11)

    if n <= ANNOTATE_MAX_CLASSES:
        cell_size = max(5.0, min(11.0, 140.0 / n))
        for i in range(n):
            for j in range(n):
                value = matrix[i, j]
                if value == 0 and i != j:
                    continue  # empty off-diagonal cells stay blank: the errors stand out
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=cell_size,
                    color="white" if value > 0.5 else "black",
                )
    else:
        # thin grid lines let the eye follow rows and columns without numbers
        ax.set_xticks(np.arange(-0.5, n, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, n, 1), minor=True)
        ax.grid(which="minor", color="0.9", linewidth=0.3)
        ax.tick_params(which="minor", length=0)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100 if n <= 40 else 120, bbox_inches="tight", pad_inches=0.15)
    return path


def _series(log_history: Sequence[Mapping[str, Any]], key: str) -> tuple[list, list]:
    """(epochs, values) of one logged quantity, in logging order."""
    points = [
        (entry.get("epoch", math.nan), entry[key])
        for entry in log_history
        if isinstance(entry.get(key), int | float)
    ]
    return [p[0] for p in points], [p[1] for p in points]


def plot_training_curves(
    log_history: Sequence[Mapping[str, Any]], metric_name: str, path: str | Path
) -> Path:
    """Save loss (train and eval) and the eval metric against epochs, from a Trainer's
    `state.log_history` (train entries carry `loss`, eval entries `eval_loss`, `eval_<metric>`)."""
    key = metric_name if metric_name.startswith("eval_") else f"eval_{metric_name}"
    train = _series(log_history, "loss")
    evaluation = _series(log_history, "eval_loss")
    metric = _series(log_history, key)

    fig = new_figure(11.0, 4.2)
    loss_ax, metric_ax = fig.subplots(1, 2)
    if train[0]:
        loss_ax.plot(*train, label="train loss", color="tab:blue", alpha=0.8)
    if evaluation[0]:
        loss_ax.plot(*evaluation, "o-", label="eval loss", color="tab:orange")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("Loss")
    if train[0] or evaluation[0]:
        loss_ax.legend()
    else:
        loss_ax.text(
            0.5, 0.5, "no loss logged", ha="center", va="center", transform=loss_ax.transAxes
        )

    label = key.removeprefix("eval_")
    if metric[0]:
        metric_ax.plot(*metric, "o-", color="tab:green", label=f"eval {label}")
        best = int(np.argmax(metric[1]))
        metric_ax.annotate(
            f"best {metric[1][best]:.3f}",
            (metric[0][best], metric[1][best]),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
        )
        metric_ax.margins(y=0.15)  # room for the "best" note under the title
        metric_ax.legend(loc="lower right")
    else:
        metric_ax.text(
            0.5,
            0.5,
            f"no eval {label} logged\n(evaluation ran no epoch)",
            ha="center",
            va="center",
            transform=metric_ax.transAxes,
        )
    metric_ax.set_xlabel("epoch")
    metric_ax.set_ylabel(label)
    metric_ax.set_title(f"Validation {label}")
    metric_ax.grid(alpha=0.3)
    loss_ax.grid(alpha=0.3)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.15)
    return path


def plot_score_bars(
    labels: Sequence[str],
    values: Sequence[float],
    path: Path,
    xlabel: str,
    title: str,
    overall: tuple[str, float] | None = None,
) -> Path:
    """Horizontal bars of one score per class (first class on top), each bar's value written
    beside it, and an optional dashed line for the overall score (its name, its value)."""
    fig = new_figure(7.0, max(2.5, 0.45 * len(labels) + 1.5))
    ax = fig.add_subplot()
    ax.barh(range(len(labels)), values, color="tab:blue")
    ax.set_yticks(range(len(labels)), list(labels))
    ax.invert_yaxis()
    ax.set_xlim(0, 1.08)
    for i, value in enumerate(values):
        ax.text(value + 0.01, i, f"{value:.3f}", va="center", fontsize=9)
    if overall is not None:
        name, value = overall
        ax.axvline(value, color="tab:orange", linestyle="--", label=f"{name} {value:.3f}")
        ax.legend(loc="lower right")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.15)
    return path
