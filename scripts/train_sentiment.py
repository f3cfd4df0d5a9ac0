"""Train tsbot's default sentiment model and write it into the package.

Usage::

    python scripts/train_sentiment.py [--source DATA_DIR] [--out MODEL_DIR] [--c 4.0] [--with-surge]

Reads ``sentiment/twitter_financial_news_sentiment/sent_train.csv`` under the shared data folder (by default
``<repo>/../shared/data``), labels 0 Bearish -> negative, 1 Bullish -> positive, 2 Neutral -> neutral; with
``--with-surge`` it also reads ``sentiment/surge_ai/*.csv`` (Positive/Negative only). It fits scikit-learn's
multinomial ``LogisticRegression`` (L2, lbfgs: deterministic) on the hashed features of
:mod:`tsbot.sentiment.default_model`, evaluates on ``sent_valid.csv`` (never trained on), checks that the
numpy scorer reproduces scikit-learn's predictions, prints accuracy, macro F1 and the confusion matrix, and
writes ``model.json`` and ``weights.npz`` to ``src/tsbot/data/models/sentiment_default/`` (or ``--out``).

Needs scikit-learn and scipy (dev dependencies); the shipped model needs numpy only.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from tsbot.sentiment.default_model import (
    MODEL_FILE,
    WEIGHTS_FILE,
    DefaultSentimentModel,
    FeatureParams,
    HashedFeaturizer,
    save_model,
)

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("negative", "positive", "neutral")  # column k is the twitter dataset's label k
TWITTER = "sentiment/twitter_financial_news_sentiment"
SURGE = {"crypto_sentiment.csv": "Comment Text", "stock_sentiment.csv": "Tweet Text"}
# Chosen by 5-fold cross-validation on sent_train.csv (never on sent_valid.csv).
PARAMS = FeatureParams(char_min=1, char_max=5, word_weight=1.5)
DEFAULT_C = 8.0
MODEL_VERSION = 1


def read_twitter(path: Path) -> tuple[list[str], np.ndarray]:
    """Texts and labels (0 negative, 1 positive, 2 neutral) of one twitter-financial-news CSV."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], np.asarray([int(r["label"]) for r in rows], dtype=np.int64)


def read_surge(folder: Path) -> tuple[list[str], np.ndarray]:
    """Texts and labels (0 negative, 1 positive) of the surge-ai crypto and stock CSVs."""
    texts: list[str] = []
    labels: list[int] = []
    for name, column in SURGE.items():
        with (folder / name).open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["Sentiment"] in ("Positive", "Negative"):
                    texts.append(row[column])
                    labels.append(1 if row["Sentiment"] == "Positive" else 0)
    return texts, np.asarray(labels, dtype=np.int64)


def features(featurizer: HashedFeaturizer, texts: list[str]) -> sp.csr_matrix:
    """Sparse matrix ``(len(texts), n_buckets)`` of the hashed features (repeats summed)."""
    rows, buckets, values = featurizer.transform(texts)
    shape = (len(texts), featurizer.params.n_buckets)
    return sp.csr_matrix((values, (rows, buckets)), shape=shape)


def print_report(console: Console, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, object]:
    """Print accuracy, macro F1 and the confusion matrix; return them as a dict."""
    acc = float(accuracy_score(y_true, y_pred))
    f1 = float(f1_score(y_true, y_pred, average="macro"))
    cm = confusion_matrix(y_true, y_pred, labels=list(range(len(CLASSES))))
    table = Table(title=f"validation: accuracy {acc:.4f}, macro F1 {f1:.4f} (rows true, columns predicted)")
    table.add_column("")
    for name in CLASSES:
        table.add_column(name, justify="right")
    for name, row in zip(CLASSES, cm, strict=True):
        table.add_row(name, *(str(v) for v in row))
    console.print(table)
    return {
        "accuracy": round(acc, 4),
        "macro_f1": round(f1, 4),
        "n": int(y_true.size),
        "confusion_matrix": cm.tolist(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "src/tsbot/data/models/sentiment_default")
    parser.add_argument("--c", type=float, default=DEFAULT_C, help="inverse L2 strength of the regression")
    parser.add_argument("--with-surge", action="store_true", help="also train on surge-ai Positive/Negative")
    args = parser.parse_args(argv)
    console = Console()
    train_csv, valid_csv = args.source / TWITTER / "sent_train.csv", args.source / TWITTER / "sent_valid.csv"
    if not train_csv.is_file() or not valid_csv.is_file():
        console.print(f"[red]missing {train_csv} or {valid_csv}; pass --source")
        return 2
    np.random.seed(0)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        step = progress.add_task("reading data", total=None)
        x_train, y_train = read_twitter(train_csv)
        x_valid, y_valid = read_twitter(valid_csv)
        sources = [
            {
                "name": "twitter-financial-news-sentiment (sent_train.csv)",
                "rows": len(x_train),
                "origin": "Hugging Face dataset zeroshot/twitter-financial-news-sentiment",
                "licence": "MIT",
            }
        ]
        if args.with_surge:
            x_extra, y_extra = read_surge(args.source / "sentiment/surge_ai")
            x_train, y_train = x_train + x_extra, np.concatenate((y_train, y_extra))
            sources.append(
                {
                    "name": "surge-ai crypto-sentiment and stock-sentiment (Positive/Negative)",
                    "rows": len(x_extra),
                    "origin": "GitHub surge-ai/crypto-sentiment, surge-ai/stock-sentiment",
                    "licence": "MIT",
                }
            )
        progress.update(step, description=f"featurising {len(x_train)} train / {len(x_valid)} valid texts")
        featurizer = HashedFeaturizer(PARAMS)
        a_train, a_valid = features(featurizer, x_train), features(featurizer, x_valid)
        used = np.unique(a_train.indices)
        progress.update(step, description=f"fitting logistic regression on {used.size} buckets (C={args.c})")
        clf = LogisticRegression(C=args.c, max_iter=5000, tol=1e-6, random_state=0)
        clf.fit(a_train[:, used], y_train)
        progress.update(step, description="evaluating and checking the numpy scorer")
        y_pred = clf.predict(a_valid[:, used])
        coef = np.zeros((len(CLASSES), PARAMS.n_buckets), dtype=np.float64)
        coef[:, used] = clf.coef_
        keep = np.flatnonzero(np.any(coef != 0, axis=0))
        scorer = DefaultSentimentModel(
            PARAMS, CLASSES, keep, coef[:, keep].T.astype(np.float32), clf.intercept_.astype(np.float32)
        )
        np_proba = scorer.predict_proba(x_valid)
        sk_proba = clf.predict_proba(a_valid[:, used])
        agree = float(np.mean(np_proba.argmax(axis=1) == y_pred))
        max_diff = float(np.abs(np_proba - sk_proba).max())
        progress.update(step, description="done")
    metrics = print_report(console, y_valid, y_pred)
    console.print(
        f"numpy scorer agrees with scikit-learn on {agree:.2%} of validation texts; "
        f"largest probability difference {max_diff:.2e}"
    )
    if agree < 1.0 or max_diff > 1e-4:
        console.print("[red]the numpy scorer does not reproduce scikit-learn; model not written")
        return 1
    metadata = {
        "name": "default",
        "version": MODEL_VERSION,
        "kind": "hashed word 1-2-grams + char n-grams, multinomial logistic regression",
        "trained_at": datetime.now(UTC).date().isoformat(),
        "training": {
            "sources": sources,
            "rows": len(x_train),
            "regularisation_c": args.c,
            "solver": "lbfgs (scikit-learn LogisticRegression)",
            "buckets_with_weight": int(keep.size),
            "label_map": {"0 Bearish": "negative", "1 Bullish": "positive", "2 Neutral": "neutral"},
        },
        "validation": {
            "data": "twitter-financial-news-sentiment sent_valid.csv",
            **metrics,
            "numpy_matches_sklearn": agree,
            "max_probability_difference": max_diff,
        },
    }
    model_path, weights_path = save_model(args.out, PARAMS, CLASSES, coef, clf.intercept_, metadata)
    size = model_path.stat().st_size + weights_path.stat().st_size
    console.print(f"wrote {MODEL_FILE} and {WEIGHTS_FILE} to {args.out} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
