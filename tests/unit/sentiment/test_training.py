"""Training and evaluation of the default sentiment model: metrics, data readers, template sentences, fitting."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from tsbot.core.errors import DataError
from tsbot.sentiment import training
from tsbot.sentiment.default_model import FeatureParams, load_default_model
from tsbot.sentiment.evaluation import (
    LABELS,
    TWITTER_TRAIN,
    TWITTER_VALID,
    evaluate_model,
    read_bundled,
    read_labelled_sentences,
    report_from_labels,
)
from tsbot.sentiment.training import PARAMS, fit_model, news_style_sentences, train_default_model

REPO = Path(__file__).resolve().parents[3]
NEWS_EVAL = REPO / "tests" / "data" / "sentiment" / "news_sentences_eval.txt"
NEWS_DEV = REPO / "tests" / "data" / "sentiment" / "news_sentences_dev.txt"


def test_report_counts_accuracy_f1_and_confusion() -> None:
    # bad input tried: a prediction that is wrong in a known cell, and a label never predicted
    truth = ["positive", "positive", "negative", "neutral", "neutral", "neutral"]
    predicted = ["positive", "neutral", "neutral", "neutral", "neutral", "positive"]
    report = report_from_labels(truth, predicted)
    assert report.labels == LABELS
    assert report.n == 6
    assert report.accuracy == pytest.approx(3 / 6)
    assert report.confusion == [[0, 1, 0], [0, 2, 1], [0, 1, 1]]
    f1_neg, f1_neu, f1_pos = 0.0, 2 * 2 / (3 + 4), 2 * 1 / (2 + 2)
    assert report.macro_f1 == pytest.approx((f1_neg + f1_neu + f1_pos) / 3)


def test_report_rejects_unknown_labels_and_length_mismatch() -> None:
    with pytest.raises(ValueError, match="bullish"):
        report_from_labels(["bullish"], ["positive"])
    with pytest.raises(ValueError, match="1 true labels but 2"):
        report_from_labels(["neutral"], ["neutral", "neutral"])


def test_evaluate_model_scores_the_shipped_model() -> None:
    model = load_default_model()
    texts = ["Operating profit rose to EUR 13.1 mn from EUR 8.7 mn.", "Net sales decreased by 5 %."]
    report = evaluate_model(model, texts, ["positive", "negative"])
    assert report.n == 2 and report.accuracy == 1.0
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        evaluate_model(model, texts, ["positive"])


def test_bundled_twitter_data_is_complete() -> None:
    train, train_labels = read_bundled(TWITTER_TRAIN)
    valid, valid_labels = read_bundled(TWITTER_VALID)
    assert (len(train), len(valid)) == (9543, 2388)
    assert set(train_labels) == set(LABELS) and set(valid_labels) == set(LABELS)
    assert not set(train) & set(valid) - {""}, "validation texts leak into training"
    with pytest.raises(DataError, match="missing.csv.gz"):
        read_bundled("missing.csv.gz")


def test_labelled_sentence_files_parse(tmp_path: Path) -> None:
    texts, labels = read_labelled_sentences(NEWS_EVAL)
    assert len(texts) == 300 and all(texts)
    shares = {label: labels.count(label) / len(labels) for label in LABELS}
    assert shares["neutral"] > 0.5 > shares["positive"] > shares["negative"] > 0.05
    dev_texts, _ = read_labelled_sentences(NEWS_DEV)
    assert not set(dev_texts) & set(texts), "the dev set overlaps the evaluation set"
    bad = tmp_path / "bad.txt"
    bad.write_text("Sales rose@positive\nno label here\n", encoding="utf-8")
    with pytest.raises(DataError, match="bad.txt line 2"):
        read_labelled_sentences(bad)


def test_template_sentences_are_deterministic_and_labelled() -> None:
    texts, labels = news_style_sentences(400, random.Random(3))
    again, _ = news_style_sentences(400, random.Random(3))
    other, _ = news_style_sentences(400, random.Random(4))
    assert texts == again and texts != other
    assert set(labels) == set(LABELS)
    eval_texts, _ = read_labelled_sentences(NEWS_EVAL)
    assert not set(texts) & set(eval_texts), "a template sentence equals an evaluation sentence"
    for text, label in zip(texts, labels, strict=True):
        if " rose to " in text and " from " in text and text[0].isupper() and "loss" not in text.lower():
            assert label == "positive", text


def test_fit_model_learns_and_matches_its_features() -> None:
    # bad input tried: an unseen sentence whose only signal is the direction of a number comparison
    texts, labels = news_style_sentences(600, random.Random(1))
    params = replace(PARAMS, n_buckets=1 << 14)
    model, coef, intercept = fit_model(texts, labels, params=params, c=4.0)
    assert coef.shape == (3, 1 << 14) and intercept.shape == (3,)
    probe = [
        "Net sales rose to EUR 80 mn from EUR 60 mn.",
        "Operating loss widened to EUR 9 mn from EUR 2 mn.",
    ]
    assert [s.label.value for s in model.score(probe)] == ["positive", "negative"]
    assert evaluate_model(model, texts, labels).accuracy > 0.9
    with pytest.raises(ValueError, match="n_buckets"):
        FeatureParams.from_dict({"n_buckets": 1000})


def test_train_default_model_writes_a_loadable_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every stage on a cut of the bundled data (the first 900 rows of each split, 300 template sentences), so it
    # runs in seconds. The full training, which must reproduce the shipped model, runs once in the suite:
    # tests/e2e/test_sentiment_cli.py::test_train_writes_a_model_that_classify_can_use.
    bundled = training.read_bundled
    monkeypatch.setattr(training, "read_bundled", lambda name: tuple(part[:900] for part in bundled(name)))
    monkeypatch.setattr(training, "N_SYNTHETIC", 300)
    seen: list[tuple[str, int, int]] = []
    news = read_labelled_sentences(NEWS_EVAL)
    report = train_default_model(
        tmp_path, seed=0, progress=lambda s, d, t: seen.append((s, d, t)), extra_eval={"news": news}
    )
    assert seen == [("read", 1, 4), ("fit", 2, 4), ("evaluate", 3, 4), ("write", 4, 4)]
    assert report.model_dir == tmp_path and report.n_train == 900 + 300
    assert [s["rows"] for s in report.sources] == [900, 300]
    assert {s["licence"] for s in report.sources} <= {"MIT", "same as tsbot"}
    assert report.validation.n == 900 and report.validation.accuracy > 0.6
    assert report.extra["news"].n == len(news[0]) == 300 and report.extra["news"].accuracy > 0.8
    model = load_default_model(tmp_path)
    # the files hold the model the report scored, and its training record
    valid = [part[:900] for part in bundled(TWITTER_VALID)]
    assert evaluate_model(model, *valid).confusion == report.validation.confusion
    assert evaluate_model(model, *news).confusion == report.extra["news"].confusion
    assert model.metadata["training"]["rows"] == 1200 and model.metadata["training"]["seed"] == 0
    assert model.metadata["validation"]["n"] == 900
    assert model.metadata["extra_evaluation"]["news"]["accuracy"] == round(report.extra["news"].accuracy, 4)
