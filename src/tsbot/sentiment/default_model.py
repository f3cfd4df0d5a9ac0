"""tsbot's default sentiment model: hashed n-gram features and a multinomial logistic regression in numpy.

The model ships inside the package (``tsbot/data/models/sentiment_default/``) as two files:

* ``model.json``: format version, feature parameters, class order, training data (source, licence),
  validation metrics and the training date;
* ``weights.npz``: ``index`` (uint32, shape ``(K,)``, the hash buckets that carry a weight), ``coef``
  (float32, shape ``(K, C)``) and ``intercept`` (float32, shape ``(C,)``) for ``C`` classes.

No pickle is involved and scoring needs numpy only; :mod:`tsbot.sentiment.training` fits the weights with
scikit-learn's ``LogisticRegression`` on exactly the features computed here (:class:`HashedFeaturizer`).

Features (all hashed with ``zlib.crc32``, which is stable across processes, unlike ``hash()``):

* text clean-up: HTML tags dropped, entities unescaped, lower-cased, typographic apostrophes made plain;
  URLs, @mentions, cashtags, money amounts, percentages and other numbers become the placeholder tokens
  ``_url_ _user_ _cash_ _money_ _pct_ _num_``;
* word unigrams (a word within ``negation_window`` words after a negator such as "not" or "n't" hashes apart,
  the marking of Das and Chen, "Yahoo! for Amazon", 2001) and word bigrams;
* character n-grams of each word padded with spaces (like scikit-learn's ``analyzer="char_wb"``);
* optionally (``lexicon_weight > 0``, format 2) the directional cue tokens of
  :func:`tsbot.sentiment.lexicon.cue_tokens` ("profit rose" -> ``_cue_pos_``, "loss widened" -> ``_cue_neg_``),
  read from the raw text so that "from EUR 8.7 mn to EUR 13.1 mn" keeps its numbers;
* each group is scaled by ``weight / sqrt(number of its features in the text)``, an L2-style length
  normalisation that needs no de-duplication.

Long inputs are bounded: only the first ``max_chars`` characters (default 2,000) and the first ``max_tokens``
tokens (default 128) of a text are read, and a word yields character n-grams from its first 24 characters
only.
"""

from __future__ import annotations

import html
import io
import json
import re
import threading
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tsbot.core.enums import SentimentLabel
from tsbot.core.errors import DataError
from tsbot.sentiment.lexicon import cue_tokens
from tsbot.sentiment.models import SentimentScore

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # format 1 has no lexicon cues: its FeatureParams lack lexicon_weight (0.0)
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
_PACKAGE_DIR = ("data", "models", "sentiment_default")

_SEED_WORD = 0x5EED0001
_SEED_NEG = 0x5EED0002
_SEED_CHAR = 0x5EED0003
_SEED_BIGRAM = 0x5EED0004
_SEED_CUE = 0x5EED0005
_MAX_WORD_CHARS = 24
_CACHE_LIMIT = 200_000
_CHUNK = 1024

_TAG = re.compile(r"<[^>]{0,200}>")
_URL = re.compile(r"https?://\S+|www\.\S+")
_USER = re.compile(r"@\w+")
_CASH = re.compile(r"\$[^\W\d_][\w.]{0,11}")
_MONEY = re.compile(r"[$€£]\s?\d[\d,.]*(?:\s?(?:[kmb]n?|bln|mln|million|billion|trillion)\b)?")
_PCT = re.compile(r"[+-]?\d[\d,.]*\s?(?:%|pct\b|percent\b)")
_NUM = re.compile(r"\d[\d,.]*")
_TOKEN = re.compile(r"_[a-z]+_|[^\W_]+(?:'[^\W_]+)*|[!?]")
_NEGATORS = frozenset({"not", "no", "never", "nor", "without", "cannot", "neither", "nobody", "nothing"})


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """Parameters of :class:`HashedFeaturizer`; stored under ``"features"`` in ``model.json``.

    Attributes:
        n_buckets: size of the hashed feature space; a power of two, at most 2**24. The loaded model keeps a
            dense float32 table of ``C * n_buckets`` weights (12 MiB for 3 classes and 2**20 buckets).
        char_min, char_max: character n-gram lengths, inclusive (0 and 0 turn them off).
        word_bigrams: add hashed word bigrams.
        negation_window: words after a negator whose unigrams hash apart (0 turns it off).
        word_weight, char_weight: scale of each group after its length normalisation.
        lexicon_weight: scale of the directional cue group (0 turns it off; format 1 models have 0).
        max_chars: characters of a text read; the rest is ignored.
        max_tokens: tokens of a text read; the rest is ignored.
    """

    n_buckets: int = 1 << 20
    char_min: int = 2
    char_max: int = 5
    word_bigrams: bool = True
    negation_window: int = 3
    word_weight: float = 1.0
    char_weight: float = 1.0
    lexicon_weight: float = 0.0
    max_chars: int = 2000
    max_tokens: int = 128

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FeatureParams:
        """Build from ``model.json``'s ``"features"``; raises ``TypeError`` on unknown or missing keys."""
        params = cls(**raw)
        if not 0 < params.n_buckets <= 1 << 24 or params.n_buckets & (params.n_buckets - 1):
            raise ValueError(f"n_buckets must be a power of two up to 2**24, got {params.n_buckets}")
        return params


def normalise(text: str, max_chars: int = 2000) -> str:
    """Clean one text for tokenising: see the module docstring. Reads at most ``max_chars`` characters."""
    text = text[:max_chars]
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    text = text.lower()
    if "\u2019" in text:
        text = text.replace("\u2019", "'")
    text = _URL.sub(" _url_ ", text)
    text = _USER.sub(" _user_ ", text)
    if "$" in text:
        text = _CASH.sub(" _cash_ ", text)
    text = _MONEY.sub(" _money_ ", text)
    text = _PCT.sub(" _pct_ ", text)
    return _NUM.sub(" _num_ ", text)


def tokenise(text: str, max_chars: int = 2000, max_tokens: int = 128) -> list[str]:
    """Tokens of ``normalise(text)``: words (with inner apostrophes), placeholders, ``!`` and ``?``."""
    return _TOKEN.findall(normalise(text, max_chars))[:max_tokens]


@lru_cache(maxsize=64)
def _cue_hash(cue: str) -> int:
    return zlib.crc32(cue.encode("ascii"), _SEED_CUE)


class HashedFeaturizer:
    """Turns texts into sparse hashed features, in batch.

    :meth:`transform` returns three parallel arrays of length ``M`` (all features of the batch): ``rows``
    (int64, the text's position), ``buckets`` (int64 in ``[0, n_buckets)``) and ``values`` (float64).
    A bucket may repeat within a row; a sparse matrix built from them sums the repeats. Thread-safe.
    """

    def __init__(self, params: FeatureParams) -> None:
        self.params = params
        self._mask = np.uint64(params.n_buckets - 1)
        self._cache: dict[str, tuple[int, int, np.ndarray]] = {}
        self._lock = threading.Lock()

    def _token_entry(self, token: str) -> tuple[int, int, np.ndarray]:
        """(word hash, negated-word hash, char n-gram buckets) of one token, cached."""
        entry = self._cache.get(token)
        if entry is not None:
            return entry
        p = self.params
        raw = token.encode("utf-8")
        grams: list[int] = []
        if p.char_max and not token.startswith("_"):
            padded = f" {token[:_MAX_WORD_CHARS]} ".encode()
            size = len(padded)
            for n in range(p.char_min, p.char_max + 1):
                grams.extend(zlib.crc32(padded[i : i + n], _SEED_CHAR) for i in range(size - n + 1))
        entry = (
            zlib.crc32(raw, _SEED_WORD),
            zlib.crc32(raw, _SEED_NEG),
            np.asarray(grams, dtype=np.uint64) & self._mask,
        )
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache = {}
            self._cache[token] = entry
        return entry

    def _negated(self, tokens: list[str]) -> list[bool]:
        window = self.params.negation_window
        flags = [False] * len(tokens)
        left = 0
        for i, tok in enumerate(tokens):
            if left:
                flags[i] = tok.isalpha() or "'" in tok
                left = left - 1 if flags[i] else 0
            if tok in _NEGATORS or tok.endswith("n't"):
                left = window
        return flags

    def transform(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hashed features of ``texts``: ``(rows, buckets, values)``, see the class docstring."""
        p = self.params
        vocab: dict[str, int] = {}
        occ_tokens: list[int] = []
        negated: list[int] = []
        lengths: list[int] = []
        cue_rows: list[int] = []
        cue_hashes: list[int] = []
        for n, text in enumerate(texts):
            if p.lexicon_weight:
                cues = cue_tokens(text[: p.max_chars])
                cue_rows.extend([n] * len(cues))
                cue_hashes.extend(_cue_hash(c) for c in cues)
            clean = normalise(text, p.max_chars)
            tokens = _TOKEN.findall(clean)[: p.max_tokens]
            if p.negation_window and ("n't" in clean or not _NEGATORS.isdisjoint(tokens)):
                start = len(occ_tokens)
                negated.extend(start + i for i, flag in enumerate(self._negated(tokens)) if flag)
            lengths.append(len(tokens))
            occ_tokens.extend([vocab.setdefault(t, len(vocab)) for t in tokens])
        n_texts = len(lengths)
        entries = [self._token_entry(t) for t in vocab]
        tok = np.asarray(occ_tokens, dtype=np.int64)
        n_tok = np.asarray(lengths, dtype=np.int64)
        row = np.repeat(np.arange(n_texts, dtype=np.int64), n_tok)
        word_h = np.asarray([e[0] for e in entries], dtype=np.uint64)
        neg_h = np.asarray([e[1] for e in entries], dtype=np.uint64)
        uni = word_h[tok] if tok.size else np.zeros(0, np.uint64)
        if negated:
            where = np.asarray(negated, dtype=np.int64)
            uni[where] = neg_h[tok[where]]
        parts_r, parts_b = [row], [uni & self._mask]
        if p.word_bigrams and tok.size > 1:
            same = row[1:] == row[:-1]
            h1, h2 = word_h[tok[:-1]][same], word_h[tok[1:]][same]
            mixed = h1 * np.uint64(0x01000193) + h2 * np.uint64(0x9E3779B1) + np.uint64(_SEED_BIGRAM)
            mixed ^= mixed >> np.uint64(29)
            parts_r.append(row[:-1][same])
            parts_b.append(mixed & self._mask)
        w_rows = np.concatenate(parts_r)
        w_buckets = np.concatenate(parts_b).astype(np.int64)
        w_count = np.bincount(w_rows, minlength=n_texts)
        w_vals = p.word_weight / np.sqrt(np.maximum(w_count, 1))[w_rows]
        if cue_rows:
            k_rows = np.asarray(cue_rows, dtype=np.int64)
            k_count = np.bincount(k_rows, minlength=n_texts)
            w_rows = np.concatenate((w_rows, k_rows))
            w_buckets = np.concatenate(
                (w_buckets, np.asarray(cue_hashes, dtype=np.int64) & (p.n_buckets - 1))
            )
            w_vals = np.concatenate((w_vals, p.lexicon_weight / np.sqrt(k_count[k_rows])))
        if not p.char_max or not entries:
            return w_rows, w_buckets, w_vals
        c_len = np.asarray([e[2].size for e in entries], dtype=np.int64)
        c_flat = np.concatenate([e[2] for e in entries]).astype(np.int64)
        c_start = np.concatenate(([0], np.cumsum(c_len)[:-1]))
        occ_len = c_len[tok]
        total = int(occ_len.sum())
        offsets = np.repeat(c_start[tok] - (np.cumsum(occ_len) - occ_len), occ_len)
        c_buckets = c_flat[offsets + np.arange(total, dtype=np.int64)]
        c_rows = np.repeat(row, occ_len)
        c_count = np.bincount(c_rows, minlength=n_texts)
        c_vals = p.char_weight / np.sqrt(np.maximum(c_count, 1))[c_rows]
        return (
            np.concatenate((w_rows, c_rows)),
            np.concatenate((w_buckets, c_buckets)),
            np.concatenate((w_vals, c_vals)),
        )


_LABELS = {label.value: label for label in SentimentLabel}
_UNIFORM = {
    SentimentLabel.POSITIVE.value: 1 / 3,
    SentimentLabel.NEGATIVE.value: 1 / 3,
    SentimentLabel.NEUTRAL.value: 1 / 3,
}


class DefaultSentimentModel:
    """The default :class:`~tsbot.sentiment.ports.SentimentModel`: hashed n-grams, multinomial logit.

    Build it with :func:`load_default_model`. Scoring is batch-vectorised numpy; the model is immutable and
    thread-safe (the token cache is only ever replaced whole).

    Args:
        params: feature parameters.
        classes: label value of each weight column (``"negative"``, ``"positive"``, ``"neutral"``),
            length ``C``.
        index: uint32 buckets that carry weights, shape ``(K,)``, each ``< params.n_buckets``.
        coef: weights, shape ``(K, C)``.
        intercept: shape ``(C,)``.
        metadata: the parsed ``model.json`` (kept as :attr:`metadata`).

    Raises:
        ValueError: shapes or labels do not fit together.
    """

    name = "default"

    def __init__(
        self,
        params: FeatureParams,
        classes: Sequence[str],
        index: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.classes = tuple(classes)
        if sorted(self.classes) != sorted(_LABELS):
            raise ValueError(f"classes must be {sorted(_LABELS)} in some order, got {self.classes}")
        index = np.asarray(index)
        coef = np.asarray(coef)
        n_classes = len(self.classes)
        if index.ndim != 1 or coef.shape != (index.size, n_classes) or np.shape(intercept) != (n_classes,):
            shapes = f"index {index.shape}, coef {coef.shape}, intercept {np.shape(intercept)}"
            raise ValueError(f"bad shapes: {shapes}")
        if index.size and (int(index.max()) >= params.n_buckets or int(index.min()) < 0):
            raise ValueError("index holds buckets outside [0, n_buckets)")
        if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
            raise ValueError("weights hold NaN or infinity")
        self.params = params
        self.metadata = dict(metadata or {})
        self.featurizer = HashedFeaturizer(params)
        table = np.zeros((n_classes, params.n_buckets), dtype=np.float32)
        table[:, index.astype(np.int64)] = coef.T
        self._table = table
        self._intercept = np.asarray(intercept, dtype=np.float64)
        self._pos = self.classes.index(SentimentLabel.POSITIVE.value)
        self._neg = self.classes.index(SentimentLabel.NEGATIVE.value)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Class logits, float64 of shape ``(len(texts), C)``, columns in :attr:`classes` order.

        Works through ``texts`` in chunks of 1,024 so that its temporary arrays stay small and cache-friendly.
        """
        if not isinstance(texts, list | tuple):
            texts = list(texts)
        n = len(texts)
        logits = np.empty((n, len(self.classes)), dtype=np.float64)
        for start in range(0, n, _CHUNK):
            chunk = texts[start : start + _CHUNK]
            rows, buckets, values = self.featurizer.transform(chunk)
            for k in range(len(self.classes)):
                logits[start : start + len(chunk), k] = np.bincount(
                    rows, weights=self._table[k][buckets] * values, minlength=len(chunk)
                )
        logits += self._intercept
        return logits

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), C)``, rows summing to 1.

        ``p = softmax(coef . x + intercept)``, the multinomial logistic regression that scikit-learn's
        ``LogisticRegression.predict_proba`` computes for the same weights and features ``x``.

        A text with no features (blank, or punctuation only) gets ``softmax(intercept)``: the training prior.
        """
        logits = self.decision_function(texts)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One :class:`SentimentScore` per text, in order.

        ``score = p(positive) - p(negative)`` in [-1, 1]; ``label`` is the most probable class. A blank text
        (empty or whitespace only) is exactly neutral: probabilities 1/3 each and score 0; a text with no
        features otherwise (punctuation only) gets the training prior, ``softmax(intercept)``, which is
        neutral. Reads at most ``max_chars`` characters and ``max_tokens`` tokens of each text (see the module
        docstring).
        """
        if not texts:
            return []
        proba = self.predict_proba(texts)
        best = proba.argmax(axis=1)
        signed = proba[:, self._pos] - proba[:, self._neg]
        labels = [_LABELS[c] for c in self.classes]
        out: list[SentimentScore] = []
        for i, text in enumerate(texts):
            if not text or text.isspace():
                out.append(SentimentScore(SentimentLabel.NEUTRAL, 0.0, dict(_UNIFORM)))
                continue
            row = proba[i]
            probs = {c: float(row[k]) for k, c in enumerate(self.classes)}
            out.append(SentimentScore(labels[best[i]], float(signed[i]), probs))
        return out


def save_model(
    directory: str | Path,
    params: FeatureParams,
    classes: Sequence[str],
    coef: np.ndarray,
    intercept: np.ndarray,
    metadata: dict[str, Any],
) -> tuple[Path, Path]:
    """Write ``model.json`` and ``weights.npz`` into ``directory`` (created if needed).

    Args:
        coef: dense weights, shape ``(C, n_buckets)`` (scikit-learn's ``coef_`` layout); only buckets with a
            non-zero weight are stored, as float32.
        intercept: shape ``(C,)``.
        metadata: extra keys for ``model.json`` (training data, metrics, date); ``format_version``,
            ``features`` and ``classes`` are set here.

    Returns:
        The paths of the two files.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    coef = np.asarray(coef)
    index = np.flatnonzero(np.any(coef != 0, axis=0)).astype(np.uint32)
    weights = out / WEIGHTS_FILE
    np.savez_compressed(
        weights,
        index=index,
        coef=np.ascontiguousarray(coef[:, index].T, dtype=np.float32),
        intercept=np.asarray(intercept, dtype=np.float32),
    )
    meta = {
        "format_version": FORMAT_VERSION,
        **metadata,
        "features": asdict(params),
        "classes": list(classes),
    }
    model = out / MODEL_FILE
    model.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return model, weights


def _read(source: Any, name: str) -> bytes:
    try:
        return (source / name).read_bytes()
    except OSError as exc:
        raise DataError(f"sentiment model file {source / name} cannot be read: {exc}") from exc


def _build(source: Any) -> DefaultSentimentModel:
    model_file, weights_file = source / MODEL_FILE, source / WEIGHTS_FILE
    raw_meta = _read(source, MODEL_FILE)
    raw_weights = _read(source, WEIGHTS_FILE)
    try:
        meta = json.loads(raw_meta.decode("utf-8"))
        if meta.get("format_version") not in READABLE_VERSIONS:
            raise ValueError(
                f"format_version {meta.get('format_version')!r}, expected one of {READABLE_VERSIONS}"
            )
        params = FeatureParams.from_dict(meta["features"])
        classes = meta["classes"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"sentiment model file {model_file} is corrupt: {exc!r}") from exc
    try:
        with np.load(io.BytesIO(raw_weights), allow_pickle=False) as npz:
            index, coef, intercept = npz["index"], npz["coef"], npz["intercept"]
        return DefaultSentimentModel(params, classes, index, coef, intercept, meta)
    except (ValueError, KeyError, OSError, EOFError) as exc:
        raise DataError(f"sentiment model file {weights_file} is corrupt: {exc!r}") from exc


@lru_cache(maxsize=8)
def _load_cached(path: str | None) -> DefaultSentimentModel:
    if path is None:
        source: Any = resources.files("tsbot").joinpath(*_PACKAGE_DIR)
    else:
        source = Path(path)
    return _build(source)


def load_default_model(path: str | Path | None = None) -> DefaultSentimentModel:
    """Load the default sentiment model, once per path (cached).

    Args:
        path: a directory holding ``model.json`` and ``weights.npz``; ``None`` reads the copy shipped in the
            package (through ``importlib.resources``, so it works from an installed wheel).

    Raises:
        DataError: a file is missing, unreadable or corrupt; the message names the file.
    """
    return _load_cached(None if path is None else str(Path(path).resolve()))
