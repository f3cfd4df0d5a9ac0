"""The shipped default sentiment model: loading, signs, robustness, numpy == scikit-learn, corrupt files."""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from tests.shared_data import require_shared_data

from tsbot.core.enums import SentimentLabel
from tsbot.core.errors import DataError
from tsbot.sentiment.default_model import (
    FORMAT_VERSION,
    MODEL_FILE,
    WEIGHTS_FILE,
    DefaultSentimentModel,
    FeatureParams,
    HashedFeaturizer,
    load_default_model,
    save_model,
)
from tsbot.sentiment.ports import SentimentModel

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "src" / "tsbot" / "data" / "models" / "sentiment_default"

BEARISH = [
    "$XYZ downgraded to sell at Goldman Sachs, shares tumble",
    "Company cuts full-year guidance and misses earnings estimates; stock plunges",
    "Bitcoin crashes 15% as exchange halts withdrawals",
]
BULLISH = [
    "$XYZ upgraded to buy at Morgan Stanley, price target raised",
    "Shares soar after record quarterly profit beats estimates",
    "Company raises dividend and announces $5B share buyback",
]
NEUTRAL = [
    "Company to present at investor conference on Tuesday",
    "What to watch in markets this week",
]


@pytest.fixture(scope="module")
def model() -> DefaultSentimentModel:
    return load_default_model()


def _valid(score) -> bool:
    probs = score.probs
    return (
        set(probs) == {label.value for label in SentimentLabel}
        and all(0.0 <= p <= 1.0 for p in probs.values())
        and math.isclose(sum(probs.values()), 1.0, abs_tol=1e-9)
        and -1.0 <= score.score <= 1.0
        and math.isclose(score.score, probs["positive"] - probs["negative"], abs_tol=1e-12)
        and score.label.value == max(probs, key=probs.__getitem__)
    )


def test_loads_and_implements_the_port(model: DefaultSentimentModel) -> None:
    port: SentimentModel = model
    assert port.name == "default"
    assert load_default_model() is model
    assert model.metadata["validation"]["accuracy"] > 0.8
    assert model.metadata["training"]["sources"][0]["licence"] == "MIT"


def test_shipped_files_are_small() -> None:
    size = (SHIPPED / MODEL_FILE).stat().st_size + (SHIPPED / WEIGHTS_FILE).stat().st_size
    assert size < 8_000_000


def test_format_1_models_still_load_without_lexicon_cues(tmp_path: Path) -> None:
    # bad input tried: a model file from before the lexicon (format 1, no lexicon_weight key)
    target = _copy_shipped(tmp_path)
    meta = json.loads((target / MODEL_FILE).read_text(encoding="utf-8"))
    assert meta["format_version"] == FORMAT_VERSION == 2
    meta["format_version"] = 1
    del meta["features"]["lexicon_weight"]
    (target / MODEL_FILE).write_text(json.dumps(meta), encoding="utf-8")
    old = load_default_model(target)
    assert old.params.lexicon_weight == 0.0
    text = ["Operating loss narrowed to EUR 2 mn from EUR 6 mn."]
    assert not np.allclose(old.predict_proba(text), load_default_model().predict_proba(text))


def test_clear_headlines_get_the_right_sign(model: DefaultSentimentModel) -> None:
    scores = model.score(BEARISH + BULLISH + NEUTRAL)
    assert all(_valid(s) for s in scores)
    bear, bull, neutral = scores[:3], scores[3:6], scores[6:]
    assert all(s.score < 0 and s.label is SentimentLabel.NEGATIVE for s in bear), bear
    assert all(s.score > 0 and s.label is SentimentLabel.POSITIVE for s in bull), bull
    assert all(s.label is SentimentLabel.NEUTRAL for s in neutral), neutral


def test_blank_texts_are_exactly_neutral(model: DefaultSentimentModel) -> None:
    for s in model.score(["", "   ", "\n\t"]):
        assert s.label is SentimentLabel.NEUTRAL
        assert s.score == 0.0
        assert s.probs == pytest.approx({"positive": 1 / 3, "negative": 1 / 3, "neutral": 1 / 3})
    assert model.score([]) == []


def test_odd_inputs_give_valid_scores(model: DefaultSentimentModel) -> None:
    texts = [
        "比特币价格今天大幅上涨",
        "Der Aktienkurs fiel nach der Gewinnwarnung stark",
        "<p>Shares &amp; bonds <b>rally</b> after <a href='https://x.y/z'>Fed</a> cut</p>",
        "!!! ??? ... 123 %%% $$$",
        "🚀🚀🚀 $DOGE",
    ]
    scores = model.score(texts)
    assert len(scores) == len(texts)
    assert all(_valid(s) for s in scores)


def test_long_text_is_capped(model: DefaultSentimentModel) -> None:
    head = "Shares plunge after the company warns on profit. "
    huge = head * (100_000 // len(head) + 1)
    one_word = "x" * 100_000
    start = time.perf_counter()
    scores = model.score([huge, one_word])
    assert time.perf_counter() - start < 1.0
    assert all(_valid(s) for s in scores)
    prefix = huge[: model.params.max_chars]
    assert scores[0].probs == pytest.approx(model.score([prefix])[0].probs)


def test_scores_do_not_depend_on_the_batch(model: DefaultSentimentModel) -> None:
    texts = BEARISH + BULLISH + NEUTRAL
    together = model.predict_proba(texts)
    alone = np.vstack([model.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-12)


def test_numpy_inference_reproduces_scikit_learn(tmp_path: Path) -> None:
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(7)
    good = ["beats", "soars", "upgraded", "record profit", "raises guidance", "rallies"]
    bad = ["misses", "plunges", "downgraded", "cuts guidance", "loss widens", "falls"]
    flat = ["to present", "reports on", "schedules call", "announces date", "files form", "names CEO"]
    texts, labels = [], []
    for _ in range(300):
        k = int(rng.integers(3))
        words = (bad, good, flat)[k]
        texts.append(f"$ABC {words[rng.integers(6)]} {rng.integers(100)}% {flat[rng.integers(6)]}")
        labels.append(k)
    params = FeatureParams(n_buckets=1 << 12, char_min=2, char_max=4, word_weight=1.5)
    rows, buckets, values = HashedFeaturizer(params).transform(texts)
    x = sparse.csr_matrix((values, (rows, buckets)), shape=(len(texts), params.n_buckets))
    clf = sklearn_lm.LogisticRegression(C=2.0, max_iter=2000).fit(x, labels)
    classes = ("negative", "positive", "neutral")
    save_model(tmp_path, params, classes, clf.coef_, clf.intercept_, {"version": 0})
    ours = load_default_model(tmp_path)
    probe = texts[:50] + ["$ABC beats and soars", "falls after cuts guidance", "an unseen sentence"]
    rows, buckets, values = HashedFeaturizer(params).transform(probe)
    xp = sparse.csr_matrix((values, (rows, buckets)), shape=(len(probe), params.n_buckets))
    np.testing.assert_array_equal(ours.predict_proba(probe).argmax(axis=1), clf.predict(xp))
    np.testing.assert_allclose(ours.predict_proba(probe), clf.predict_proba(xp), rtol=0, atol=1e-5)


def _copy_shipped(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(SHIPPED, target)
    return target


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (WEIGHTS_FILE, b"not a zip file"),
        (MODEL_FILE, b"{not json"),
        (MODEL_FILE, b'{"format_version": 1, "classes": ["negative", "positive", "neutral"]}'),
        (MODEL_FILE, b'{"format_version": 99, "features": {}, "classes": []}'),
    ],
)
def test_corrupt_model_raises_data_error_naming_the_file(tmp_path: Path, name: str, content: bytes) -> None:
    target = _copy_shipped(tmp_path)
    (target / name).write_bytes(content)
    with pytest.raises(DataError, match=name.replace(".", r"\.")):
        load_default_model(target)


def test_wrong_weights_raise_data_error(tmp_path: Path) -> None:
    target = _copy_shipped(tmp_path)
    np.savez(
        target / WEIGHTS_FILE,
        index=np.array([1, 2], np.uint32),
        coef=np.ones((3, 3), np.float32),
        intercept=np.zeros(3, np.float32),
    )
    with pytest.raises(DataError, match=WEIGHTS_FILE):
        load_default_model(target)


def test_missing_model_raises_data_error(tmp_path: Path) -> None:
    target = _copy_shipped(tmp_path)
    (target / MODEL_FILE).unlink()
    with pytest.raises(DataError, match=MODEL_FILE):
        load_default_model(target)


def test_shipped_model_accuracy_on_written_news_sentences(model: DefaultSentimentModel) -> None:
    # bad input tried: formal news sentences (the register the twitter training data lacks)
    lines = (REPO / "tests" / "data" / "sentiment" / "news_sentences_eval.txt").read_text(encoding="utf-8")
    pairs = [line.rsplit("@", 1) for line in lines.splitlines() if line.strip()]
    predicted = [s.label.value for s in model.score([text for text, _ in pairs])]
    accuracy = float(np.mean([p == label for p, (_, label) in zip(predicted, pairs, strict=True)]))
    assert accuracy > 0.85, accuracy


def test_throughput_on_short_headlines(model: DefaultSentimentModel) -> None:
    texts = [f"{t} ({i})" for i in range(400) for t in BEARISH + BULLISH + NEUTRAL]
    model.score(texts[:100])
    start = time.perf_counter()
    model.score(texts)
    rate = len(texts) / (time.perf_counter() - start)
    assert rate > 2_000, f"{rate:.0f} texts/s"


@pytest.mark.shared_data
def test_shipped_model_accuracy_on_validation_set(model: DefaultSentimentModel) -> None:
    path = require_shared_data() / "sentiment" / "twitter_financial_news_sentiment" / "sent_valid.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    labels = np.asarray([int(r["label"]) for r in rows])
    column = {"negative": 0, "positive": 1, "neutral": 2}
    order = [model.classes.index(c) for c in column]
    predicted = model.predict_proba([r["text"] for r in rows])[:, order].argmax(axis=1)
    accuracy = float(np.mean(predicted == labels))
    assert accuracy > 0.83, accuracy
