"""Precision as a local `evaluate` metric module (hfft ships it so evaluation works offline).

The averaging is the module's config: `evaluate.load(path, config_name="macro")` returns
{"precision_macro": ...} and "weighted" returns {"precision_weighted": ...},
so several averages can be combined with `evaluate.combine` without their result keys colliding.
"""

import datasets
import evaluate
from sklearn.metrics import precision_score

_AVERAGES = ("macro", "weighted", "micro")
_DESCRIPTION = (
    "Precision: TP / (TP + FP) per class, averaged over classes (config: macro | weighted | micro)."
)
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class ids.
    references (`list` of `int`): true class ids.
    labels (`list` of `int`, optional): the classes to average over (default: every class
        seen in references or predictions, as scikit-learn does).
Returns:
    precision_<average> (`float`): in [0, 1]; a class never predicted
        counts as 0, without a warning.
"""


class Precision(evaluate.Metric):
    def _info(self):
        if self.config_name not in (*_AVERAGES, "default"):
            raise ValueError(f"config_name must be one of {_AVERAGES}, got {self.config_name!r}")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.precision_score.html"
            ],
        )

    def _compute(self, predictions, references, labels=None):
        average = "macro" if self.config_name == "default" else self.config_name
        score = precision_score(
            references, predictions, labels=labels, average=average, zero_division=0
        )
        return {f"precision_{average}": float(score)}
