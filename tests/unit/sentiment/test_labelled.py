"""Labelled files for `tsbot sentiment eval` and texts for `classify`: every layout, and clear errors."""

from __future__ import annotations

import pytest

from tsbot.core.errors import DataError
from tsbot.sentiment.labelled import parse_label_map, read_labelled, texts_to_classify


def test_phrasebank_layout_in_latin1_splits_on_the_last_at_sign() -> None:
    raw = "Profit rose to EUR 5 mn from EUR 3 mn@positive\nWrite to ir@company.com for details@neutral\n"
    data = read_labelled(raw.replace("EUR", "\u20ac").encode("latin-1", errors="replace"))
    assert data.labels == ["positive", "neutral"]
    assert data.texts[1] == "Write to ir@company.com for details"


def test_tab_layout_with_label_spellings_and_blank_lines() -> None:
    raw = b"Shares slump\tBearish\n\n   \nRally ahead\tPOS\nFlat day\tneu\n"
    data = read_labelled(raw)
    assert data.labels == ["negative", "positive", "neutral"]
    assert data.blank_lines == 0  # whitespace-only lines carry no label and are not rows at all


def test_twitter_csv_numbers_map_to_bearish_bullish_neutral() -> None:
    raw = b'text,label\n"$AAPL falls, again",0\nBTC soars,1\nFed meets today,2\n'
    data = read_labelled(raw)
    assert data.texts[0] == "$AAPL falls, again"
    assert data.labels == ["negative", "positive", "neutral"]


def test_a_custom_numbering_overrides_the_default() -> None:
    mapping = parse_label_map("0=positive, 1=negative")
    data = read_labelled(b"a\t0\nb\t1\nc\t2\n", label_map=mapping)
    assert data.labels == ["positive", "negative", "neutral"]
    with pytest.raises(DataError, match="must look like 0=negative"):
        parse_label_map("0:positive")
    with pytest.raises(DataError, match="must look like"):
        parse_label_map("0=happy")


def test_jsonl_rows_and_their_errors() -> None:
    data = read_labelled(b'{"text": "Up big", "label": "positive"}\n{"text": "", "label": "neutral"}\n')
    assert data.texts == ["Up big"] and data.blank_lines == 1
    with pytest.raises(DataError, match="line 2: not JSON"):
        read_labelled(b'{"text": "a", "label": "positive"}\n{broken\n')


def test_bad_labels_and_unlabelled_files_are_refused_with_the_line() -> None:
    with pytest.raises(DataError, match="line 2: unknown label 'maybe'"):
        read_labelled(b"good news@positive\nunclear@maybe\n")
    with pytest.raises(DataError, match="line 1: no label"):
        read_labelled(b"just a sentence\n")
    with pytest.raises(DataError, match="no labelled text"):
        read_labelled(b"\n\n")


def test_texts_to_classify_keep_line_numbers_and_read_jsonl() -> None:
    raw = 'Bitcoin hits a record\n\n{"text": "Ethereum slides"}\n\u6bd4\u7279\u5e01\u4e0a\u6da8\n'.encode()
    assert texts_to_classify(raw) == [
        "Bitcoin hits a record",
        "",
        "Ethereum slides",
        "\u6bd4\u7279\u5e01\u4e0a\u6da8",
    ]
    with pytest.raises(DataError, match='line 1: a JSON line needs a "text" string'):
        texts_to_classify(b'{"title": "x"}\n')
    with pytest.raises(DataError, match="line 2: looks like JSON but is not"):
        texts_to_classify(b"fine\n{oops\n")
