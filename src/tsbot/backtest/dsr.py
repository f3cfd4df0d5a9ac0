"""Probabilistic and Deflated Sharpe Ratios: how much to believe the best of many backtests.

Sources: D. H. Bailey and M. López de Prado, "The Sharpe Ratio Efficient Frontier", Journal of Risk 15(2), 2012
(the Probabilistic Sharpe Ratio), and "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest
Overfitting and Non-Normality", Journal of Portfolio Management 40(5), 2014 (the Deflated Sharpe Ratio).

Every Sharpe ratio here is per period (per bar, not annualised): ``mean(r) / std(r, ddof=1)`` of simple returns.
An annualised Sharpe is turned into one by dividing by ``sqrt(periods per year)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tsbot.core.errors import DataError

#: The Euler-Mascheroni constant.
EULER_GAMMA = 0.5772156649015329


def sharpe_per_period(returns: np.ndarray) -> float:
    """Per-period Sharpe ratio ``mean(r) / std(r, ddof=1)`` of float64 ``(n,)`` simple returns (no risk-free rate).

    0.0 when fewer than two returns or their standard deviation is 0 (below 1e-12).
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return 0.0
    std = float(r.std(ddof=1))
    return 0.0 if std < 1e-12 else float(r.mean()) / std


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark_sharpe: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """Probability that the true Sharpe ratio exceeds ``benchmark_sharpe`` (Bailey & López de Prado 2012, eq. 9).

    ``PSR = Phi((SR - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2))``.

    Args:
        sharpe: observed per-period Sharpe ratio ``SR``.
        benchmark_sharpe: per-period benchmark ``SR*`` (0 for "is there any skill").
        n_obs: number of returns ``T``, >= 2.
        skew: skewness ``g3`` of the returns (0 for normal).
        kurtosis: kurtosis ``g4``, the plain fourth standardised moment (3 for normal, not the excess).

    Returns:
        A probability in [0, 1].

    Raises:
        DataError: fewer than two observations or a non-finite input.
    """
    values = (sharpe, benchmark_sharpe, skew, kurtosis)
    if n_obs < 2 or not all(math.isfinite(v) for v in values):
        raise DataError(
            f"PSR needs >= 2 observations and finite moments, got n_obs={n_obs}, sharpe={sharpe}, "
            f"benchmark={benchmark_sharpe}, skew={skew}, kurtosis={kurtosis}"
        )
    diff = sharpe - benchmark_sharpe
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if var <= 0:  # only on the edge of the moments' feasible region (g4 >= g3^2 + 1 makes var >= 0)
        return 1.0 if diff > 0 else (0.0 if diff < 0 else 0.5)
    from scipy.stats import norm  # imported on use: scipy costs every command start-up about 0.6 s

    return float(norm.cdf(diff * math.sqrt(n_obs - 1) / math.sqrt(var)))


def expected_max_sharpe(trials_sharpe_variance: float, n_trials: int) -> float:
    """Expected maximum per-period Sharpe ratio of ``n_trials`` independent trials with true Sharpe 0
    (Bailey & López de Prado 2014, eq. 2, via the false strategy theorem):

    ``E[max SR] = sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e)))``, gamma the
    Euler-Mascheroni constant.

    Args:
        trials_sharpe_variance: variance ``V`` of the per-period Sharpe ratios across the trials, >= 0.
        n_trials: number of trials ``N`` >= 1; 0.0 is returned for one trial (nothing was selected).

    Raises:
        DataError: ``n_trials < 1`` or a negative / non-finite variance.
    """
    if n_trials < 1 or not math.isfinite(trials_sharpe_variance) or trials_sharpe_variance < 0:
        raise DataError(
            f"expected max Sharpe needs n_trials >= 1 and a variance >= 0, got {n_trials}, {trials_sharpe_variance}"
        )
    if n_trials == 1:
        return 0.0
    from scipy.stats import norm

    z = (1.0 - EULER_GAMMA) * norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * norm.ppf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return float(math.sqrt(trials_sharpe_variance) * z)


def deflated_sharpe_ratio(returns: np.ndarray, trials_sharpe: Sequence[float]) -> float:
    """Deflated Sharpe Ratio (Bailey & López de Prado 2014, eq. 1): the PSR of the selected configuration against
    the Sharpe the best of the trials would reach by luck alone.

    ``DSR = PSR(SR* = expected_max_sharpe(var(trials_sharpe, ddof=1), N))`` with the observed Sharpe, skewness and
    (non-excess) kurtosis of ``returns``; one trial gives the PSR against 0.

    Args:
        returns: float64 ``(T,)`` per-bar simple returns of the selected configuration, T >= 2.
        trials_sharpe: per-period Sharpe ratios (:func:`sharpe_per_period`) of every configuration tried, the
            selected one included.

    Returns:
        A probability in [0, 1]; above 0.95 the selection is unlikely to be luck.

    Raises:
        DataError: fewer than two returns, no trials, or non-finite values.
    """
    r = np.asarray(returns, dtype=np.float64)
    trials = np.asarray(list(trials_sharpe), dtype=np.float64)
    if trials.size == 0 or not np.all(np.isfinite(trials)):
        raise DataError("deflated Sharpe needs the finite Sharpe ratio of at least one trial")
    if r.size < 2 or not np.all(np.isfinite(r)):
        raise DataError(f"deflated Sharpe needs >= 2 finite returns, got {r.size}")
    sr = sharpe_per_period(r)
    if float(r.std()) < 1e-12:
        g3, g4 = 0.0, 3.0  # a flat series has no shape; take the normal's
    else:
        from scipy.stats import kurtosis, skew

        g3, g4 = float(skew(r)), float(kurtosis(r, fisher=False))
    variance = float(trials.var(ddof=1)) if trials.size > 1 else 0.0
    benchmark = expected_max_sharpe(variance, int(trials.size))
    return probabilistic_sharpe_ratio(sr, benchmark, int(r.size), g3, g4)
