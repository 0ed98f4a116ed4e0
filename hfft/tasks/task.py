"""The `Task` value and its parts: everything task-specific the pipeline needs, as data and
plain functions (a task is data, not a subclass). A task combines

- a `Modality`: how its input column is named, cast, checked, read from a user's files for
  `hfft predict`, saved as a demo example and shown in the card's usage snippet, with the
  modality's own recipe options (a dataclass validated like the rest of the recipe);
- a `LabelScheme`: how labels are encoded and stratified, what the model is told about them
  (`problem_type`), how examples are picked, how the frozen-feature head computes its loss, and
  the metrics: logit reduction, scores, the per-class report and the plots;
- the transformers pieces: the Auto model class, the architecture suffix that names the task in
  a saved `config.json`, the preprocessing (`prepare`) and the data collator.

Adding a task is one module in `hfft/tasks/` and one line in `TASKS`; see the README's "Adding a
task". Every part here is imported when recipes are validated: no torch or datasets at import
time (those are imported inside the functions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets


@dataclass
class Item:
    """One user input for `hfft predict`: as the user will see it, and what to feed the
    pipeline (or why it cannot be read)."""

    input: str
    payload: Any = None
    error: str | None = None


@dataclass
class NoOptions:
    """A modality without recipe options of its own."""


def every_label(pipe: Any) -> dict[str, Any]:
    """`hfft predict`'s pipeline kwargs of a classifier: every label's score (the scheme's
    `predict_fields` picks)."""
    return {"top_k": pipe.model.config.num_labels}


def label_scores(output: Any, payload: Any) -> list[dict[str, Any]]:
    """A classifier's pipeline output for one input as [{"label", "score"}, ...]."""
    return [{"label": s["label"], "score": float(s["score"])} for s in output]


@dataclass(frozen=True)
class Modality:
    """One kind of input (the standard input column's name is the modality's name)."""

    name: str
    # Column names tried, in order, when data.columns does not map the input column.
    aliases: tuple[str, ...]
    # What the checkpoint's processor is called in messages ("image processor", "tokenizer").
    processor_kind: str
    # (checkpoint dir or Hub id, from_pretrained kwargs) -> processor.
    load_processor: Callable[[str, dict[str, Any]], Any]
    # A standardised split -> the same split with the input column typed for decoding (e.g. a
    # column of image paths cast to `datasets.Image()`).
    cast: Callable[[datasets.Dataset], datasets.Dataset]
    # A standardised split -> (the view to scan, a check of one value that returns why it is
    # unusable or None). The view may skip decoding (raw bytes and paths).
    scan: Callable[[datasets.Dataset], tuple[datasets.Dataset, Callable[[Any], str | None]]]
    # `hfft predict`: the user's arguments -> items (files found, folders expanded), lazily.
    expand_inputs: Callable[[Iterable[str]], Iterator[Item]]
    # `hfft predict`: fill one item's payload (decode a file), or set its error.
    read_input: Callable[[Item], Item]
    # (one raw example's input, examples dir, index) -> the "input" value of examples.json.
    save_example: Callable[[Any, Path, int], str]
    # The input of the card's usage snippet, as Python source ('"path/to/image.jpg"').
    usage_example: str
    # Keyword arguments for every pipeline call on this input (e.g. truncation for texts).
    pipeline_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # The modality's recipe options, read from the `data:` section (see hfft.recipe).
    options: type = NoOptions
    # recipe -> reasons the model's inputs change from epoch to epoch (augmentation), which
    # rules out caching frozen-backbone features.
    varying_inputs: Callable[[Any], list[str]] = lambda recipe: []
    # The `datasets` builder that takes labels from folder names for this modality
    # (imagefolder), whose layout mistakes hfft explains.
    folder_builder: str | None = None
    # Formats the modality reads itself, not through `datasets`: a data.path name (used like a
    # builder, with data.data_files/data_dir) or a data file's extension (".conll") -> a reader
    # of {split: [file paths]} -> splits.
    readers: Mapping[str, Callable[[Mapping[str, Sequence[str]]], Any]] = field(
        default_factory=dict
    )
    # `hfft predict`: (the pipeline) -> the read_input to use with it, when what the pipeline is
    # fed depends on its processor (audio resampled to the feature extractor's rate); None: use
    # read_input as it is.
    pipeline_reader: Callable[[Any], Callable[[Item], Item]] | None = None


def top_predictions(
    scores: list[dict[str, Any]], decision: Any, top_k: int, all_scores: bool
) -> dict[str, Any]:
    """The single-label `hfft predict` line: the `top_k` best labels (every label's score
    too with `all_scores`)."""
    out: dict[str, Any] = {"predictions": scores[:top_k]}
    if all_scores:
        out["scores"] = scores
    return out


@dataclass(frozen=True)
class LabelScheme:
    """How a task's targets are encoded, scored and reported.

    `build_metrics` returns an object with preprocess_logits_for_metrics, compute_metrics,
    names, report(predictions, label_ids), and the scheme's decision rule: fit(predictions,
    label_ids) chooses it on the validation split after training (per-label thresholds; a no-op
    for argmax), decision() is what `decision_file` saves (None: nothing), use(saved) loads it.
    """

    name: str
    # {split: standardised split} -> (label names, splits with encoded labels); checks that no
    # held-out split has labels train lacks.
    encode: Callable[[dict[str, datasets.Dataset]], tuple[list[str], dict[str, datasets.Dataset]]]
    # (split, label names, split name) -> the split encoded with those (a trained model's) names.
    encode_with: Callable[[datasets.Dataset, Sequence[str], str], datasets.Dataset]
    # (split, fraction, seed, name of the held-out split) -> (kept, carved): a held-out split
    # carved from train, stratified as the scheme allows.
    carve: Callable[[datasets.Dataset, float, int, str], tuple[datasets.Dataset, datasets.Dataset]]
    # ({split: encoded split}, label names) -> None, or DataError for labels a model cannot
    # learn (a held-out class without training rows, a label column of per-row ids).
    check_coverage: Callable[[dict[str, datasets.Dataset], Sequence[str]], None]
    # (split, n) -> row indices of a few examples that cover the labels, for the demo.
    pick_examples: Callable[[datasets.Dataset, int], list[int]]
    # (one encoded label, label names) -> the "label" value of examples.json.
    example_label: Callable[[Any, Sequence[str]], Any]
    # (logits, labels) -> loss, for the head trained alone on cached features; the same loss as
    # the task model's own.
    head_loss: Callable[[Any, Any], Any]
    # (metric names, label names) -> a metrics object for the Trainer and the report:
    # preprocess_logits_for_metrics (reduce logits batch by batch), compute_metrics, ks...,
    # report(predictions, label_ids) -> (the split's metrics.json entry, its plot data).
    build_metrics: Callable[[Sequence[str], Sequence[str]], Any]
    # (plot data, label names, run dir, split name) -> names of the plot files written.
    plot: Callable[[Any, Sequence[str], Path, str], list[str]]
    # (title, file name) of the plots `plot` may write, for the card.
    plots: tuple[tuple[str, str], ...] = ()
    # Extra arguments of the pipeline call in the card's usage snippet (Python source).
    usage_kwargs: str = ""
    # Extra config kwargs for the model (e.g. problem_type).
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # Metric names computed when eval.metrics is not set.
    default_metrics: tuple[str, ...] = ()
    # ({split: standardised split}, the recipe's data spec) -> (why the data is in this scheme's
    # form, the splits with their labels as the scheme reads them), or None when it is not; a
    # task tries its `label_schemes` in order. None: every data is (the reason is "").
    resolve: Callable[[dict[str, datasets.Dataset], Any], tuple[str, dict] | None] | None = None
    # The run-directory file holding the decision rule `fit` chose (None: the scheme has none).
    decision_file: str | None = None
    # (every label's {"label", "score"} best first, the saved decision or None, --top-k,
    # --all-scores) -> the fields of one `hfft predict` line besides "input".
    predict_fields: Callable[[list[dict[str, Any]], Any, int, bool], dict[str, Any]] = (
        top_predictions
    )
    # A sentence under the card's usage snippet (how to read the pipeline's scores).
    usage_note: str = ""
    # Column names tried, in order, for the label column when data.columns does not map it
    # (empty: hfft.data's defaults, "label", "labels", "class", ...).
    aliases: tuple[str, ...] = ()
    # `hfft predict`: pipeline -> kwargs of every pipeline call (a tagger's aggregation).
    predict_kwargs: Callable[[Any], dict[str, Any]] = every_label
    # `hfft predict --threshold` sets the pipeline's `threshold` (a detector's lowest box score).
    predict_threshold: bool = False
    # `hfft predict`: (one input's pipeline output, its payload) -> what `predict_fields` reads
    # (a classifier's [{"label", "score"}, ...] best first; a tagger's entities).
    read_output: Callable[[Any, Any], list[dict[str, Any]]] = label_scores
    # (train features, train labels, {split: features}, number of labels, {split: labels}) ->
    # {baseline: {split: predictions the scheme's metrics score}}: the card's baselines
    # (hfft.baselines).
    # Features without columns mean there is no checkpoint to probe. None: no baselines.
    baselines: Callable[..., dict[str, dict[str, Any]]] | None = None
    # One label per token (a tagger): the linear probe fits each scored token's features.
    token_level: bool = False
    # What the bootstrap resamples (the card's note): the scheme's independent units.
    example_unit: str = "examples"
    # Whether the metrics carry bootstrap intervals (`interval_stats`, paired comparisons);
    # False for metrics that are no sum of per-example counts (COCO mAP ranks a split's boxes
    # together).
    intervals: bool = True
    # Whether evaluation works across processes (torchrun/accelerate launch): the Trainer
    # gathers predictions and targets from every rank. False for targets it cannot gather in
    # step with the predictions (detection's per-image box dicts): such runs are refused at
    # preflight instead of failing after training.
    multi_process_eval: bool = True


@dataclass(frozen=True)
class Task:
    """A task is data, not a subclass: adding one is a new module and a dict line."""

    # The recipe's `task:` value and the Hub pipeline tag.
    name: str
    modality: Modality
    labels: LabelScheme
    # transformers Auto class that builds the model, e.g. "AutoModelForImageClassification".
    model_class: str
    # `architectures` suffix in a saved config.json that marks a model of this task.
    architecture_suffix: str
    # (standardised splits, processor, recipe) -> model-ready splits (train augmented).
    prepare: Callable[[datasets.DatasetDict, Any, Any], datasets.DatasetDict]
    # processor -> data collator for the Trainer (None: the Trainer's default).
    collator: Callable[[Any], Any]
    # TrainingArguments defaults for this task; the recipe's training: wins.
    training_defaults: Mapping[str, Any] = field(default_factory=dict)
    # What the card calls the part of the model that is new ("classification head").
    head_name: str = "classification head"
    # (task model just built) -> the same model, its backbone named where transformers'
    # base_model_prefix names none (Whisper's classifier keeps its encoder in `encoder`), before
    # anything looks for its head.
    locate_backbone: Callable[[Any], Any] = lambda model: model
    # (task model just loaded, its processor, recipe) -> the model to put in its mode, for what
    # the checkpoint alone cannot say (Whisper's 30 s window cut to data.max_duration); the
    # processor may be adjusted to match. Also applied to a saved model evaluated by `hfft eval`.
    adapt_model: Callable[[Any, Any, Any], Any] = lambda model, processor, recipe: model
    # (a saved config.json) -> True when this task serves the model whatever its architecture
    # suffix says (wav2vec2's audio classifier is *ForSequenceClassification, like a text one);
    # tried before the suffixes.
    claims_config: Callable[[Mapping[str, Any]], bool] = lambda config: False
    # Every label scheme the task's data may ask for, in the order they are tried when data
    # loads (`resolve_labels`); `labels` is the one in use. Empty: `labels` alone.
    label_schemes: tuple[LabelScheme, ...] = ()
    # (recipe, model-ready splits, processor, label names) -> Trainer callbacks of the task's
    # own (a detector's preview of its training boxes, drawn when training begins).
    callbacks: Callable[[Any, Any, Any, list[str]], list[Any]] = (
        lambda recipe, prepared, processor, names: []
    )

    def resolve_labels(
        self, splits: dict[str, datasets.Dataset], spec: Any
    ) -> tuple[Task, str, dict[str, datasets.Dataset]]:
        """(this task with the label scheme the data asks for, why, the splits with their labels
        as that scheme reads them): the first of `label_schemes` whose `resolve` claims them."""
        for scheme in self.label_schemes or (self.labels,):
            claimed = scheme.resolve(splits, spec) if scheme.resolve else ("", splits)
            if claimed is not None:
                return replace(self, labels=scheme), claimed[0], claimed[1]
        from hfft.errors import DataError

        names = [scheme.name for scheme in self.label_schemes]
        raise DataError(f"the label column fits none of {self.name}'s label schemes ({names})")

    def for_config(self, config: Mapping[str, Any]) -> Task:
        """This task with the label scheme of a saved model, told by its config's problem_type
        (the scheme whose model_kwargs set it; else the default)."""
        problem = config.get("problem_type")
        for scheme in self.label_schemes:
            if problem and scheme.model_kwargs.get("problem_type") == problem:
                return replace(self, labels=scheme)
        return self

    @property
    def input_column(self) -> str:
        """hfft's standard name of the input column."""
        return self.modality.name
