"""Evaluation of sentiment models and the labelled data bundled for training them (numpy only).

The bundled data lives in the package under ``tsbot/data/sentiment/`` as gzip CSV files (read through
``importlib.resources``, so it works from an installed wheel):

* ``twitter_financial_news_train.csv.gz`` (9,543 rows) and ``twitter_financial_news_valid.csv.gz`` (2,388):
  the Hugging Face dataset ``zeroshot/twitter-financial-news-sentiment``, MIT; columns ``text,label`` with
  0 Bearish, 1 Bullish, 2 Neutral.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from tsbot.core.errors import DataError
from tsbot.sentiment.labelled import LABELS, read_labelled
from tsbot.sentiment.ports import SentimentModel

_DATA = ("data", "sentiment")
TWITTER_TRAIN = "twitter_financial_news_train.csv.gz"
TWITTER_VALID = "twitter_financial_news_valid.csv.gz"


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Scores of a model on one labelled set.

    Attributes:
        n: number of texts.
        accuracy: share of texts whose predicted label is the true one, in [0, 1].
        macro_f1: unweighted mean of the per-label F1 scores (a label never seen nor predicted scores 0).
        labels: label order of ``confusion``: ``("negative", "neutral", "positive")``.
        confusion: ``confusion[i][j]`` = texts of true label ``labels[i]`` predicted as ``labels[j]``.
    """

    n: int
    accuracy: float
    macro_f1: float
    labels: tuple[str, ...]
    confusion: list[list[int]]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, figures rounded to 4 decimals."""
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "labels": list(self.labels),
            "confusion_matrix": self.confusion,
        }


def report_from_labels(truth: Sequence[str], predicted: Sequence[str]) -> EvalReport:
    """:class:`EvalReport` of predicted against true label values; raises ``ValueError`` on unknown labels."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predictions")
    index = {label: k for k, label in enumerate(LABELS)}
    try:
        t = np.asarray([index[v] for v in truth], dtype=np.int64)
        p = np.asarray([index[v] for v in predicted], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"unknown label {exc.args[0]!r}; expected one of {LABELS}") from exc
    k = len(LABELS)
    confusion = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(np.float64)
    denom = confusion.sum(axis=0) + confusion.sum(axis=1)
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    n = int(t.size)
    return EvalReport(
        n=n,
        accuracy=float(tp.sum() / n) if n else 0.0,
        macro_f1=float(f1.mean()),
        labels=LABELS,
        confusion=confusion.tolist(),
    )


def evaluate_model(model: SentimentModel, texts: Sequence[str], labels: Sequence[str]) -> EvalReport:
    """Score ``texts`` with ``model`` and compare its labels with ``labels`` (values of :data:`LABELS`).

    Raises:
        ValueError: lengths differ or a label is not one of :data:`LABELS`.
    """
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    predicted = [s.label.value for s in model.score(list(texts))] if texts else []
    return report_from_labels(labels, predicted)


def read_bundled(name: str) -> tuple[list[str], list[str]]:
    """Texts and label values (:data:`LABELS`) of one bundled file (see the module docstring).

    Raises:
        DataError: the file is missing, unreadable or holds an unknown label.
    """
    source = resources.files("tsbot").joinpath(*_DATA, name)
    try:
        raw = gzip.decompress(source.read_bytes())
    except (OSError, EOFError) as exc:
        raise DataError(f"bundled sentiment data {name} cannot be read: {exc}") from exc
    data = read_labelled(raw, name=f"bundled sentiment data {name}")
    return data.texts, data.labels


def read_labelled_sentences(path: Path) -> tuple[list[str], list[str]]:
    """Texts and labels of a labelled file, such as ``sentence@label`` lines (the Financial PhraseBank's layout);
    every layout of :func:`tsbot.sentiment.labelled.read_labelled` is accepted.

    Raises:
        DataError: the file cannot be read, or a line has no label or an unknown one (the message names the file
            and the line).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    data = read_labelled(raw, name=str(path))
    return data.texts, data.labels
