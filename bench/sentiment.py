"""Benchmark: sentiment scoring throughput, the shipped default model against FinBERT-architecture inference.

Texts: ``--texts`` real texts from the bundled news (titles and article leads, shuffled with a fixed seed;
titles average ~70 characters, leads ~130).

Figures, measured in the same run on ``--threads`` threads (torch's intra-op threads and numpy's BLAS pools):

1. the default model (``load_default_model``): the first call on all texts (cold feature caches), then the best
   of ``--runs`` warm calls;
2. FinBERT's architecture through the same :class:`~tsbot.adapters.models.finbert.FinBertModel` code that
   scores with the real model: a randomly initialised ``BertForSequenceClassification`` of bert-base size
   (12 layers, hidden 768, 12 heads, intermediate 3072, vocabulary 30,522, 3 labels; FinBERT's weights cannot
   be downloaded here and do not change the time) on ``--finbert-texts`` of the texts (every k-th, so the mix
   of titles and leads is the same), best of ``--finbert-runs`` after a warm-up batch; batch size and
   ``max_length`` from ``sentiment_model`` in ``app.yaml``;
3. the same model with int8 dynamic quantisation of its Linear layers.

The tokenizer is a WordPiece tokenizer trained on the bundled texts (30,522 entries). It splits these texts into
somewhat fewer tokens than bert-base-uncased's vocabulary would (rare coin names stay whole), so the FinBERT
figures are, if anything, optimistic, and the ratio conservative. Mean tokens per text are printed.

Goal: the default model's throughput at least 100 x FinBERT's.

Run: ``python bench/sentiment.py [--texts 4000] [--runs 5] [--finbert-texts 256] [--finbert-runs 2]
[--threads 2] [--json]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from tsbot.adapters.bundled import read_bundled_headlines
from tsbot.adapters.models.finbert import FinBertModel, import_extra, wordpiece_tokenizer
from tsbot.config import load_settings
from tsbot.sentiment.default_model import load_default_model

GOAL_RATIO = 100.0
BERT_BASE_VOCAB = 30_522
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

console = Console()


@dataclass(frozen=True)
class Row:
    """One timed model: how many texts, the best wall time in seconds, mean tokens per text (transformers)."""

    model: str
    texts: int
    seconds: float
    tokens_per_text: float | None = None

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.seconds


def bench_texts(count: int, seed: int = 7) -> list[str]:
    """``count`` texts: the bundled titles and non-empty leads, shuffled with ``seed``."""
    headlines = read_bundled_headlines()
    texts = [h.title for h in headlines] + [h.summary for h in headlines if h.summary.strip()]
    random.Random(seed).shuffle(texts)
    if count > len(texts):
        raise SystemExit(f"--texts {count}: only {len(texts)} bundled texts")
    return texts[:count]


def best_s(runs: int, work: Callable[[], object]) -> float:
    """The least wall time of ``runs`` calls of ``work``, in seconds."""
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def trained_vocab(corpus: Sequence[str], size: int = BERT_BASE_VOCAB) -> list[str]:
    """A WordPiece vocabulary of exactly ``size`` entries learnt from ``corpus`` (``[unusedN]`` fill the rest)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=size, special_tokens=SPECIALS))
    learnt = [t for t, _ in sorted(tok.get_vocab().items(), key=lambda item: item[1])]
    return learnt + [f"[unused{i}]" for i in range(size - len(learnt))]


def finbert_sized(corpus: Sequence[str]) -> tuple[Any, Any]:
    """A randomly initialised bert-base sequence classifier with three sentiment labels, and a WordPiece tokenizer
    trained on ``corpus``: ``(model, tokenizer)``."""
    torch, transformers = import_extra()
    config = transformers.BertConfig(
        vocab_size=BERT_BASE_VOCAB,
        num_labels=3,
        id2label={0: "positive", 1: "negative", 2: "neutral"},
        label2id={"positive": 0, "negative": 1, "neutral": 2},
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    return model, wordpiece_tokenizer(trained_vocab(corpus))


def mean_tokens(tokenizer: Any, texts: Sequence[str], max_length: int) -> float:
    """Mean tokens per text after truncation to ``max_length`` (``[CLS]`` and ``[SEP]`` included)."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return sum(map(len, ids)) / len(ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=4_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of the default model (best kept)")
    parser.add_argument("--finbert-texts", type=int, default=256)
    parser.add_argument("--finbert-runs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    args = parser.parse_args(argv)
    settings = load_settings().sentiment_model
    texts = bench_texts(args.texts)
    step = max(1, len(texts) // args.finbert_texts)
    sample = texts[::step][: args.finbert_texts]
    rows: list[Row] = []

    with threadpool_limits(args.threads):
        default = load_default_model()
        started = time.perf_counter()
        default.score(texts)
        cold_s = time.perf_counter() - started
        warm_s = best_s(args.runs, lambda: default.score(texts))
        rows.append(Row("default, first call", len(texts), cold_s))
        rows.append(Row(f"default, warm (best of {args.runs})", len(texts), warm_s))

        started = time.perf_counter()
        network, tokenizer = finbert_sized(texts)
        build_s = time.perf_counter() - started
        tokens = mean_tokens(tokenizer, sample, settings.max_length)
        sizes = {"batch_size": settings.batch_size, "max_length": settings.max_length}
        bert = FinBertModel(network, tokenizer, num_threads=args.threads, **sizes)
        int8 = FinBertModel(network, tokenizer, quantize=True, **sizes)  # quantises a copy of the network
        for label, model in (("FinBERT-size", bert), ("FinBERT-size int8", int8)):
            model.score(sample[: model.batch_size])  # warm-up batch
            seconds = best_s(args.finbert_runs, lambda m=model: m.score(sample))
            rows.append(Row(f"{label} (best of {args.finbert_runs})", len(sample), seconds, round(tokens, 1)))

    cold, warm, float32, quantised = rows
    ratios = {
        "default / finbert": warm.texts_per_s / float32.texts_per_s,
        "default / finbert-int8": warm.texts_per_s / quantised.texts_per_s,
        "default first call / finbert": cold.texts_per_s / float32.texts_per_s,
    }
    if args.json:
        print(
            json.dumps(
                {
                    "threads": args.threads,
                    "batch_size": settings.batch_size,
                    "max_length": settings.max_length,
                    "rows": [{**asdict(r), "texts_per_s": r.texts_per_s} for r in rows],
                    "ratios": ratios,
                    "goal_ratio": GOAL_RATIO,
                },
                indent=2,
            )
        )
        return 0

    console.print(
        f"{len(texts):,} bundled texts; {args.threads} threads; FinBERT-size model built in {build_s:.1f} s "
        f"(batch {settings.batch_size}, max_length {settings.max_length}, {tokens:.1f} tokens per text)",
        highlight=False,
    )
    table = Table(title="Sentiment scoring throughput")
    table.add_column("model")
    table.add_column("texts", justify="right")
    table.add_column("s", justify="right")
    table.add_column("texts/s", justify="right")
    table.add_column("ms per text", justify="right")
    for row in rows:
        rate = row.texts_per_s
        table.add_row(row.model, f"{row.texts:,}", f"{row.seconds:.3f}", f"{rate:,.1f}", f"{1e3 / rate:.3f}")
    console.print(table)
    for name, ratio in ratios.items():
        verdict = "[green]met[/]" if ratio >= GOAL_RATIO else "[red]not met[/]"
        console.print(f"{name}: {ratio:,.0f} x (goal {GOAL_RATIO:.0f} x: {verdict})", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
