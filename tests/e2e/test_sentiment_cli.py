"""``tsbot sentiment classify | eval | train | history`` in a subprocess, as a user runs them, with bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tsbot.sentiment.default_model import load_default_model
from tsbot.sentiment.evaluation import evaluate_model, read_labelled_sentences

EXE = str(Path(sys.executable).with_name("tsbot"))
NEWS_EVAL = Path(__file__).resolve().parents[1] / "data" / "sentiment" / "news_sentences_eval.txt"


def _tsbot(*args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 300):
    return subprocess.run([EXE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("tsbot")
    base = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    return base | {"TSBOT_DATA_DIR": str(data_dir), "COLUMNS": "200"}


def test_classify_answers_every_line_in_order(env: dict[str, str]) -> None:
    lines = [
        "Bitcoin surges to a record high as ETF inflows jump",
        "",  # an empty line still gets an answer, so output line N answers input line N
        json.dumps({"text": "Exchange halts withdrawals after a hack, token plunges 40%"}),
        "\u6bd4\u7279\u5e01\u4ef7\u683c\u4eca\u5929\u6ca1\u6709\u53d8\u5316",  # non-English
        "<b>Shares</b> rise " * 6000,  # about 100 KB of HTML-laden text on one line
    ]
    result = _tsbot("sentiment", "classify", env=env, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(lines)
    for row in rows:
        assert set(row) == {"label", "score", "probs"}
        assert row["label"] in {"positive", "negative", "neutral"}
        assert abs(sum(row["probs"].values()) - 1) < 1e-4
        assert row["score"] == pytest.approx(row["probs"]["positive"] - row["probs"]["negative"], abs=1e-5)
    assert rows[0]["label"] == "positive" and rows[2]["label"] == "negative"
    assert rows[1] == {"label": "neutral", "score": 0.0, "probs": rows[1]["probs"]}


def test_classify_refuses_broken_json_lines_and_unknown_models(env: dict[str, str], tmp_path: Path) -> None:
    bad = _tsbot("sentiment", "classify", env=env, stdin='fine\n{"title": "no text key"}\n')
    assert bad.returncode == 2 and 'line 2: a JSON line needs a "text" string' in bad.stderr
    missing = _tsbot("sentiment", "classify", "--model", str(tmp_path / "nowhere"), env=env, stdin="x\n")
    assert missing.returncode == 1 and "not a known model nor an existing directory" in missing.stderr


def test_eval_reports_accuracy_f1_and_the_confusion_matrix(env: dict[str, str], tmp_path: Path) -> None:
    labelled = tmp_path / "set.txt"
    labelled.write_text(
        "Operating profit rose sharply and the company raised its outlook@positive\n"
        "The firm swung to a loss and cut its dividend@negative\n"
        "The meeting will be held in Helsinki on Tuesday@neutral\n\n   @neutral\n",  # an empty line, an empty text
        encoding="latin-1",
    )
    result = _tsbot("sentiment", "eval", str(labelled), "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 3 and report["blank_lines"] == 1
    assert report["labels"] == ["negative", "neutral", "positive"]
    assert sum(map(sum, report["confusion"])) == 3
    assert 0 <= report["macro_f1"] <= 1 and report["accuracy"] == pytest.approx(
        sum(report["confusion"][i][i] for i in range(3)) / 3
    )
    table = _tsbot("sentiment", "eval", str(labelled), env=env)
    assert "accuracy" in table.stdout and "macro F1" in table.stdout and "recall" in table.stdout
    broken = tmp_path / "broken.txt"
    broken.write_text("good news@positive\nno idea@maybe\n")
    refused = _tsbot("sentiment", "eval", str(broken), env=env)
    assert refused.returncode == 2 and "line 2: unknown label 'maybe'" in refused.stderr
    absent = _tsbot("sentiment", "eval", str(tmp_path / "absent.txt"), env=env)
    assert absent.returncode == 1 and "cannot read" in absent.stderr


def test_history_after_importing_the_bundled_news(env: dict[str, str]) -> None:
    assert _tsbot("data", "import", "--quiet", env=env).returncode == 0
    result = _tsbot("sentiment", "history", "BTC", "--days", "3", "--step", "1d", "--json", env=env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 4  # the end time and three days back, one a day
    assert any(r["score"] is not None and r["headlines"] > 0 for r in rows)
    times = [r["time"] for r in rows]
    assert times == sorted(times)
    bad = _tsbot("sentiment", "history", "BTC", "--step", "2x", env=env)
    assert bad.returncode == 2 and "not a timeframe" in bad.stderr


@pytest.mark.slow
def test_train_writes_a_model_that_classify_can_use(env: dict[str, str], tmp_path: Path) -> None:
    # The one full training of the default model in the suite (the unit test trains on a cut of the data).
    out = tmp_path / "model"
    trained = _tsbot("sentiment", "train", "--out", str(out), env=env, timeout=900)
    assert trained.returncode == 0, trained.stderr
    rows = re.search(r"trained on (\d+) texts", trained.stdout)
    assert rows and int(rows[1]) > 9543, trained.stdout  # the whole twitter train split and the templates
    assert "(MIT)" in trained.stdout and "(same as tsbot)" in trained.stdout
    validation = re.search(r"validation: 2388 texts, accuracy (0\.\d+)", trained.stdout)
    assert validation and float(validation[1]) > 0.84, trained.stdout
    assert (out / "model.json").is_file() and (out / "weights.npz").is_file()
    model, shipped = load_default_model(out), load_default_model()
    news = read_labelled_sentences(NEWS_EVAL)
    assert evaluate_model(model, *news).accuracy > 0.85
    # retraining reproduces the shipped model: the same labels, probabilities within 0.002 (the solver's
    # convergence tolerance and the BLAS build move the last digits)
    mine, theirs = model.predict_proba(news[0][:50]), shipped.predict_proba(news[0][:50])
    assert (mine.argmax(axis=1) == theirs.argmax(axis=1)).all()
    np.testing.assert_allclose(mine, theirs, atol=2e-3)
    used = _tsbot(
        "sentiment", "classify", "--model", str(out), env=env, stdin="Shares soar on record profit\n"
    )
    assert used.returncode == 0, used.stderr
    assert json.loads(used.stdout)["label"] == "positive"
