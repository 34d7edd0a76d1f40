"""Multi-label classification: features or an image in, a set of labels out (one sigmoid per label)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shendu.errors import ConfigError, DataError, Problem
from shendu.metrics import apply_thresholds, build_metrics, tune_thresholds
from shendu.metrics.registry import DEFAULT_METRICS
from shendu.tasks.base import SupervisedTask
from shendu.tasks.registry import TASKS

THRESHOLDS_FILE = "thresholds.json"
# A coarse grid: validation splits of a few hundred samples make the exact optimum over every midpoint overfit
# (tune_thresholds' own advice); 0.05 steps still move a rare label's threshold well below 0.5.
THRESHOLD_GRID = [round(0.05 * k, 2) for k in range(1, 20)]
TUNING_METRIC = "micro-f1"  # the headline score (and the monitor): per-label F1 would trade it for macro-F1
FIXED = "threshold-0.5"  # the summary row of the untuned decision rule p > 0.5


@dataclass
class MultilabelTask(SupervisedTask):
    """One logit per label; metrics on ``logit - logit(t_l)``, so a label is present when sigmoid(z_l) > t_l.

    ``thresholds`` (L,) are None while training (every t_l = 0.5) and set by
    :meth:`finish` (tuned on the validation split) or :meth:`restore` (a saved run).
    """

    thresholds: list[float] | None = None
    metric_names: list[Any] | None = None

    def configure(self, config: Any) -> MultilabelTask:
        """``metrics:`` of the config replaces the default set (micro-f1, macro-f1, hamming-loss,
        subset-accuracy, label-ranking-ap)."""
        self.metric_names = list(config.metrics) if config.metrics else None
        return self

    def restore(self, run_path: Any) -> MultilabelTask:
        """The thresholds tuned when the run finished (``thresholds.json``); none yet: 0.5 for every label."""
        path = Path(run_path) / THRESHOLDS_FILE
        if path.is_file():
            self.thresholds = [float(t) for t in json.loads(path.read_text())["thresholds"]]
        return self

    def load_data(self, data_config: Any, seed: int, preprocessing: Any = None) -> Any:
        if data_config.stream:
            raise ConfigError([Problem("data.stream", True, "false for multilabel classification",
                                       "Multilabel data is read into memory; set data.stream=false.")])
        return super().load_data(data_config, seed, preprocessing)


    def decisions(self, outputs: torch.Tensor) -> torch.Tensor:
        """Logits shifted so that 0 is each label's threshold (unchanged while no thresholds are set)."""
        return outputs if self.thresholds is None else apply_thresholds(outputs, self.thresholds)

    def evaluation_metrics(self, bundle: Any) -> Any:
        """The config's ``metrics:``, else the multilabel defaults and label-ranking-ap."""
        names = self.metric_names or [*DEFAULT_METRICS["multilabel"], "label-ranking-ap"]
        return build_metrics(names, "multilabel", num_outputs=len(bundle.class_names))

    def update_metrics(self, metrics: Any, outputs: torch.Tensor, targets: torch.Tensor, bundle: Any) -> None:
        """The metrics at the task's thresholds (0.5 until tuned); ranking metrics read the raw scores,
        which a per-label shift would reorder."""
        decisions = self.decisions(outputs)
        for metric in metrics.values():
            metric.update(outputs if metric.scores else decisions, targets)

    def finish(self, model: nn.Module, bundle: Any, run_dir: Any, config: Any, device: torch.device,
               metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Tune per-label thresholds for micro-F1 on the validation split; report val and test with them.

        ``metrics`` (computed at 0.5) becomes the tuned scores, what the run
        predicts; the 0.5 scores stay in the summary as the "threshold-0.5"
        rows. Validation scores with tuned thresholds are optimistic (they
        were tuned there); the test split is the honest comparison.
        """
        eval_batch = config.train.eval_batch_size or max(256, config.train.batch_size)
        logits = self.outputs(model, bundle.val.inputs, eval_batch, device).cpu()
        tuned = tune_thresholds(torch.sigmoid(logits.double()), bundle.val.targets.cpu(), metric=TUNING_METRIC,
                                grid=THRESHOLD_GRID)
        self.thresholds = [round(float(t), 6) for t in tuned]
        labels = list(bundle.class_names)
        record = {"labels": labels, "thresholds": self.thresholds, "tuned_on": "val",
                  "criterion": "micro-F1 (coordinate ascent over labels), thresholds 0.05..0.95 in steps of 0.05"}
        run_dir.write_json(THRESHOLDS_FILE, record)
        loss_fn = self.build_loss(config.loss).to(device)
        fixed = {}
        for split_name in list(metrics):
            fixed[split_name] = {FIXED: metrics[split_name]}
            metrics[split_name] = self.evaluate(model, getattr(bundle, split_name), loss_fn, bundle, eval_batch, device)
        return {"thresholds": dict(zip(labels, self.thresholds)), "baselines": fixed,
                "threshold_tuning": record["criterion"] + ", on the validation split"}

    def predict(self, model: nn.Module, preprocessing: Any, inputs: Any, *, config: Any = None,
                batch_size: int = 256, **options: Any) -> list[dict[str, Any]]:
        """Rows (a CSV / ARFF path, a DataFrame, records) or images (files, a folder, arrays) -> label sets."""
        if options:
            raise TypeError(f"{self.name} predictions take no options; received {', '.join(options)}. "
                            "Pass only the inputs (rows or images).")
        return super().predict(model, preprocessing, inputs, config=config, batch_size=batch_size)

    def describe(self, outputs: torch.Tensor, preprocessing: Any) -> list[dict[str, Any]]:
        """Per input: ``labels``, the labels with sigmoid(z_l) > t_l (maybe none), and every label's probability."""
        names = preprocessing.class_names
        thresholds = torch.tensor(self.thresholds or [0.5] * len(names), dtype=torch.float64)
        if outputs.dim() != 2 or outputs.shape[1] != len(names):
            raise DataError(f"Expected one logit per label (N, {len(names)}); the model gave {tuple(outputs.shape)}. "
                            "The run's data.json and checkpoint disagree: retrain the run.")
        probabilities = torch.sigmoid(outputs.double()).cpu()  # (N, L)
        present = probabilities > thresholds  # (N, L)
        return [{"labels": [n for n, on in zip(names, row) if on],
                 "probabilities": {n: float(p) for n, p in zip(names, values)}}
                for row, values in zip(present.tolist(), probabilities)]


@TASKS.register("multilabel-classification",
                summary="Assign each sample a set of labels (one sigmoid per label, thresholds tuned on validation).",
                formula="p_l = sigmoid(f(x)_l); loss = -mean_l [y_l log p_l + (1 - y_l) log(1 - p_l)]; "
                        "labels = {l : p_l > t_l}, (t_1..t_L) maximising micro-F1 on the validation split",
                reference="Zhang & Zhou (2014), A review on multi-label learning algorithms, IEEE TKDE 26(8); "
                          "Tsoumakas & Katakis (2007), Multi-label classification: an overview",
                inputs=("tabular", "image"))
def multilabel_classification() -> MultilabelTask:
    """Assign each row of features or each image any number of L labels.

    Use it when labels co-occur (a scene is both beach and urban, a gene has
    several functions): one logit per label, each an independent yes/no.
    Data: ARFF files with MEKA headers (the ``arff`` source; catalogued
    ``scene`` and ``yeast``), a CSV with one 0/1 column per label
    (``data.target: [col1, col2, ...]``), or images listed in a label CSV
    (the ``image-csv`` source: one 0/1 column per label, or one column of
    labels separated by spaces, commas or ``|``). Splits are random
    (stratification needs one class per sample); class weights and
    resampling do not apply: weight rare labels with the loss's
    ``pos_weight``, or use ``focal`` / ``asymmetric``.

    Default model: ``mlp`` for tables, ``cnn`` for images; loss:
    ``binary-cross-entropy``. Metrics: micro-F1 (picks the best checkpoint),
    macro-F1, Hamming loss, subset accuracy and label-ranking average
    precision. After training, the labels' thresholds t_l are tuned for
    micro-F1 on the validation split (``tune_thresholds(metric="micro-f1")``,
    on a 0.05 grid) and stored in ``thresholds.json``; the reported
    val / test scores use them, and the scores at 0.5 are kept beside them
    (rows "threshold-0.5"). A prediction lists the labels with p_l > t_l and
    every label's probability.
    """
    return MultilabelTask(
        name="multilabel-classification", target_kind="multilabel", input_kinds=("tabular", "image"),
        default_models={"tabular": {"name": "mlp"}, "image": {"name": "cnn"}},
        default_loss={"name": "binary-cross-entropy"},
    )
