"""The ensemble: it learns a planted signal, its outputs have the promised shapes and ranges, NaN rows are
scored, weights switch members off, importances point at the informative feature, and artifacts round-trip
(refusing other feature sets and formats)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tsbot.config import MlConfig
from tsbot.core.errors import DataError
from tsbot.ml.ensemble import FORMAT_VERSION, Ensemble
from tsbot.ml.features import ML_FEATURES

F = len(ML_FEATURES)
SMALL = {"n_estimators": 20, "max_depth": 4, "learning_rate": 0.2, "random_state": 3, "n_jobs": 1}


def planted(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose class is decided by feature 2 (``momentum_5``) plus noise: up above +0.4, down below -0.4."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, F))
    z = x[:, 2] + 0.3 * rng.standard_normal(n)
    y = np.where(z > 0.4, 1, np.where(z < -0.4, -1, 0)).astype(np.int8)
    return x, y


@pytest.fixture(scope="module")
def fitted() -> Ensemble:
    x, y = planted(1_500)
    return Ensemble(**SMALL).fit(x, y)


def test_it_learns_the_planted_signal(fitted: Ensemble) -> None:
    x, y = planted(600, seed=1)
    assert np.mean(fitted.predict(x) == y) > 0.7  # three balanced-ish classes: chance is about 0.36
    score = fitted.score(x)
    assert np.corrcoef(score, x[:, 2])[0, 1] > 0.8
    assert score[y == 1].mean() > 0.3 > -0.3 > score[y == -1].mean()


def test_shapes_and_ranges(fitted: Ensemble) -> None:
    x, _ = planted(50, seed=2)
    proba = fitted.predict_proba(x)
    assert proba.shape == (50, 3) and proba.dtype == np.float64
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    score = fitted.score(x)
    assert score.shape == (50,) and (np.abs(score) <= 1).all()
    np.testing.assert_allclose(score, proba[:, 2] - proba[:, 0])
    assert fitted.predict_proba(np.empty((0, F))).shape == (0, 3)


def test_missing_values_are_scored(fitted: Ensemble) -> None:
    x, _ = planted(5, seed=3)
    x[0] = np.nan
    x[1, 2] = np.inf
    x[2, :10] = np.nan
    score = fitted.score(x)
    assert np.isfinite(score).all()
    nan_row = np.full((1, F), np.nan)
    inf_row = np.full((1, F), np.inf)
    np.testing.assert_allclose(fitted.score(inf_row), fitted.score(nan_row))  # infinities count as missing
    assert fitted.medians.shape == (F,) and np.isfinite(fitted.medians).all()


def test_training_rows_with_nan_and_an_all_nan_column() -> None:
    x, y = planted(600, seed=4)
    x[::7, 5] = np.nan
    x[:, 9] = np.nan
    model = Ensemble(**SMALL).fit(x, y)
    assert model.medians[9] == 0.0 and model.empty_columns.tolist() == [k == 9 for k in range(F)]
    assert np.isfinite(model.score(np.full((2, F), np.nan))).all()


def test_importance_points_at_the_informative_feature(fitted: Ensemble) -> None:
    imp = fitted.feature_importance
    assert set(imp) == set(ML_FEATURES)
    assert sum(imp.values()) == pytest.approx(1.0)
    assert max(imp, key=imp.__getitem__) == ML_FEATURES[2]
    assert fitted.importance_members == ("random_forest", "xgboost")
    top = fitted.top_features(5)
    assert list(top)[0] == ML_FEATURES[2] and len(top) == 5


def test_a_member_of_weight_zero_is_not_trained() -> None:
    x, y = planted(400, seed=5)
    only_hgb = Ensemble(weights={"random_forest": 0, "hist_gradient_boosting": 1, "xgboost": 0}, **SMALL).fit(
        x, y
    )
    assert list(only_hgb.members) == ["hist_gradient_boosting"]
    assert only_hgb.weights == {"random_forest": 0.0, "hist_gradient_boosting": 1.0, "xgboost": 0.0}
    # no built-in importance: a permutation importance stands in, and it too finds feature 2
    assert only_hgb.importance_members == ("hist_gradient_boosting",)
    assert max(only_hgb.feature_importance, key=only_hgb.feature_importance.__getitem__) == ML_FEATURES[2]
    two = Ensemble(weights={"random_forest": 2, "hist_gradient_boosting": 0, "xgboost": 6}, **SMALL)
    assert two.weights == {"random_forest": 0.25, "hist_gradient_boosting": 0.0, "xgboost": 0.75}


def test_weighted_average_of_members() -> None:
    x, y = planted(400, seed=6)
    both = Ensemble(weights={"random_forest": 1, "hist_gradient_boosting": 0, "xgboost": 3}, **SMALL).fit(
        x, y
    )
    rf_only = Ensemble(weights={"random_forest": 1, "hist_gradient_boosting": 0, "xgboost": 0}, **SMALL).fit(
        x, y
    )
    xgb_only = Ensemble(weights={"random_forest": 0, "hist_gradient_boosting": 0, "xgboost": 1}, **SMALL).fit(
        x, y
    )
    probe, _ = planted(20, seed=7)
    expected = 0.25 * rf_only.predict_proba(probe) + 0.75 * xgb_only.predict_proba(probe)
    np.testing.assert_allclose(both.predict_proba(probe), expected, atol=1e-6)


def test_a_class_missing_from_training_gets_probability_zero() -> None:
    x, y = planted(400, seed=8)
    keep = y != 0
    model = Ensemble(**SMALL).fit(x[keep], y[keep])
    proba = model.predict_proba(x[:30])
    assert (proba[:, 1] == 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


def test_bad_training_input_is_refused() -> None:
    x, y = planted(100, seed=9)
    with pytest.raises(DataError, match="only the class"):
        Ensemble(**SMALL).fit(x, np.ones(100, dtype=np.int8))
    with pytest.raises(DataError, match="-1, 0 or 1"):
        Ensemble(**SMALL).fit(x, np.where(y == 1, 2, y))
    with pytest.raises(DataError, match="shape"):
        Ensemble(**SMALL).fit(x[:, :5], y)
    with pytest.raises(DataError, match="not trained"):
        Ensemble(**SMALL).score(x)
    with pytest.raises(DataError, match="weights"):
        Ensemble(weights={"random_forest": 0, "hist_gradient_boosting": 0, "xgboost": 0})


def test_from_config_takes_the_sizes() -> None:
    cfg = MlConfig(n_estimators=33, max_depth=5, learning_rate=0.1, random_state=9)
    model = Ensemble.from_config(cfg, n_jobs=1)
    assert (model.n_estimators, model.max_depth, model.learning_rate, model.random_state) == (33, 5, 0.1, 9)
    assert model.weights == pytest.approx(
        {"random_forest": 0.4, "hist_gradient_boosting": 0.4, "xgboost": 0.2}
    )


def test_artifact_round_trip(fitted: Ensemble) -> None:
    data = fitted.to_bytes()
    loaded = Ensemble.from_bytes(data, n_jobs=1)
    x, _ = planted(40, seed=10)
    x[0] = np.nan
    np.testing.assert_array_equal(loaded.predict_proba(x), fitted.predict_proba(x))
    assert loaded.feature_importance == fitted.feature_importance
    assert loaded.hyperparameters == fitted.hyperparameters
    assert loaded.hyperparameters["features"] == list(ML_FEATURES)


def test_artifacts_of_other_features_or_formats_are_refused(fitted: Ensemble) -> None:
    payload = pickle.loads(fitted.to_bytes())
    other = dict(payload, features=[*ML_FEATURES[:-1], "ema_200"])
    with pytest.raises(DataError, match=r"other features.*missing: low_200_ratio.*unknown: ema_200"):
        Ensemble.from_bytes(pickle.dumps(other))
    reordered = dict(payload, features=list(reversed(ML_FEATURES)))
    with pytest.raises(DataError, match="other features"):
        Ensemble.from_bytes(pickle.dumps(reordered))
    newer = dict(payload, format=FORMAT_VERSION + 1)
    with pytest.raises(DataError, match="format"):
        Ensemble.from_bytes(pickle.dumps(newer))
    with pytest.raises(DataError, match="cannot be read"):
        Ensemble.from_bytes(b"not a pickle")
    with pytest.raises(DataError, match="not a tsbot ensemble"):
        Ensemble.from_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="trained"):
        Ensemble(**SMALL).to_bytes()
