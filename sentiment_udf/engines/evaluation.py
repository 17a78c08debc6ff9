"""Accuracy of a model on labelled rows: the classification report (precision, recall, F1)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from ..runtime.model import SentimentModel
from ..runtime.model_files import label_name
from ..runtime.result_cache import ResultCache
from .sql_names import Source, SourceError, check_columns, first_few, quote_identifier


@dataclass(frozen=True)
class LabelScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    per_label: dict[str, LabelScores]
    accuracy: float
    macro: LabelScores
    weighted: LabelScores

    def to_dict(self) -> dict:
        def row(s: LabelScores) -> dict:
            return {"precision": s.precision, "recall": s.recall, "f1": s.f1, "support": s.support}

        return {
            "labels": {label: row(s) for label, s in self.per_label.items()},
            "accuracy": self.accuracy,
            "macro_avg": row(self.macro),
            "weighted_avg": row(self.weighted),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        """The layout of scikit-learn's classification_report."""
        width = max(len("weighted avg"), *(len(label) for label in self.per_label))
        head = f"{'':>{width}}  precision    recall  f1-score   support"
        lines = [head, ""]
        for label, s in self.per_label.items():
            lines.append(_line(label, s, width))
        total = self.weighted.support
        lines += ["", f"{'accuracy':>{width}}  {'':>9} {'':>9} {self.accuracy:>9.4f} {total:>9}"]
        lines += [
            _line("macro avg", self.macro, width),
            _line("weighted avg", self.weighted, width),
        ]
        return "\n".join(lines)


def _line(name: str, s: LabelScores, width: int) -> str:
    return f"{name:>{width}}  {s.precision:>9.4f} {s.recall:>9.4f} {s.f1:>9.4f} {s.support:>9}"


def classification_report(
    truth: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]
) -> Report:
    """Per-label precision, recall and F1, accuracy, macro and support-weighted averages.

    A row the model gave no label (blank text) counts as wrong.
    """
    per_label = {}
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted))
        predicted_n = sum(p == label for p in predicted)
        support = sum(t == label for t in truth)
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = LabelScores(precision, recall, f1, support)
    total = len(truth)
    scores = list(per_label.values())
    def averaged(weight) -> LabelScores:
        norm = sum(weight(s) for s in scores) or 1
        p, r, f = (sum(getattr(s, n) * weight(s) for s in scores) / norm for n in ("precision", "recall", "f1"))
        return LabelScores(p, r, f, total)

    macro = averaged(lambda s: 1)
    weighted = averaged(lambda s: s.support)
    accuracy = sum(t == p for t, p in zip(truth, predicted)) / max(total, 1)
    return Report(per_label, accuracy, macro, weighted)


def evaluate(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    model: SentimentModel,
    *,
    text_column: str,
    label_column: str,
    title_column: str | None = None,
    cache: ResultCache | None = None,
    label_map: Mapping[str, str] | None = None,
) -> Report:
    """Score labelled rows of `source` and report; labels match the model's case-insensitively,
    after `label_map` ({value in the data: model label}, e.g. {"POS": "positive"})."""
    columns = {
        "--text-column": text_column,
        "--label-column": label_column,
        "--title-column": title_column,
    }
    check_columns(con, source, columns, text_columns=("--text-column", "--title-column"))
    title = quote_identifier(title_column) if title_column else "NULL::VARCHAR"
    rows = con.execute(
        f"SELECT trim({quote_identifier(label_column)}::VARCHAR), {title}, "
        f"{quote_identifier(text_column)} FROM {source.sql}",
        list(source.params),
    ).fetchall()
    mapping = {label_name(k): label_name(v).lower() for k, v in (label_map or {}).items()}
    unmapped = sorted(set(mapping.values()) - set(model.labels))
    if unmapped:
        raise SourceError(
            f"--label-map maps to {', '.join(unmapped)}, not labels of the model "
            f"({', '.join(model.labels)})"
        )
    truth = [mapping.get(label_name(row[0]), label_name(row[0]).lower()) for row in rows]
    unknown = sorted({str(raw[0]) for raw, t in zip(rows, truth) if t not in model.labels})
    if unknown:
        count = f"{len(unknown):,} values" if len(unknown) > 5 else "values"
        raise SourceError(
            f"--label-column {label_column!r} has {count} the model does not know: "
            f"{first_few([repr(u[:40]) for u in unknown])} (model labels: "
            f"{', '.join(model.labels)}; map them with --label-map VALUE=LABEL)"
        )
    inputs = model.inputs([row[1] for row in rows], [row[2] for row in rows])
    predicted = model.labels_of(model.predict_proba(inputs, cache))
    return classification_report(truth, predicted, model.labels)
