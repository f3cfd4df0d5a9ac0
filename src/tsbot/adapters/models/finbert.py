"""FinBERT, or any BERT-style three-class sentiment classifier, through transformers as a ``SentimentModel``.

FinBERT (Araci, "FinBERT: Financial Sentiment Analysis with Pre-trained Language Models", 2019; published on the
Hugging Face hub as ``ProsusAI/finbert``) is ``bert-base-uncased`` fine-tuned on the Financial PhraseBank
(Malo et al., 2014) with the classes positive / negative / neutral. :class:`FinBertModel` runs such a model with
its tokenizer on the CPU:

* texts are scored in batches of ``batch_size``, longest first so that a batch pads little; each text is cut to
  ``max_length`` tokens (``[CLS]`` and ``[SEP]`` included), and at most ``max_length * 32`` characters of it are
  handed to the tokenizer, which bounds the work on huge inputs;
* probabilities are the softmax of the logits; ``score = p(positive) - p(negative)`` in [-1, 1]; the label is
  the most probable class. Classes come from the model's ``config.id2label`` (``positive`` / ``negative`` /
  ``neutral``; ``pos`` / ``neg`` / ``neu`` and ``bullish`` / ``bearish`` are read as well);
* blank texts (empty or whitespace only) are neutral with probabilities 1/3 each and score 0, without running
  the model;
* ``quantize=True`` applies int8 dynamic quantisation to the ``nn.Linear`` layers
  (``torch.ao.quantization.quantize_dynamic``): weights are stored as int8, activations quantised per batch.
  It is faster on CPU and changes probabilities slightly;
* torch's intra-op thread count is left as torch sets it unless ``num_threads`` is given (that setting is
  process-wide: ``torch.set_num_threads``);
* one lock serialises scoring, so an instance may be shared between threads (fast tokenizers must not be used
  by two threads at once, and two concurrent forward passes would only compete for the same cores).

torch and transformers are imported inside this module's functions, never at import time.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tsbot.core.enums import SentimentLabel
from tsbot.core.errors import ConfigError, DataError, TsbotError
from tsbot.sentiment.models import SentimentScore

#: FinBERT's name on the Hugging Face hub.
HUB_NAME = "ProsusAI/finbert"
#: The command that installs torch and transformers.
INSTALL_HINT = 'pip install "tsbot[finbert]"'
#: Characters handed to the tokenizer per token of ``max_length``; the rest of a longer text is never read.
CHARS_PER_TOKEN = 32
_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_LABEL_NAMES: dict[str, SentimentLabel] = {
    "positive": SentimentLabel.POSITIVE,
    "pos": SentimentLabel.POSITIVE,
    "bullish": SentimentLabel.POSITIVE,
    "negative": SentimentLabel.NEGATIVE,
    "neg": SentimentLabel.NEGATIVE,
    "bearish": SentimentLabel.NEGATIVE,
    "neutral": SentimentLabel.NEUTRAL,
    "neu": SentimentLabel.NEUTRAL,
}


def import_extra() -> tuple[Any, Any]:
    """``(torch, transformers)``, imported on first use.

    Raises:
        ConfigError: either package is missing; the message gives :data:`INSTALL_HINT`.
    """
    try:
        import torch
        import transformers
    except ImportError as exc:
        missing = exc.name or "torch or transformers"
        raise ConfigError(
            f"transformer sentiment models need torch and transformers, and {missing} is not installed: "
            f'run {INSTALL_HINT}, or set sentiment_model.name to "default"'
        ) from exc
    return torch, transformers


def class_labels(id2label: Mapping[int, str] | Mapping[str, str]) -> tuple[SentimentLabel, ...]:
    """The sentiment label of each output of a classifier, in output order, from its ``config.id2label``.

    Args:
        id2label: output index (int, or its string in a JSON config) -> label name, case-insensitive.

    Raises:
        DataError: the model does not have exactly three outputs naming positive, negative and neutral once
            each (``LABEL_0``-style names included).
    """
    try:
        ordered = [str(id2label[k]) for k in sorted(id2label, key=int)]
    except (TypeError, ValueError) as exc:
        raise DataError(f"model config id2label has non-integer keys: {dict(id2label)!r}") from exc
    labels = tuple(_LABEL_NAMES.get(name.strip().lower()) for name in ordered)
    if len(labels) != 3 or None in labels or len(set(labels)) != 3:
        raise DataError(
            f"model labels {ordered} do not map to positive, negative and neutral once each; a sentiment "
            "model needs three outputs with those names in config.id2label"
        )
    return labels  # type: ignore[return-value]


def wordpiece_tokenizer(vocab: Sequence[str], *, model_max_length: int = 512) -> Any:
    """A BERT-style uncased WordPiece tokenizer over ``vocab``, built locally (no download).

    BERT's pipeline from the ``tokenizers`` library: normalisation (lower case, accents stripped, CJK characters
    split), pre-tokenisation on whitespace and punctuation, greedy longest-match WordPiece with ``##``
    continuation pieces, and the ``[CLS] text [SEP]`` template.

    Args:
        vocab: token strings in id order; must hold ``[PAD] [UNK] [CLS] [SEP] [MASK]`` and be duplicate-free.
        model_max_length: the longest input the tokenizer reports it accepts, in tokens.

    Returns:
        A ``transformers`` fast tokenizer; ``save_pretrained`` writes it beside a model.

    Raises:
        ValueError: a special token is missing or a token repeats.
        ConfigError: transformers is not installed.
    """
    import_extra()
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    ids = {token: i for i, token in enumerate(vocab)}
    if len(ids) != len(vocab):
        raise ValueError("vocabulary has repeated tokens")
    missing = [t for t in _SPECIAL_TOKENS if t not in ids]
    if missing:
        raise ValueError(f"vocabulary lacks the special tokens {missing}")
    core = Tokenizer(models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100))
    core.normalizer = normalizers.BertNormalizer(
        lowercase=True, strip_accents=True, handle_chinese_chars=True
    )
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    core.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
    )


def quantize_int8(model: Any) -> Any:
    """``model`` with int8 dynamic quantisation of its ``nn.Linear`` layers (a new module; CPU only).

    Raises:
        ConfigError: this torch build has no ``torch.ao.quantization.quantize_dynamic``.
    """
    torch, _ = import_extra()
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as exc:
        raise ConfigError(
            f"sentiment_model.quantize needs torch.ao.quantization.quantize_dynamic, which torch "
            f"{torch.__version__} lacks; set quantize: false"
        ) from exc
    with warnings.catch_warnings():
        # torch 2.10+ flags eager-mode quantisation as deprecated in favour of torchao; it still works.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class FinBertModel:
    """A transformers sequence classifier with three sentiment classes, scoring texts on the CPU.

    Args:
        model: a ``PreTrainedModel`` for sequence classification whose ``config.id2label`` names positive,
            negative and neutral (see :func:`class_labels`); put in eval mode here.
        tokenizer: its tokenizer (a ``transformers`` tokenizer; fast ones are much quicker).
        name: the model's name in tsbot (``"finbert"``); ``"-int8"`` is appended when quantised.
        batch_size: texts per forward pass, at least 1.
        max_length: tokens read per text, ``[CLS]`` and ``[SEP]`` included; at least 8.
        quantize: apply :func:`quantize_int8` to the model.
        num_threads: call ``torch.set_num_threads`` (process-wide) with this; None leaves torch's setting.

    Raises:
        ValueError: ``batch_size`` < 1, ``max_length`` < 8 or ``num_threads`` < 1.
        DataError: the model's labels are not the three sentiment classes.
        ConfigError: torch or transformers is missing.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "finbert",
        batch_size: int = 32,
        max_length: int = 128,
        quantize: bool = False,
        num_threads: int | None = None,
    ) -> None:
        torch, _ = import_extra()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {max_length}")
        if num_threads is not None:
            if num_threads < 1:
                raise ValueError(f"num_threads must be at least 1, got {num_threads}")
            torch.set_num_threads(num_threads)
        self.labels = class_labels(model.config.id2label)
        self.classes = tuple(label.value for label in self.labels)
        model.eval()
        self._model = quantize_int8(model) if quantize else model
        self._tokenizer = tokenizer
        self._torch = torch
        self.name = f"{name}-int8" if quantize else name
        self.batch_size = batch_size
        self.max_length = max_length
        self.quantized = quantize
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        source: str | Path,
        *,
        name: str = "finbert",
        batch_size: int = 32,
        max_length: int = 128,
        quantize: bool = False,
        num_threads: int | None = None,
        local_files_only: bool = False,
        cache_dir: str | Path | None = None,
    ) -> FinBertModel:
        """Load model and tokenizer with ``from_pretrained`` from a hub name or a local directory.

        Args:
            source: a hub name (``"ProsusAI/finbert"``) or a directory written by ``save_pretrained`` (config,
                weights, tokenizer files).
            local_files_only: never use the network; a hub name is then read from the local cache only. The
                ``HF_HUB_OFFLINE=1`` environment variable has the same effect.
            cache_dir: the hub cache to use instead of the default one.
            name, batch_size, max_length, quantize, num_threads: as for :class:`FinBertModel`.

        Raises:
            DataError: the files could not be read or are not a three-class sentiment classifier; the hub could
                not be reached and the cache has no copy. The message names ``source`` and the cause.
            ConfigError: torch or transformers is missing.
        """
        import_extra()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        options: dict[str, Any] = {"local_files_only": local_files_only}
        if cache_dir is not None:
            options["cache_dir"] = str(cache_dir)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(source), **options)
            model = AutoModelForSequenceClassification.from_pretrained(str(source), **options)
        except TsbotError:
            raise
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError, hub HTTP errors, ...
            raise DataError(f"could not load the transformer model {str(source)!r}: {exc}") from exc
        return cls(
            model,
            tokenizer,
            name=name,
            batch_size=batch_size,
            max_length=max_length,
            quantize=quantize,
            num_threads=num_threads,
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, float64 of shape ``(len(texts), 3)``, columns in :attr:`classes` order.

        Blank texts get 1/3 each without running the model.
        """
        proba = np.full((len(texts), 3), 1.0 / 3.0)
        live = [i for i, text in enumerate(texts) if text and not text.isspace()]
        if not live:
            return proba
        limit = self.max_length * CHARS_PER_TOKEN
        # Longest first: texts of similar length share a batch, so little padding is computed.
        live.sort(key=lambda i: len(texts[i]), reverse=True)
        torch = self._torch
        for start in range(0, len(live), self.batch_size):
            rows = live[start : start + self.batch_size]
            batch = [texts[i][:limit] for i in rows]
            with self._lock, torch.inference_mode():
                encoded = self._tokenizer(
                    batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
                )
                logits = self._model(**encoded).logits
                proba[rows] = torch.softmax(logits.float(), dim=-1).double().numpy()
        return proba

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One :class:`SentimentScore` per text, in order: label = most probable class, ``score = p(positive) -
        p(negative)`` in [-1, 1], ``probs`` keyed ``"positive"``/``"negative"``/``"neutral"`` summing to 1.

        Blank texts are neutral (1/3 each, score 0). Non-string items raise ``TypeError``.
        """
        if not texts:
            return []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings, got {type(text).__name__}")
        proba = self.predict_proba(texts)
        pos = self.labels.index(SentimentLabel.POSITIVE)
        neg = self.labels.index(SentimentLabel.NEGATIVE)
        out: list[SentimentScore] = []
        for text, row in zip(texts, proba, strict=True):
            if not text or text.isspace():
                out.append(
                    SentimentScore(SentimentLabel.NEUTRAL, 0.0, dict.fromkeys(self.classes, 1.0 / 3.0))
                )
                continue
            probs = {c: float(p) for c, p in zip(self.classes, row, strict=True)}
            out.append(SentimentScore(self.labels[int(row.argmax())], float(row[pos] - row[neg]), probs))
        return out
