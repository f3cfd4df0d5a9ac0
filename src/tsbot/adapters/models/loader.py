"""Pick and load the sentiment model that ``sentiment_model`` in ``app.yaml`` names.

Accepted forms of ``sentiment_model.name``:

* ``default``: the numpy model shipped inside tsbot (:func:`tsbot.sentiment.default_model.load_default_model`);
* ``finbert``: FinBERT through transformers, from ``sentiment_model.finbert_path`` when set (read locally, never
  the network), otherwise ``ProsusAI/finbert`` from the Hugging Face hub or its local cache;
* a directory: one holding ``model.json`` is a default-format model, one holding a transformers ``config.json``
  is loaded as a FinBERT-style classifier.

``batch_size``, ``max_length`` and ``quantize`` apply to transformer models only.

Offline use of ``finbert`` by hub name: set ``HF_HUB_OFFLINE=1`` (or pass ``local_files_only=True``) so that only
the local hub cache is read. Without it and without network, the hub client retries for about a minute before
the load fails.
"""

from __future__ import annotations

from pathlib import Path

from tsbot.adapters.models.finbert import HUB_NAME, FinBertModel, import_extra
from tsbot.config import SentimentModelConfig
from tsbot.core.errors import ConfigError, DataError
from tsbot.sentiment.default_model import MODEL_FILE, load_default_model
from tsbot.sentiment.ports import SentimentModel

#: The file that marks a transformers model directory.
TRANSFORMERS_CONFIG = "config.json"
ACCEPTED = (
    '"default" (the shipped model), "finbert" (ProsusAI/finbert from the hub, or sentiment_model.finbert_path), '
    f"or a directory holding {MODEL_FILE} (default-model format) or {TRANSFORMERS_CONFIG} (a transformers model)"
)


def load_sentiment_model(
    config: SentimentModelConfig, *, local_files_only: bool = False, cache_dir: str | Path | None = None
) -> SentimentModel:
    """The sentiment model ``config`` names (see the module docstring for the accepted forms).

    Args:
        config: ``Settings.sentiment_model``.
        local_files_only: for ``finbert`` from the hub, read the local hub cache only and never the network
            (``HF_HUB_OFFLINE=1`` in the environment does the same).
        cache_dir: the hub cache to use instead of the default one.

    Raises:
        ConfigError: the name is none of the accepted forms; ``finbert_path`` is not a model directory; torch or
            transformers is missing (the message says ``pip install "tsbot[finbert]"``); ``finbert`` by hub
            name could not be downloaded nor found in the cache (the message says to set ``finbert_path`` or go
            online).
        DataError: a model directory's files are missing, corrupt or not a three-class sentiment model.
    """
    name = config.name.strip()
    if name.lower() == "default":
        return load_default_model()
    if name.lower() == "finbert":
        return _finbert(config, local_files_only=local_files_only, cache_dir=cache_dir)
    path = Path(name).expanduser()
    if path.is_dir() and (path / MODEL_FILE).is_file():
        return load_default_model(path)
    if path.is_dir() and (path / TRANSFORMERS_CONFIG).is_file():
        return _from_directory(path, config, name=f"finbert:{path.name}")
    if path.is_dir():
        found = sorted(p.name for p in path.iterdir())[:10]
        raise ConfigError(
            f"sentiment_model.name {name!r} is a directory without {MODEL_FILE} or {TRANSFORMERS_CONFIG} "
            f"(it holds {found or 'nothing'}); accepted: {ACCEPTED}"
        )
    raise ConfigError(
        f"sentiment_model.name {name!r} is not a known model nor an existing directory; accepted: {ACCEPTED}"
    )


def _finbert(
    config: SentimentModelConfig, *, local_files_only: bool, cache_dir: str | Path | None
) -> SentimentModel:
    if config.finbert_path is not None:
        path = Path(config.finbert_path).expanduser()
        if not (path / TRANSFORMERS_CONFIG).is_file():
            raise ConfigError(
                f"sentiment_model.finbert_path {str(path)!r} is not a model directory (no {TRANSFORMERS_CONFIG}); "
                f"point it at a directory written by save_pretrained, or unset it to use {HUB_NAME} from the hub"
            )
        return _from_directory(path, config, name="finbert")
    import_extra()
    try:
        return FinBertModel.load(
            HUB_NAME,
            name="finbert",
            batch_size=config.batch_size,
            max_length=config.max_length,
            quantize=config.quantize,
            num_threads=config.threads,
            local_files_only=local_files_only,
            cache_dir=cache_dir,
        )
    except DataError as exc:
        raise ConfigError(
            f"could not load {HUB_NAME} from the hub or the local cache ({exc.__cause__ or exc}); set "
            "sentiment_model.finbert_path to a local copy (a directory written by save_pretrained), or go online "
            "once so that the hub cache holds it"
        ) from exc


def _from_directory(path: Path, config: SentimentModelConfig, *, name: str) -> FinBertModel:
    return FinBertModel.load(
        path,
        name=name,
        batch_size=config.batch_size,
        max_length=config.max_length,
        quantize=config.quantize,
        num_threads=config.threads,
        local_files_only=True,
    )
