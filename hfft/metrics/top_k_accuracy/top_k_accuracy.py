"""Top-k accuracy as a local `evaluate` metric module (hfft ships it so evaluation works offline).

It takes the k best class ids per example (not the logits), so an evaluation loop only has to
keep k integers per example in memory.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Top-k accuracy: the fraction of examples whose true label is among the k best."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `int`): per example, class ids ranked
        best first (at least k of them).
    references (`list` of `int`): true class ids.
    k (`int`): how many of the ranked ids count (default 5).
Returns:
    top{k}_accuracy (`float`): in [0, 1].
"""


class TopKAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.List(datasets.Value("int64")),
                    "references": datasets.Value("int64"),
                }
            ),
        )

    def _compute(self, predictions, references, k=5):
        if not references:
            raise ValueError("top-k accuracy of zero examples is undefined")
        ranked = np.asarray(predictions)[:, :k]
        hits = (ranked == np.asarray(references)[:, None]).any(axis=1)
        return {f"top{k}_accuracy": float(hits.mean())}
