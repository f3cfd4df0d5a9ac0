"""The directional lexicon: direction times quantity, number comparisons, swings, negation."""

from __future__ import annotations

import pytest

from tsbot.sentiment.lexicon import CUES, DIRECTION, QUANTITY, cue_tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Operating profit rose to EUR 13.1 mn from EUR 8.7 mn", "_cue_pos_"),
        ("The company's net sales decreased by 5 %", "_cue_neg_"),
        ("Net loss widened to EUR 4 mn", "_cue_neg_"),
        ("Operating loss narrowed to EUR 1 mn", "_cue_pos_"),
        ("Costs were reduced by EUR 3 mn", "_cue_pos_"),
        ("The group will cut 200 jobs", "_cue_neg_"),
        ("The firm raised its dividend", "_cue_pos_"),
        ("Earnings per share were EUR 0.9 compared with EUR 1.4", "_cue_neg_"),
        ("Turnover totalled EUR 50 mn, from EUR 40 mn to EUR 50 mn", "_cue_pos_"),
        ("The company swung to a profit of EUR 2 mn", "_cue_pos_"),
        ("The company turned to a loss", "_cue_neg_"),
    ],
)
def test_direction_times_quantity(text: str, expected: str) -> None:
    # bad inputs tried: the same verbs with a "more is bad" quantity, where a bag of words reads the wrong way
    cues = cue_tokens(text)
    assert expected in cues, cues
    opposite = "_cue_neg_" if expected == "_cue_pos_" else "_cue_pos_"
    assert opposite not in cues, cues


def test_negation_flips_the_direction() -> None:
    assert "_cue_neg_" in cue_tokens("Sales did not increase in the quarter")
    assert "_cue_pos_" in cue_tokens("Sales increased in the quarter")


def test_neutral_facts_give_no_directional_cue() -> None:
    for text in (
        "The company will publish its interim report on 5 May.",
        "The plant employs 300 people.",
        "",
    ):
        assert not {"_cue_pos_", "_cue_neg_"} & set(cue_tokens(text)), text


def test_output_is_only_known_cues_and_lists_are_consistent() -> None:
    text = "Record revenue rose, losses fell, debt increased and the shares were downgraded 3 % from 10 to 7."
    cues = cue_tokens(text)
    assert cues and set(cues) <= set(CUES)
    assert set(DIRECTION.values()) == {-1, 1} and set(QUANTITY.values()) == {-1, 1}
    assert not set(DIRECTION) & set(QUANTITY) - {"growth", "return", "returns"}
