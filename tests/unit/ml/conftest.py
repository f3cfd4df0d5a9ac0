"""Fixtures of the ML tests: synthetic candle series (see :mod:`synthetic`)."""

from __future__ import annotations

import pytest
from tests.unit.ml.synthetic import random_walk

from tsbot.market.models import CandleFrame


@pytest.fixture(scope="session")
def walk() -> CandleFrame:
    """3,000 hourly bars of a random walk."""
    return random_walk(3_000, seed=11)
