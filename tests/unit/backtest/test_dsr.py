"""Probabilistic and Deflated Sharpe Ratios against the paper's worked example and hand-computed limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tsbot.backtest.dsr import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    sharpe_per_period,
)
from tsbot.core.errors import DataError


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _trials_with_variance(n: int, variance: float) -> np.ndarray:
    x = np.arange(n, dtype=np.float64)
    return (x - x.mean()) / x.std(ddof=1) * math.sqrt(variance)


def test_the_papers_numerical_example() -> None:
    # Bailey & Lopez de Prado (2014), "A numerical example": N = 100 trials, annualised variance of the trials'
    # Sharpe 1/2, daily data over 5 years (T = 1250, 250 days a year), skew -3, kurtosis 10, annualised SR 2.5.
    # The paper reports E[max SR] = 0.1132 (daily) and DSR = 0.9004.
    benchmark = expected_max_sharpe(0.5 / 250, 100)
    assert benchmark == pytest.approx(0.1132, abs=1e-4)
    dsr = probabilistic_sharpe_ratio(2.5 / math.sqrt(250), benchmark, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=1e-4)


def test_psr_under_normal_returns_by_hand() -> None:
    # SR 0.1 over 101 returns, normal moments: z = 0.1 * sqrt(100) / sqrt(1 + (3 - 1) / 4 * 0.01) = 1 / sqrt(1.005)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101, 0.0, 3.0) == pytest.approx(_phi(1 / math.sqrt(1.005)))
    assert probabilistic_sharpe_ratio(0.1, 0.1, 101, 0.0, 3.0) == pytest.approx(0.5)
    # negative skew and fat tails widen the error: a lower probability for the same Sharpe
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101, -2.0, 9.0) < probabilistic_sharpe_ratio(
        0.1, 0.0, 101, 0, 3
    )
    with pytest.raises(DataError):
        probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0)
    with pytest.raises(DataError):
        probabilistic_sharpe_ratio(math.nan, 0.0, 10, 0.0, 3.0)


def test_expected_max_sharpe_by_hand_and_its_limits() -> None:
    # N = 2: Phi^-1(1/2) = 0 leaves gamma * Phi^-1(1 - 1/(2e)); 1 - 1/(2e) = 0.8160603, whose quantile is 0.9004526
    # (checked with erf: Phi(0.9004526) = 0.8160603)
    assert _phi(0.9004526) == pytest.approx(1 - 1 / (2 * math.e), abs=1e-8)
    assert expected_max_sharpe(0.04, 2) == pytest.approx(0.2 * 0.5772156649 * 0.9004526, abs=1e-8)
    assert expected_max_sharpe(0.04, 1) == 0.0
    assert expected_max_sharpe(0.0, 50) == 0.0
    values = [expected_max_sharpe(0.01, n) for n in (2, 10, 100, 1000)]
    assert values == sorted(values) and values[0] > 0
    with pytest.raises(DataError):
        expected_max_sharpe(-0.1, 10)
    with pytest.raises(DataError):
        expected_max_sharpe(0.1, 0)


def test_one_trial_gives_the_psr_against_zero() -> None:
    r = np.random.default_rng(7).standard_t(5, 300) * 0.01 + 0.001
    m = r.mean()
    m2, m3, m4 = (np.mean((r - m) ** k) for k in (2, 3, 4))
    skew, kurt = m3 / m2**1.5, m4 / m2**2
    sr = m / r.std(ddof=1)
    expected = _phi(sr * math.sqrt(len(r) - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))
    assert deflated_sharpe_ratio(r, [sr]) == pytest.approx(expected, rel=1e-9)


def test_more_trials_lower_and_higher_sharpe_raises_the_dsr() -> None:
    r = np.random.default_rng(11).normal(0.002, 0.01, 500)
    dsr = [deflated_sharpe_ratio(r, _trials_with_variance(n, 0.002)) for n in (2, 10, 100, 1000)]
    assert all(a > b for a, b in zip(dsr, dsr[1:], strict=False))
    trials = _trials_with_variance(20, 0.002)
    assert deflated_sharpe_ratio(r + 0.001, trials) > deflated_sharpe_ratio(r, trials)
    assert all(0.0 <= d <= 1.0 for d in dsr)


def test_sharpe_per_period_and_input_errors() -> None:
    assert sharpe_per_period(np.array([0.1, -0.1, 0.2])) == pytest.approx((0.2 / 3) / math.sqrt(0.07 / 3))
    assert sharpe_per_period(np.full(10, 0.01)) == 0.0 and sharpe_per_period(np.array([0.5])) == 0.0
    assert 0.0 <= deflated_sharpe_ratio(np.zeros(10), [0.0, 0.1]) <= 1.0
    with pytest.raises(DataError):
        deflated_sharpe_ratio(np.array([0.01]), [0.1, 0.2])
    with pytest.raises(DataError):
        deflated_sharpe_ratio(np.array([0.01, 0.02]), [])
