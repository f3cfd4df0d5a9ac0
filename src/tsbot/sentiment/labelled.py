"""Reading labelled sentiment files for evaluation (``tsbot sentiment eval``) and texts to classify.

Labelled formats, chosen by the file's content:

* CSV with a header naming a text column (``text``, ``sentence`` or ``title``) and a ``label`` column, such as the
  twitter-financial-news-sentiment splits (``text,label`` with labels 0 / 1 / 2);
* JSON lines with ``text`` and ``label``;
* plain lines ``text<TAB>label``, or ``sentence@label`` (the Financial PhraseBank layout; the last ``@`` splits).

Label names are case-insensitive: ``positive / negative / neutral``, ``pos / neg / neu``, ``bullish / bearish``,
and the numbers ``0`` (negative, "Bearish"), ``1`` (positive, "Bullish"), ``2`` (neutral), as in
twitter-financial-news-sentiment; another numbering can be given as a mapping. Files are read as UTF-8, falling
back to Latin-1 (the PhraseBank files are Latin-1).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from tsbot.core.errors import DataError

LABELS = ("negative", "neutral", "positive")

#: Label spellings accepted in labelled files.
LABEL_ALIASES: dict[str, str] = {
    "positive": "positive",
    "pos": "positive",
    "bullish": "positive",
    "negative": "negative",
    "neg": "negative",
    "bearish": "negative",
    "neutral": "neutral",
    "neu": "neutral",
    "0": "negative",
    "1": "positive",
    "2": "neutral",
}

_TEXT_COLUMNS = ("text", "sentence", "title")


@dataclass(frozen=True, slots=True)
class LabelledSet:
    """Texts and their labels (each one of :data:`LABELS`), in file order, and the lines skipped as blank."""

    texts: list[str]
    labels: list[str]
    blank_lines: int


def decode(raw: bytes) -> str:
    """UTF-8 (a BOM is dropped), else Latin-1, which decodes any byte sequence."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_label_map(text: str | None) -> dict[str, str]:
    """``"0=negative,1=positive,2=neutral"`` -> a mapping merged over :data:`LABEL_ALIASES`.

    Raises:
        DataError: an entry without ``=`` or naming a label other than positive / negative / neutral.
    """
    mapping = dict(LABEL_ALIASES)
    if not text:
        return mapping
    for part in text.split(","):
        key, sep, value = part.partition("=")
        value = LABEL_ALIASES.get(value.strip().lower(), "")
        if not sep or not key.strip() or value not in LABELS:
            raise DataError(
                f"label map entry {part.strip()!r} must look like 0=negative (labels: {', '.join(LABELS)})"
            )
        mapping[key.strip().lower()] = value
    return mapping


def read_labelled(
    raw: bytes, *, label_map: Mapping[str, str] | None = None, name: str = "input"
) -> LabelledSet:
    """Parse a labelled file's bytes (see the module docstring for the formats).

    Raises:
        DataError: a line or row without a known label, naming the line number and the label found; or no labelled
            text at all.
    """
    mapping = dict(label_map or LABEL_ALIASES)
    text = decode(raw)
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        rows: Iterable[tuple[int, str, str]] = _jsonl_rows(text, name)
    elif _is_csv_header(first):
        rows = _csv_rows(text, name)
    else:
        rows = _line_rows(text, name)
    texts: list[str] = []
    labels: list[str] = []
    blank = 0
    for lineno, body, label in rows:
        if not body.strip():
            blank += 1
            continue
        value = mapping.get(label.strip().lower())
        if value is None:
            raise DataError(
                f"{name} line {lineno}: unknown label {label.strip()!r}; use positive / negative / neutral "
                "(or bullish / bearish, 0 / 1 / 2)"
            )
        texts.append(body.strip())
        labels.append(value)
    if not texts:
        raise DataError(
            f"{name}: no labelled text found (expected text<TAB>label, sentence@label, CSV or JSONL)"
        )
    return LabelledSet(texts, labels, blank)


def _is_csv_header(line: str) -> bool:
    cells = [c.strip().strip('"').lower() for c in next(csv.reader([line]), [])]
    return "label" in cells and any(c in cells for c in _TEXT_COLUMNS)


def _csv_rows(text: str, name: str) -> Iterator[tuple[int, str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or ()}
    text_col = next(fields[c] for c in _TEXT_COLUMNS if c in fields)
    for row in reader:
        yield reader.line_num, row.get(text_col) or "", row.get(fields["label"]) or ""


def _jsonl_rows(text: str, name: str) -> Iterator[tuple[int, str, str]]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name} line {lineno}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or "label" not in obj:
            raise DataError(f"{name} line {lineno}: a JSON object with text and label is needed")
        yield lineno, str(obj.get("text") or obj.get("sentence") or ""), str(obj["label"])


def _line_rows(text: str, name: str) -> Iterator[tuple[int, str, str]]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "\t" in line:
            body, _, label = line.rpartition("\t")
        elif "@" in line:
            body, _, label = line.rpartition("@")
        else:
            raise DataError(f"{name} line {lineno}: no label (expected text<TAB>label or sentence@label)")
        yield lineno, body, label


def texts_to_classify(raw: bytes) -> list[str]:
    """One text per line, or JSON lines carrying ``text``; blank lines stay (as empty texts) so outputs line up.

    Raises:
        DataError: a line that starts like JSON but is not a JSON object with ``text``.
    """
    out: list[str] = []
    for lineno, line in enumerate(decode(raw).splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("{"):
            try:
                obj = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise DataError(f"line {lineno}: looks like JSON but is not ({exc.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise DataError(f'line {lineno}: a JSON line needs a "text" string')
            out.append(obj["text"])
        else:
            out.append(line)
    return out
