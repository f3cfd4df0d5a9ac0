"""Train tsbot's default sentiment model and write it into the package.

Usage::

    python scripts/train_sentiment.py [--out MODEL_DIR] [--seed 0] [--eval FILE ...]

A thin wrapper around :func:`tsbot.sentiment.training.train_default_model`: trains on the data bundled in the
package (no shared folder needed), validates on the held-out twitter split, scores every ``--eval`` file
(``sentence@label`` lines; by default ``tests/data/sentiment/news_sentences_eval.txt``) and writes
``model.json`` and ``weights.npz`` to ``src/tsbot/data/models/sentiment_default/`` (or ``--out``).

Needs scikit-learn and scipy; the shipped model needs numpy only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tsbot.sentiment.evaluation import EvalReport, read_labelled_sentences
from tsbot.sentiment.training import train_default_model

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EVAL = REPO / "tests" / "data" / "sentiment" / "news_sentences_eval.txt"


def _table(name: str, report: EvalReport) -> Table:
    title = f"{name}: n {report.n}, accuracy {report.accuracy:.4f}, macro F1 {report.macro_f1:.4f}"
    table = Table(title=f"{title} (rows true, columns predicted)")
    table.add_column("")
    for label in report.labels:
        table.add_column(label, justify="right")
    for label, row in zip(report.labels, report.confusion, strict=True):
        table.add_row(label, *(str(v) for v in row))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "src/tsbot/data/models/sentiment_default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval", type=Path, nargs="*", default=[DEFAULT_EVAL], help="sentence@label files")
    args = parser.parse_args(argv)
    console = Console()
    extra = {path.stem: read_labelled_sentences(path) for path in args.eval if path.is_file()}
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        console.print(f"[{done}/{total}] {stage} done after {time.perf_counter() - start:.0f} s")

    report = train_default_model(args.out, seed=args.seed, progress=progress, extra_eval=extra)
    console.print(_table("twitter validation", report.validation))
    for name, rep in report.extra.items():
        console.print(_table(name, rep))
    size = sum(p.stat().st_size for p in report.model_dir.iterdir() if p.is_file())
    console.print(f"trained on {report.n_train} rows; wrote {report.model_dir} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
