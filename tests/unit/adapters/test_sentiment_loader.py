"""load_sentiment_model: "default", "finbert" (by finbert_path, and by hub name offline), model directories of
both kinds, and the errors for unknown names, garbage directories, bad configs and a missing extra."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from tests.support.tiny_bert import save_tiny_bert

from tsbot.adapters.models.loader import load_sentiment_model
from tsbot.config import SentimentModelConfig
from tsbot.core.errors import ConfigError, DataError
from tsbot.sentiment.default_model import load_default_model

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "src" / "tsbot" / "data" / "models" / "sentiment_default"
TEXTS = ["Bitcoin price surges to a record high", "Market crash: bitcoin falls on SEC fear", "", "ETF"]


def _transformers() -> ModuleType:
    """transformers, or a skip where the finbert extra is absent."""
    pytest.importorskip("torch")
    return pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT classifier (hidden 32) with its WordPiece tokenizer, saved locally."""
    _transformers()
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_finbert"), seed=1)


def _check_scores(model: object) -> None:
    scores = model.score(TEXTS)  # type: ignore[attr-defined]
    assert len(scores) == len(TEXTS)
    for s in scores:
        assert math.fsum(s.probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert s.score == pytest.approx(s.probs["positive"] - s.probs["negative"], abs=1e-9)
    assert scores[2].score == 0.0


def test_default_is_the_shipped_model() -> None:
    # Bad output caught: "default" (any case, padded) resolving to something other than the shipped model.
    model = load_sentiment_model(SentimentModelConfig(name=" Default "))
    assert model is load_default_model()
    _check_scores(model)


def test_directory_with_model_json_loads_a_default_format_model(tmp_path: Path) -> None:
    # Bad output caught: a copy of the default model's files read as anything but a default-format model.
    copy = shutil.copytree(SHIPPED, tmp_path / "my_model")
    model = load_sentiment_model(SentimentModelConfig(name=str(copy)))
    assert type(model) is type(load_default_model())
    assert [s.score for s in model.score(TEXTS)] == [s.score for s in load_default_model().score(TEXTS)]


def test_transformers_directory_by_path(tiny_dir: Path) -> None:
    # Bad output caught: batch_size / max_length from the config not reaching the adapter.
    from tsbot.adapters.models.finbert import FinBertModel

    model = load_sentiment_model(SentimentModelConfig(name=str(tiny_dir), batch_size=2, max_length=16))
    assert isinstance(model, FinBertModel)
    assert (model.name, model.batch_size, model.max_length) == (f"finbert:{tiny_dir.name}", 2, 16)
    _check_scores(model)


def test_finbert_from_finbert_path_and_quantised(tiny_dir: Path) -> None:
    # Bad output caught: finbert_path ignored (a hub lookup instead), or quantize not applied.
    plain = load_sentiment_model(SentimentModelConfig(name="finbert", finbert_path=tiny_dir))
    assert plain.name == "finbert"
    _check_scores(plain)
    int8 = load_sentiment_model(SentimentModelConfig(name="FinBERT", finbert_path=tiny_dir, quantize=True))
    assert int8.name == "finbert-int8"
    _check_scores(int8)


def test_finbert_path_that_is_not_a_model_directory(tmp_path: Path) -> None:
    # Bad input: finbert_path pointing at an empty directory, and at a directory that does not exist.
    for path in (tmp_path, tmp_path / "absent"):
        with pytest.raises(ConfigError, match="finbert_path"):
            load_sentiment_model(SentimentModelConfig(name="finbert", finbert_path=path))


def test_unknown_names_and_garbage_directories_name_the_accepted_forms(tmp_path: Path) -> None:
    # Bad input: a word that is no model, a missing path, a directory of unrelated files.
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "weights.bin").write_bytes(os.urandom(256))
    for name in ("bert-large", str(tmp_path / "absent"), str(tmp_path)):
        with pytest.raises(ConfigError) as caught:
            load_sentiment_model(SentimentModelConfig(name=name))
        message = str(caught.value)
        assert repr(name) in message
        assert '"default"' in message and '"finbert"' in message and "model.json" in message


def test_garbage_transformers_directory_is_a_data_error(tmp_path: Path, tiny_dir: Path) -> None:
    # Bad input: config.json that is not JSON; a valid config with random bytes as weights; two-class labels.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    bad_weights = shutil.copytree(tiny_dir, tmp_path / "bad_weights")
    (bad_weights / "model.safetensors").write_bytes(os.urandom(4096))
    two_class = shutil.copytree(tiny_dir, tmp_path / "two_class")
    config = json.loads((two_class / "config.json").read_text())
    config["id2label"] = {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
    (two_class / "config.json").write_text(json.dumps(config))
    for directory in (broken, bad_weights):
        with pytest.raises(DataError, match=directory.name):
            load_sentiment_model(SentimentModelConfig(name=str(directory)))
    with pytest.raises(DataError, match="positive, negative and neutral"):
        load_sentiment_model(SentimentModelConfig(name=str(two_class)))


def test_finbert_by_hub_name_offline_says_set_finbert_path(tmp_path: Path) -> None:
    # Bad environment: no network and an empty hub cache; local_files_only never touches the network.
    _transformers()
    with pytest.raises(ConfigError, match="finbert_path") as caught:
        load_sentiment_model(SentimentModelConfig(name="finbert"), local_files_only=True, cache_dir=tmp_path)
    assert "ProsusAI/finbert" in str(caught.value) and "online" in str(caught.value)


@pytest.mark.slow
def test_finbert_by_hub_name_with_hf_hub_offline_in_a_fresh_process(tmp_path: Path) -> None:
    # Bad environment: HF_HUB_OFFLINE=1 and an empty HF_HOME, as a user without network would run it.
    _transformers()
    code = (
        "from tsbot.adapters.models.loader import load_sentiment_model\n"
        "from tsbot.config import SentimentModelConfig\n"
        "load_sentiment_model(SentimentModelConfig(name='finbert'))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "ConfigError" in done.stderr and "finbert_path" in done.stderr


def test_missing_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tiny_dir: Path) -> None:
    # Bad environment: torch not installed (a None entry in sys.modules makes its import fail).
    monkeypatch.setitem(sys.modules, "torch", None)
    for config in (SentimentModelConfig(name="finbert"), SentimentModelConfig(name=str(tiny_dir))):
        with pytest.raises(ConfigError, match=r'pip install "tsbot\[finbert\]"'):
            load_sentiment_model(config)
