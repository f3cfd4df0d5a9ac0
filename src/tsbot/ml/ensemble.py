"""The ML ensemble: a random forest, histogram gradient boosting and XGBoost, averaged with configured weights.

Classes are (-1, 0, 1): down, flat, up. :meth:`Ensemble.score` maps the averaged class probabilities to one number
in [-1, 1]: ``P(up) - P(down)``, the ``ml`` component of a fused signal.

Artifacts are pickles (:meth:`Ensemble.to_bytes`): load only artifacts this project wrote (the model registry),
never ones from elsewhere, since unpickling runs code.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np

from tsbot.config import EnsembleWeights, MlConfig
from tsbot.core.errors import DataError
from tsbot.ml.features import ML_FEATURES

#: Class labels in the column order of :meth:`Ensemble.predict_proba`.
CLASSES: tuple[int, int, int] = (-1, 0, 1)
#: Member names, as in ``ml.weights`` of ``app.yaml``.
MEMBERS: tuple[str, ...] = ("random_forest", "hist_gradient_boosting", "xgboost")
#: Version of the artifact layout written by :meth:`Ensemble.to_bytes`.
FORMAT_VERSION = 1
#: Below this many rows the forest predicts on one thread: dispatching its trees to a thread pool costs more than
#: it saves (1,000 rows, 150 trees: 9 ms on one thread, 32 ms on two; 15,000 rows: 65 ms vs 54 ms).
_FOREST_PARALLEL_ROWS = 5_000
#: Rows of training data used for the permutation importance when histogram gradient boosting is the only member.
_PERMUTATION_ROWS = 2_000


def _clean(x: np.ndarray) -> np.ndarray:
    """``x`` as a float64 ``(m, F)`` matrix with infinities turned into NaN (missing)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(ML_FEATURES):
        raise DataError(
            f"feature matrix must have shape (rows, {len(ML_FEATURES)}) in ML_FEATURES order, got {arr.shape}"
        )
    return np.where(np.isfinite(arr), arr, np.nan)


class Ensemble:
    """Three tree ensembles voting on down / flat / up.

    Args:
        weights: member name -> weight >= 0 (renormalised to sum to 1); a member of weight 0 is not trained.
        n_estimators: trees of the forest, boosting rounds of the boosted members.
        max_depth: depth limit of every tree.
        learning_rate: shrinkage of the boosted members.
        random_state: seed of every member.
        n_jobs: threads used by the forest and XGBoost.

    Members and their settings: ``RandomForestClassifier(min_samples_leaf=20)`` on features whose NaN are replaced
    by the training medians (stored in the model; 0 for a column that was all NaN);
    ``HistGradientBoostingClassifier(early_stopping=False)`` and ``XGBClassifier(tree_method="hist",
    min_child_weight=5, subsample=0.8, colsample_bytree=0.8)`` on the raw features (they route NaN themselves).
    """

    def __init__(
        self,
        *,
        weights: Mapping[str, float] | None = None,
        n_estimators: int = 150,
        max_depth: int = 8,
        learning_rate: float = 0.05,
        random_state: int = 7,
        n_jobs: int = 2,
    ) -> None:
        raw = dict(weights) if weights is not None else EnsembleWeights().model_dump()
        unknown = set(raw) - set(MEMBERS)
        if unknown or any(w < 0 for w in raw.values()) or sum(raw.values()) <= 0:
            raise DataError(f"ensemble weights must be >= 0 over {', '.join(MEMBERS)}, not all 0: got {raw}")
        total = float(sum(raw.values()))
        self.weights: dict[str, float] = {m: float(raw.get(m, 0.0)) / total for m in MEMBERS}
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.members: dict[str, Any] = {}
        self.present: tuple[int, ...] = ()
        self.medians: np.ndarray = np.zeros(len(ML_FEATURES))
        #: Columns that were all NaN in training: given to histogram gradient boosting as 0 (it cannot bin a
        #: column without values).
        self.empty_columns: np.ndarray = np.zeros(len(ML_FEATURES), dtype=bool)
        self.feature_importance: dict[str, float] = {}
        #: Members whose importances make up :attr:`feature_importance`.
        self.importance_members: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: MlConfig, *, n_jobs: int = 2) -> Ensemble:
        """An untrained ensemble with the sizes and weights of ``config`` (``ml`` in ``app.yaml``)."""
        return cls(
            weights=config.weights.model_dump(),
            n_estimators=config.n_estimators,
            max_depth=config.max_depth,
            learning_rate=config.learning_rate,
            random_state=config.random_state,
            n_jobs=n_jobs,
        )

    @property
    def is_fitted(self) -> bool:
        return bool(self.members)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The settings of this ensemble, JSON-ready."""
        return {
            "weights": dict(self.weights),
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "random_state": self.random_state,
            "features": list(ML_FEATURES),
            "format": FORMAT_VERSION,
        }

    def _build(self, name: str) -> Any:
        if name == "random_forest":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(
                n_estimators=self.n_estimators,
                max_depth=self.max_depth,
                min_samples_leaf=20,
                n_jobs=self.n_jobs,
                random_state=self.random_state,
            )
        if name == "hist_gradient_boosting":
            from sklearn.ensemble import HistGradientBoostingClassifier

            return HistGradientBoostingClassifier(
                max_iter=self.n_estimators,
                max_depth=self.max_depth,
                learning_rate=self.learning_rate,
                early_stopping=False,
                random_state=self.random_state,
            )
        from xgboost import XGBClassifier

        return XGBClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            tree_method="hist",
            min_child_weight=5.0,
            subsample=0.8,
            colsample_bytree=0.8,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )

    def fit(self, x: np.ndarray, y: np.ndarray) -> Ensemble:
        """Train every member of positive weight.

        Args:
            x: float64 ``(m, len(ML_FEATURES))``, columns in :data:`ML_FEATURES` order; NaN allowed.
            y: labels ``(m,)`` in {-1, 0, 1}.

        Raises:
            DataError: wrong shapes, labels outside {-1, 0, 1}, or fewer than two classes present.
        """
        xs = _clean(x)
        labels = np.asarray(y).astype(np.int64)
        if labels.shape != (xs.shape[0],):
            raise DataError(f"labels must have shape ({xs.shape[0]},), got {labels.shape}")
        present = tuple(int(v) for v in np.unique(labels))
        if not set(present) <= set(CLASSES):
            raise DataError(f"labels must be -1, 0 or 1; got {sorted(set(present) - set(CLASSES))}")
        if len(present) < 2:
            raise DataError(
                f"the training labels hold only the class {present}: a classifier needs two or more"
            )
        encoded = np.searchsorted(np.asarray(present), labels)
        self.empty_columns = np.isnan(xs).all(axis=0)
        with np.errstate(all="ignore"):
            medians = np.nanmedian(np.where(self.empty_columns, 0.0, xs), axis=0)
        self.medians = np.where(np.isfinite(medians), medians, 0.0)
        self.present = present
        self.members = {}
        for name in MEMBERS:
            if self.weights[name] > 0:
                model = self._build(name)
                model.fit(self._inputs(name, xs), encoded)
                self.members[name] = model
        self.feature_importance = self._importance(xs, encoded)
        return self

    def _inputs(self, name: str, xs: np.ndarray) -> np.ndarray:
        if name == "random_forest":
            return np.where(np.isnan(xs), self.medians, xs)
        if name == "hist_gradient_boosting" and self.empty_columns.any():
            return np.where(self.empty_columns, 0.0, xs)
        return xs

    def _importance(self, xs: np.ndarray, encoded: np.ndarray) -> dict[str, float]:
        """Weighted mean of the members' normalised importances: impurity decrease (forest), gain (XGBoost).
        Histogram gradient boosting has none built in: it is left out, unless it is the only member, when a
        permutation importance on the last training rows stands in."""
        total = np.zeros(len(ML_FEATURES))
        used: list[str] = []
        weight_sum = 0.0
        for name in ("random_forest", "xgboost"):
            model = self.members.get(name)
            if model is None:
                continue
            imp = np.asarray(model.feature_importances_, dtype=np.float64)
            if imp.sum() > 0:
                total += self.weights[name] * imp / imp.sum()
                weight_sum += self.weights[name]
                used.append(name)
        if not used and "hist_gradient_boosting" in self.members:
            from sklearn.inspection import permutation_importance

            rows = slice(max(0, xs.shape[0] - _PERMUTATION_ROWS), None)
            result = permutation_importance(
                self.members["hist_gradient_boosting"],
                xs[rows],
                encoded[rows],
                n_repeats=2,
                random_state=self.random_state,
            )
            total = np.clip(result.importances_mean, 0.0, None)
            weight_sum = 1.0
            used.append("hist_gradient_boosting")
        self.importance_members = tuple(used)
        if weight_sum <= 0 or total.sum() <= 0:
            return {name: 0.0 for name in ML_FEATURES}
        total = total / total.sum()
        return {name: float(v) for name, v in zip(ML_FEATURES, total, strict=True)}

    def top_features(self, k: int = 15) -> dict[str, float]:
        """The ``k`` most important features, largest first."""
        ranked = sorted(self.feature_importance.items(), key=lambda kv: -kv[1])
        return dict(ranked[:k])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Weighted mean class probabilities, float64 ``(m, 3)`` for classes (-1, 0, 1); rows sum to 1.

        A class absent from the training labels gets probability 0. Rows with NaN (even all NaN) are fine.

        Raises:
            DataError: the ensemble is not trained, or ``x`` does not have ``len(ML_FEATURES)`` columns.
        """
        if not self.members:
            raise DataError("the ensemble is not trained yet: call fit() or load a trained model")
        xs = _clean(x)
        out = np.zeros((xs.shape[0], len(CLASSES)))
        if xs.shape[0] == 0:
            return out
        cols = [CLASSES.index(c) for c in self.present]
        weight_sum = sum(self.weights[name] for name in self.members)
        for name, model in self.members.items():
            if name == "random_forest":
                model.n_jobs = self.n_jobs if xs.shape[0] >= _FOREST_PARALLEL_ROWS else 1
            proba = np.asarray(model.predict_proba(self._inputs(name, xs)), dtype=np.float64)
            out[:, cols] += (self.weights[name] / weight_sum) * proba
        return out

    def score(self, x: np.ndarray) -> np.ndarray:
        """``P(up) - P(down)`` of each row: float64 ``(m,)`` in [-1, 1]. See :meth:`predict_proba`."""
        proba = self.predict_proba(x)
        return np.clip(proba[:, 2] - proba[:, 0], -1.0, 1.0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most probable class of each row, int8 ``(m,)`` in {-1, 0, 1}."""
        return np.asarray(CLASSES, dtype=np.int8)[np.argmax(self.predict_proba(x), axis=1)]

    def set_n_jobs(self, n_jobs: int) -> None:
        """Threads for prediction by the forest and XGBoost (after loading a model on another machine)."""
        self.n_jobs = n_jobs
        for name, model in self.members.items():
            if name != "hist_gradient_boosting":
                model.set_params(n_jobs=n_jobs)

    def to_bytes(self) -> bytes:
        """The trained ensemble as a pickle: format version, ML_FEATURES, settings, medians and members.

        Raises:
            DataError: the ensemble is not trained.
        """
        if not self.members:
            raise DataError("only a trained ensemble can be saved")
        import sklearn
        import xgboost

        payload = {
            "format": FORMAT_VERSION,
            "features": list(ML_FEATURES),
            "params": self.hyperparameters,
            "present": list(self.present),
            "medians": self.medians,
            "empty_columns": self.empty_columns,
            "members": self.members,
            "feature_importance": self.feature_importance,
            "importance_members": list(self.importance_members),
            "versions": {"scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__},
        }
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes, *, n_jobs: int | None = None) -> Ensemble:
        """Load an ensemble written by :meth:`to_bytes`; ``n_jobs`` sets the prediction threads (default: those
        it was trained with).

        Raises:
            DataError: the bytes are not such an artifact, its format version is not :data:`FORMAT_VERSION`, or
                it was trained on other features than :data:`ML_FEATURES` (retrain with ``tsbot train``).
        """
        try:
            payload = pickle.loads(data)  # noqa: S301 - artifacts come from this project's own registry
        except Exception as exc:
            raise DataError(f"the model artifact cannot be read ({type(exc).__name__}: {exc})") from exc
        if not isinstance(payload, dict) or "format" not in payload:
            raise DataError("the model artifact is not a tsbot ensemble")
        if payload["format"] != FORMAT_VERSION:
            raise DataError(
                f"the model artifact has format {payload['format']}; this tsbot reads format {FORMAT_VERSION}: "
                "retrain with `tsbot train`"
            )
        features = tuple(payload.get("features", ()))
        if features != ML_FEATURES:
            missing = [f for f in ML_FEATURES if f not in features]
            extra = [f for f in features if f not in ML_FEATURES]
            raise DataError(
                "the model was trained on other features than this tsbot computes "
                f"(missing: {', '.join(missing) or 'none'}; unknown: {', '.join(extra) or 'none'}; "
                "or another order): retrain with `tsbot train`"
            )
        params = payload["params"]
        model = cls(
            weights=params["weights"],
            n_estimators=params["n_estimators"],
            max_depth=params["max_depth"],
            learning_rate=params["learning_rate"],
            random_state=params["random_state"],
        )
        model.members = dict(payload["members"])
        model.present = tuple(payload["present"])
        model.medians = np.asarray(payload["medians"], dtype=np.float64)
        model.empty_columns = np.asarray(payload["empty_columns"], dtype=bool)
        model.feature_importance = dict(payload["feature_importance"])
        model.importance_members = tuple(payload["importance_members"])
        if n_jobs is not None:
            model.set_n_jobs(n_jobs)
        return model
