"""Parameter search with Optuna under a walk-forward objective, and the Deflated Sharpe Ratio of the winner.

Each trial picks parameters from the strategy's ranges (:attr:`Strategy.PARAMS`) with Optuna's TPE sampler (seeded,
so a search is repeatable) and scores them by the Sharpe ratio of the stitched walk-forward out-of-sample equity
(per bar, see :func:`tsbot.backtest.dsr.sharpe_per_period`). Picking the best of many trials flatters it; the
Deflated Sharpe Ratio (Bailey & López de Prado, 2014) says how likely the winner's Sharpe is above zero once the
number of trials and the spread of their Sharpe ratios are accounted for. A DSR below 0.95 means the winner may
well be luck.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna

from tsbot.backtest.dsr import deflated_sharpe_ratio, sharpe_per_period
from tsbot.backtest.models import BacktestConfig
from tsbot.backtest.runner import SeriesData
from tsbot.backtest.stats import bar_returns
from tsbot.backtest.strategies.base import Strategy
from tsbot.backtest.walkforward import MlTrainer, WalkForwardResult, walk_forward
from tsbot.core.errors import ConfigError, DataError

#: Trials with fewer out-of-sample trades than this score as "no evidence" (Sharpe 0).
MIN_TRADES = 5


@dataclass(frozen=True, slots=True)
class Trial:
    """One configuration tried: its parameters, per-bar out-of-sample Sharpe, and trade count."""

    number: int
    params: dict[str, float]
    sharpe: float
    trades: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.number,
            "params": self.params,
            "sharpe_per_bar": None if math.isnan(self.sharpe) else self.sharpe,
            "trades": self.trades,
            "note": self.note,
        }


@dataclass(slots=True)
class OptimizeResult:
    """The search: every trial, the winner's parameters and walk-forward run, and its Deflated Sharpe Ratio."""

    strategy: str
    trials: list[Trial]
    best: Trial
    best_run: WalkForwardResult
    deflated_sharpe: float
    notes: list[str] = field(default_factory=list)


def _suggest(trial: optuna.Trial, strategy: Strategy) -> dict[str, float]:
    params: dict[str, float] = {}
    for name, spec in strategy.PARAMS.items():
        if spec.integer:
            params[name] = trial.suggest_int(name, int(spec.low), int(spec.high))
        else:
            params[name] = trial.suggest_float(name, spec.low, spec.high)
    return params


def optimize(
    strategy: Strategy,
    data: Sequence[SeriesData],
    config: BacktestConfig,
    *,
    trials: int = 30,
    folds: int = 4,
    start_ms: int | None = None,
    end_ms: int | None = None,
    seed: int = 7,
    ml_trainer: MlTrainer | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> OptimizeResult:
    """Search ``strategy``'s parameters; every trial is a full walk-forward run over ``folds`` test folds.

    Raises:
        ConfigError: the strategy has no tunable parameter, or ``trials`` < 1.
        DataError: no trial could be evaluated (too little data).
    """
    if not strategy.PARAMS:
        raise ConfigError(f"strategy {strategy.name} has no parameters to optimise")
    if trials < 1:
        raise ConfigError("optimise needs at least 1 trial")
    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(dict(strategy.params))  # the defaults are always one of the trials
    done: list[Trial] = []
    runs: dict[int, WalkForwardResult] = {}

    def objective(trial: optuna.Trial) -> float:
        params = _suggest(trial, strategy)
        try:
            candidate = strategy.with_params(params)
        except ConfigError as exc:
            done.append(Trial(trial.number, params, math.nan, 0, str(exc)))
            raise optuna.TrialPruned(str(exc)) from exc
        try:
            run = walk_forward(
                candidate, data, config, folds=folds, start_ms=start_ms, end_ms=end_ms, ml_trainer=ml_trainer
            )
        except DataError as exc:
            done.append(Trial(trial.number, params, math.nan, 0, str(exc)))
            raise optuna.TrialPruned(str(exc)) from exc
        returns = bar_returns(run.result.equity, config.initial_equity)
        count = int(len(run.result.trades))
        sharpe = sharpe_per_period(returns) if count >= MIN_TRADES else 0.0
        done.append(Trial(trial.number, dict(candidate.params), sharpe, count))
        runs[trial.number] = run
        if progress is not None:
            progress(len(done), trials)
        return sharpe

    def _count(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        if frozen.state == optuna.trial.TrialState.PRUNED and progress is not None:
            progress(len(done), trials)

    study.optimize(objective, n_trials=trials, callbacks=[_count])
    scored = [t for t in done if not math.isnan(t.sharpe)]
    if not scored:
        reasons = "; ".join(sorted({t.note for t in done if t.note})) or "no trial finished"
        raise DataError(f"no parameter set could be evaluated: {reasons}")
    best = max(scored, key=lambda t: t.sharpe)
    best_run = runs[best.number]
    returns = bar_returns(best_run.result.equity, config.initial_equity)
    dsr = deflated_sharpe_ratio(returns, [t.sharpe for t in scored])
    notes = list(best_run.notes)
    skipped = len(done) - len(scored)
    if skipped:
        notes.append(f"{skipped} trial(s) had invalid parameter combinations or no data and were skipped")
    return OptimizeResult(
        strategy=strategy.name,
        trials=done,
        best=best,
        best_run=best_run,
        deflated_sharpe=float(dsr) if np.isfinite(dsr) else math.nan,
        notes=notes,
    )
