"""FinBertModel on a tiny BERT classifier built and saved by the test: scores, batching, truncation, quantisation,
blank and foreign texts, label mapping, threads, and the errors of bad labels and a missing extra."""

from __future__ import annotations

import math
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tsbot.core.enums import SentimentLabel
from tsbot.core.errors import ConfigError, DataError
from tsbot.sentiment.ports import SentimentModel

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tests.support.tiny_bert import save_tiny_bert  # noqa: E402

from tsbot.adapters.models.finbert import FinBertModel, class_labels, wordpiece_tokenizer  # noqa: E402

TEXTS = [
    "Bitcoin price surges to a record high after ETF approval",
    "Crypto exchange hacked, investors fear losses as prices crash",
    "The fed will cut rates",
    "ETH",
    "Bank shares fell 5 percent after earnings misses; guidance cut",
    "Stocks rally!",
    "SEC rejects bitcoin ETF, market slumps",
    "Quarterly report says growth was up and inflation down",
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="module")
def model(tiny_dir: Path) -> FinBertModel:
    return FinBertModel.load(tiny_dir, batch_size=3, max_length=32, local_files_only=True)


def _close(a: list, b: list, tol: float = 1e-5) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.label == y.label
        assert x.score == pytest.approx(y.score, abs=tol)
        for key in x.probs:
            assert x.probs[key] == pytest.approx(y.probs[key], abs=tol)


def test_scores_are_probabilities_with_signed_score_and_argmax_label(model: FinBertModel) -> None:
    # Bad output caught: probabilities not summing to 1, score not p(pos) - p(neg), label not the argmax.
    port: SentimentModel = model
    assert port.name == "finbert"
    scores = port.score(TEXTS)
    assert len(scores) == len(TEXTS)
    for s in scores:
        assert set(s.probs) == {"positive", "negative", "neutral"}
        assert math.fsum(s.probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert s.score == pytest.approx(s.probs["positive"] - s.probs["negative"], abs=1e-12)
        assert -1.0 <= s.score <= 1.0
        assert s.label == SentimentLabel(max(s.probs, key=s.probs.__getitem__))
    assert len({round(s.score, 6) for s in scores}) > 1, "every text scored the same: the model did not run"
    assert model.predict_proba(TEXTS).shape == (len(TEXTS), 3)
    assert model.score([]) == []


def test_batching_and_order_give_the_same_scores_as_one_by_one(tiny_dir: Path, model: FinBertModel) -> None:
    # Bad output caught: results of a batch coming back in sorted-by-length order, or padding changing scores.
    one_by_one = [model.score([t])[0] for t in TEXTS]
    _close(model.score(TEXTS), one_by_one)
    big = FinBertModel.load(tiny_dir, batch_size=64, max_length=32, local_files_only=True)
    _close(big.score(TEXTS), one_by_one)
    _close(model.score(TEXTS[::-1]), one_by_one[::-1])


def test_blank_texts_are_exactly_neutral(model: FinBertModel) -> None:
    # Bad input: empty and whitespace-only texts among real ones; the model would give them non-uniform output.
    scores = model.score(["", "Stocks rally!", "   \n\t", ""])
    for s in (scores[0], scores[2], scores[3]):
        assert s.label is SentimentLabel.NEUTRAL
        assert s.score == 0.0
        assert s.probs == pytest.approx({"positive": 1 / 3, "negative": 1 / 3, "neutral": 1 / 3})
    assert scores[1].probs["neutral"] != pytest.approx(1 / 3)
    assert [s.label for s in model.score(["  "] * 5)] == [SentimentLabel.NEUTRAL] * 5


def test_100_kb_text_is_truncated_to_max_length(model: FinBertModel) -> None:
    # Bad input: a 100 KB text, far past max_length (32 tokens); it must score like its first few hundred chars.
    huge = ("Bitcoin price surges after ETF approval. " * 2_600)[:100_000]
    assert len(huge) == 100_000
    [long_score] = model.score([huge])
    [short_score] = model.score([huge[:400]])
    _close([long_score], [short_score])


def test_non_english_and_odd_texts_score(model: FinBertModel) -> None:
    # Bad input: scripts outside the vocabulary (all [UNK]), emoji, control characters, a lone surrogate-free
    # mix; each must give a valid distribution rather than an error.
    texts = [
        "比特币价格暴涨",
        "Биткоин упал на 10%",
        "البيتكوين يرتفع",
        "🚀🚀🚀 to the moon",
        "x\x00y\u200b",
        "?!",
    ]
    for s in model.score(texts):
        assert math.isfinite(s.score)
        assert math.fsum(s.probs.values()) == pytest.approx(1.0, abs=1e-6)


def test_quantised_model_loads_and_scores_close_to_float(tiny_dir: Path, model: FinBertModel) -> None:
    # Bad output caught: quantisation not applied (no int8 Linear) or wrecking the scores.
    q = FinBertModel.load(tiny_dir, batch_size=4, max_length=32, quantize=True, local_files_only=True)
    assert q.name == "finbert-int8" and q.quantized
    int8 = [m for m in q._model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert len(int8) == 2 * 6 + 2, "each layer's 6 Linear, the pooler and the classifier must be int8"
    float_scores, int8_scores = model.score(TEXTS), q.score(TEXTS)
    for s in int8_scores:
        assert math.fsum(s.probs.values()) == pytest.approx(1.0, abs=1e-6)
    # int8 rounding of a 32-wide random model moves single scores by up to ~0.5; on average it must stay close.
    drift = sum(abs(a.score - b.score) for a, b in zip(int8_scores, float_scores, strict=True)) / len(TEXTS)
    assert drift < 0.15


def test_labels_follow_the_model_config_order(tmp_path: Path) -> None:
    # Bad output caught: a model whose outputs are (neutral, positive, negative) read as (positive, negative, ...).
    order = {0: "Neutral", 1: "Positive", 2: "Negative"}
    odd = FinBertModel.load(save_tiny_bert(tmp_path, id2label=order), max_length=32, local_files_only=True)
    assert odd.classes == ("neutral", "positive", "negative")
    proba = odd.predict_proba(TEXTS)
    for row, s in zip(proba, odd.score(TEXTS), strict=True):
        assert s.probs == pytest.approx({"neutral": row[0], "positive": row[1], "negative": row[2]})
        assert s.score == pytest.approx(row[1] - row[2])


def test_class_labels_reject_models_that_are_not_three_way_sentiment() -> None:
    # Bad input: generic LABEL_n names, two classes, a repeated class, non-integer keys.
    assert class_labels({"0": "bearish", "1": "bullish", "2": "neutral"}) == (
        SentimentLabel.NEGATIVE,
        SentimentLabel.POSITIVE,
        SentimentLabel.NEUTRAL,
    )
    for bad in (
        {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"},
        {0: "positive", 1: "negative"},
        {0: "positive", 1: "positive", 2: "neutral"},
        {"a": "positive", "b": "negative", "c": "neutral"},
    ):
        with pytest.raises(DataError, match="id2label|positive, negative and neutral"):
            class_labels(bad)


def test_threads_sharing_one_model_get_the_sequential_results(model: FinBertModel) -> None:
    # Bad behaviour caught: "Already borrowed" tokenizer errors or mixed-up batches under concurrent calls.
    expected = model.score(TEXTS)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: model.score(TEXTS), range(8)))
    for got in results:
        _close(got, expected)


def test_bad_arguments_are_rejected(tiny_dir: Path, model: FinBertModel) -> None:
    # Bad input: a non-string text, batch_size 0, a vocabulary without [UNK], a directory that is not a model.
    with pytest.raises(TypeError, match="strings"):
        model.score(["fine", None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="batch_size"):
        FinBertModel.load(tiny_dir, batch_size=0, local_files_only=True)
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        wordpiece_tokenizer(["[PAD]", "[CLS]", "[SEP]", "[MASK]", "a"])
    with pytest.raises(DataError, match="could not load the transformer model"):
        FinBertModel.load(tiny_dir / "absent", local_files_only=True)


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tiny_dir: Path) -> None:
    # Bad environment: transformers not installed (a None entry in sys.modules makes its import fail).
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigError, match=r'pip install "tsbot\[finbert\]"'):
        FinBertModel.load(tiny_dir, local_files_only=True)
