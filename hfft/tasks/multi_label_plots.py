"""The multi-label plots of a split: each label's F1 (bars, with support and threshold), and each
label's 2x2 confusion (true/false positives and negatives), normalised per true class like the
single-label confusion matrix. Beyond MAX_LABELS labels only the most frequent are drawn."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hfft.plots import new_figure
from hfft.run_files import LABEL_CONFUSION_FILE, PER_LABEL_F1_FILE

MAX_LABELS = 50
ANNOTATE_MAX_LABELS = 30
_MAX_LABEL_CHARS = 24


def _short(label: str) -> str:
    label = str(label)
    return label if len(label) <= _MAX_LABEL_CHARS else label[: _MAX_LABEL_CHARS - 1] + "…"


def _shown(y_true: np.ndarray) -> tuple[np.ndarray, str]:
    """(label indices to draw, most frequent first; a title note when some are left out)."""
    support = y_true.sum(axis=0)
    order = np.argsort(-support, kind="stable")
    if len(order) <= MAX_LABELS:
        return order, ""
    return order[:MAX_LABELS], f" — the {MAX_LABELS} most frequent of {len(order)} labels"


def plot_per_label_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    label_names: Sequence[str],
    thresholds: Sequence[float],
    path: str | Path,
    title: str,
) -> Path:
    """A horizontal bar per label: its F1, with its support (positive rows) and threshold."""
    from sklearn.metrics import f1_score

    shown, note = _shown(y_true)
    f1 = f1_score(y_true, y_pred, average=None, zero_division=0)
    n = len(shown)
    fig = new_figure(8.0, min(20.0, 1.5 + 0.28 * n))
    ax = fig.add_subplot()
    ax.barh(range(n), f1[shown], color="tab:blue")
    ax.set_yticks(range(n), [_short(label_names[j]) for j in shown], fontsize=8 if n > 25 else 9)
    ax.invert_yaxis()  # the most frequent label on top
    ax.set_xlim(0, 1.18)
    ax.set_xlabel("F1")
    for row, j in enumerate(shown):
        ax.text(
            min(f1[j], 1.0) + 0.01, row,
            f"{f1[j]:.2f}  (n={int(y_true[:, j].sum())}, t={thresholds[j]:.2f})",
            va="center", fontsize=7 if n > 25 else 8,
        )  # fmt: skip
    ax.set_title(title + note, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_label_confusion(
    y_true: np.ndarray, y_pred: np.ndarray, label_names: Sequence[str], path: str | Path, title: str
) -> Path:
    """One row per label: true positives and false negatives as fractions of its positive rows,
    false positives and true negatives as fractions of its negative rows (counts written in)."""
    shown, note = _shown(y_true)
    tp = ((y_true == 1) & (y_pred == 1)).sum(axis=0)
    fn = ((y_true == 1) & (y_pred == 0)).sum(axis=0)
    fp = ((y_true == 0) & (y_pred == 1)).sum(axis=0)
    tn = ((y_true == 0) & (y_pred == 0)).sum(axis=0)
    counts = np.stack([tp, fn, fp, tn], axis=1)[shown].astype(float)
    totals = np.stack([tp + fn, tp + fn, fp + tn, fp + tn], axis=1)[shown].astype(float)
    matrix = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = len(shown)
    fig = new_figure(6.5, min(20.0, 1.8 + 0.3 * n))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.08, pad=0.02, label="fraction of the true class")
    ax.set_xticks(range(4), ["TP", "FN", "FP", "TN"])
    ax.set_yticks(range(n), [_short(label_names[j]) for j in shown], fontsize=8 if n > 25 else 9)
    ax.set_xlabel("true positives / false negatives (of the label's rows) · false positives / "
                  "true negatives (of the others)", fontsize=8)  # fmt: skip
    if n <= ANNOTATE_MAX_LABELS:
        for i in range(n):
            for k in range(4):
                ax.text(k, i, str(int(counts[i, k])), ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, k] > 0.5 else "black")  # fmt: skip
    ax.set_title(title + note, fontsize=10)
    return _save(fig, path)


def _save(fig: object, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.15)  # type: ignore[attr-defined]
    return path


def plot(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    label_names: Sequence[str],
    run_dir: Path,
    split: str,
) -> list[str]:
    """The split's per-label F1 bars and per-label confusion; returns the file names."""
    from sklearn.metrics import f1_score

    y_true, y_pred, thresholds = data
    micro = f1_score(y_true, y_pred, average="micro", zero_division=0) if len(y_true) else 0.0
    title = f"{split} split — {len(y_true)} examples, micro F1 {micro:.3f}"
    plot_per_label_f1(
        y_true, y_pred, label_names, thresholds, Path(run_dir) / PER_LABEL_F1_FILE, title
    )
    plot_label_confusion(y_true, y_pred, label_names, Path(run_dir) / LABEL_CONFUSION_FILE, title)
    return [PER_LABEL_F1_FILE, LABEL_CONFUSION_FILE]
