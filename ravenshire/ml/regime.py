"""Market regime detection: a Gaussian mixture over market features, named by statistics, filtered causally.

The model
---------
1. Features. :func:`~ravenshire.ml.features.market_features` per day (trailing windows, no look-ahead). The mixture
   sees ``features`` (default: ``vix`` and ``dispersion``; ``volatility`` stands in for a missing ``vix`` and for a
   missing ``dispersion``), ``log`` of the scale features (``vix``, ``volatility``, ``dispersion``), standardised
   with the training days' mean and standard deviation.
2. Mixture. :class:`sklearn.mixture.GaussianMixture` with ``n_states`` components (full covariances by default),
   fitted on the training days. A component is a STATE; several states may carry the same regime name.
3. Names, by the states' statistics (deterministic, independent of the component order and of ``random_state``).
   With ``s_c`` the state's mean stress level — the responsibility-weighted mean of ``vix`` (index points) when the
   mixture uses it, else of ``volatility`` (annualised) — over the training days, ``s̃`` the median stress level of those
   days and ``g_c`` the state's mean trailing ``return`` (annualised)::

       crisis    if s_c ≥ crisis_ratio · s̃          (default 2.4: e.g. VIX ≥ 41 when its median is 17)
       bear      elif s_c ≥ bear_ratio · s̃          (default 1.5: VIX ≥ 25.5)
       sideways  elif g_c < sideways_return          (default −0.30 a year: calm but clearly falling)
       bull      otherwise                          (calm, not falling)

   The rule works for any ``n_states ≥ 2``; a regime that no state carries has probability 0 (the model info
   lists ``regimes_present``). Names are therefore stable across refits: they follow the statistics, not the
   labels the mixture happens to give its components.
4. Causal filter. The mixture's per-day posterior flickers. Labels come from the forward filter of a sticky
   hidden-Markov chain over the REGIMES whose emission density is the regime's share of the mixture,
   ``f_R(x) = Σ_{c∈R} π_c f_c(x) / Π_R`` with ``Π_R = Σ_{c∈R} π_c``. Each day the regime stays with probability
   ``stickiness`` and otherwise is redrawn from ``Π`` (so ``Π`` stays the stationary distribution)::

       p̂_t(R)  = stickiness · p_{t−1}(R) + (1 − stickiness) · Π_R          (p_0 = Π before the first day)
       p_t(R)  ∝ p̂_t(R) · f_R(x_t)

   ``p_t`` uses days ``≤ t`` only: it is the filtered (causal) probability, what a live system knew that evening.
   Smoothing (forward-backward) or Viterbi would use later days and are not offered for daily labels.
   ``stickiness = 0`` gives the mixture's own posterior, summed by regime.

What is causal and what is in-sample
------------------------------------
- ``RegimeResult.labels`` and ``probabilities`` are FILTERED: the value for day ``t`` depends on the rows passed
  up to ``t`` only, so it does not change when later days are appended. It does depend on the first row passed
  (the filter starts from ``Π``); that influence decays like ``stickiness^n`` (0.97¹⁰⁰ ≈ 5 %), so pass a few
  hundred days before the first day whose label matters, and the same window to reproduce a label exactly.
- ``mixture_probabilities`` are per-day (causal too, unsmoothed).
- The mixture's parameters, the names and ``state_stats`` are IN-SAMPLE: they come from the training days. Labels
  of the training days themselves (``fit_predict``) are in-sample; out-of-sample labels need ``fit`` on an earlier
  window and ``predict`` on a later one.

Accuracy on the synthetic source
--------------------------------
``bench/ml_regime.py`` (20 seeds, 20 stocks + VIX, trained 2006-2014, scored 2015-2024): 0.765 of days right out of
sample (0.795 in sample) against 0.728 for always answering the most frequent regime, 0.781 for fixed VIX
thresholds set knowing the simulator, 0.789 for a supervised per-day reference fitted on the true labels and 0.770
for an "oracle" hidden-Markov filter that knows the true transition law and the true labels of the training days
(0.809 for its smoothed, non-causal labels); 0.80 or more on 6 of the 20 seeds. No causal labeller measured there
reaches 0.80 on average. The synthetic bull (drift 15 %, vol 14 %) and sideways (0 %, 12 %) regimes hardly differ in
volatility, and the volatility of every regime wanders ±25 % (the log-volatility AR(1)), so day by day they are
nearly indistinguishable: the default ``sideways_return`` rarely names a state sideways and sideways days are
called bull. Bear and crisis are found from the volatility index and the dispersion (pooled recall 0.51 and 0.53,
97 % of bull days right), with 1.8 label changes a year (the truth has 1.3, the VIX thresholds 4.2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.linalg import cholesky, solve_triangular
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture

from ravenshire.errors import ConfigError
from ravenshire.ml.features import TRADING_DAYS, is_feature_frame, market_features

__all__ = [
    "REGIMES",
    "RegimeDetector",
    "RegimeEvaluation",
    "RegimeResult",
    "evaluate_regimes",
    "forward_filter",
    "markov_filter",
]

FloatArray = npt.NDArray[np.float64]

#: Regime names, in the order of the probability columns.
REGIMES: tuple[str, ...] = ("bull", "bear", "sideways", "crisis")
#: Features the mixture may use; the scale ones are modelled in logs.
MODEL_FEATURES: tuple[str, ...] = ("vix", "volatility", "dispersion", "return", "drawdown", "breadth")
_LOG_FEATURES = frozenset({"vix", "volatility", "dispersion"})
_LOG_FLOOR = 1e-8
_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_FORMAT = "ravenshire.ml.RegimeDetector/1"
# Training needs at least this many complete rows, and this many per state and feature.
_MIN_TRAIN_DAYS, _MIN_DAYS_PER_PARAM = 60, 5
_STAT_COLUMNS = ("market_return", "return", "volatility", "drawdown", "vix", "breadth", "dispersion")


# ------------------------------------------------------------------------------------------------ results


def _series_dict(series: pd.Series) -> dict[str, Any]:
    return {str(k): (None if pd.isna(v) else float(v)) for k, v in series.items()}


def _frame_dict(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(idx): _series_dict(row) for idx, row in frame.iterrows()}


@dataclass(frozen=True)
class RegimeResult:
    """Regime per day with probabilities (see the module docstring for causal vs in-sample).

    Attributes
    ----------
    labels : Series of str, length T
        The most probable regime of each day under the causal filter, named "regime", index "date".
    probabilities : DataFrame, shape (T, 4)
        Filtered probability of each regime (columns :data:`REGIMES`); rows sum to 1.
    mixture_probabilities : DataFrame, shape (T, 4)
        The mixture's own posterior of each day, summed by regime (no filter; flickers).
    state_stats : DataFrame, shape (4, ·)
        In-sample statistics per regime over the training days (responsibility-weighted): ``share`` of days,
        ``n_states``, annualised ``mean_return`` (``252 · mean r``), trailing ``return``, ``volatility``,
        ``drawdown``, ``vix`` (NaN without it), ``breadth``, ``dispersion``.
    model : dict
        How it was fitted: method, n_states, features, stickiness, thresholds, training window, stress reference,
        regimes_present, mean log-likelihood.
    """

    labels: pd.Series
    probabilities: pd.DataFrame
    mixture_probabilities: pd.DataFrame
    state_stats: pd.DataFrame
    model: dict[str, Any]

    @property
    def latest(self) -> dict[str, Any]:
        """The last day's regime and filtered probabilities: ``{"date", "regime", "probabilities"}``."""
        if self.labels.empty:
            return {"date": None, "regime": None, "probabilities": {}}
        day = self.labels.index[-1]
        return {
            "date": f"{day:%Y-%m-%d}",
            "regime": str(self.labels.iloc[-1]),
            "probabilities": _series_dict(self.probabilities.iloc[-1]),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly values: dates as ``YYYY-MM-DD``, probabilities as lists per regime."""
        return {
            "dates": [f"{d:%Y-%m-%d}" for d in self.labels.index],
            "labels": [str(v) for v in self.labels],
            "probabilities": {r: [float(v) for v in self.probabilities[r]] for r in REGIMES},
            "mixture_probabilities": {r: [float(v) for v in self.mixture_probabilities[r]] for r in REGIMES},
            "state_stats": _frame_dict(self.state_stats),
            "model": self.model,
            "latest": self.latest,
        }


@dataclass(frozen=True)
class RegimeEvaluation:
    """Predicted regimes against the truth, over the days both have.

    Attributes
    ----------
    accuracy : float
        Share of days whose predicted regime equals the true one.
    confusion : DataFrame
        Day counts, rows the TRUE regime, columns the PREDICTED one (:data:`REGIMES` first, then any other label).
    recall : Series
        Per true regime, the share of its days predicted right (NaN for a regime absent from the truth).
    precision : Series
        Per predicted regime, the share of its predictions that were right (NaN when never predicted).
    n_days : int
        Days compared.
    majority_share : float
        Share of the most frequent true regime: the accuracy of always answering it, the floor to beat.
    """

    accuracy: float
    confusion: pd.DataFrame
    recall: pd.Series
    precision: pd.Series
    n_days: int
    majority_share: float

    def to_dict(self) -> dict[str, Any]:
        """Plain values; the confusion matrix as ``{truth: {predicted: days}}``."""
        return {
            "accuracy": float(self.accuracy),
            "confusion": {str(t): {str(p): int(n) for p, n in row.items()} for t, row in self.confusion.iterrows()},
            "recall": _series_dict(self.recall),
            "precision": _series_dict(self.precision),
            "n_days": int(self.n_days),
            "majority_share": float(self.majority_share),
        }


def evaluate_regimes(predicted: pd.Series, truth: pd.Series) -> RegimeEvaluation:
    """Accuracy, confusion matrix (truth × predicted) and per-regime recall and precision.

    Parameters
    ----------
    predicted, truth : Series of str
        Regime per date; compared on the dates both have (missing labels dropped).

    Raises
    ------
    ConfigError
        Not Series, or no date in common.
    """
    if not isinstance(predicted, pd.Series) or not isinstance(truth, pd.Series):
        raise ConfigError("predicted and truth must be Series of regime names indexed by date")
    joined = pd.concat({"truth": truth, "predicted": predicted}, axis=1, join="inner").dropna()
    if joined.empty:
        raise ConfigError(
            "predicted and truth have no date in common; pass labels for the same days "
            f"(predicted {len(predicted)} days, truth {len(truth)} days)"
        )
    t = joined["truth"].astype(str).to_numpy()
    p = joined["predicted"].astype(str).to_numpy()
    extra = sorted((set(t) | set(p)) - set(REGIMES))
    names = [*REGIMES, *extra]
    code = {name: i for i, name in enumerate(names)}
    ti = np.array([code[v] for v in t])
    pi = np.array([code[v] for v in p])
    counts = np.bincount(ti * len(names) + pi, minlength=len(names) ** 2).reshape(len(names), len(names))
    confusion = pd.DataFrame(counts, index=pd.Index(names, name="truth"), columns=pd.Index(names, name="predicted"))
    diag = np.diag(counts).astype(float)
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = pd.Series(np.where(rows > 0, diag / rows, np.nan), index=names, name="recall")
        precision = pd.Series(np.where(cols > 0, diag / cols, np.nan), index=names, name="precision")
    n = len(t)
    return RegimeEvaluation(
        accuracy=float(diag.sum() / n),
        confusion=confusion,
        recall=recall,
        precision=precision,
        n_days=n,
        majority_share=float(rows.max() / n),
    )


# ------------------------------------------------------------------------------------------------ numerics


def forward_filter(log_emission: FloatArray, prior: FloatArray, stickiness: float) -> FloatArray:
    """Causal forward filter of a sticky chain: row ``t`` of the result uses rows ``≤ t`` of ``log_emission``.

    ``p̂_t = stickiness · p_{t−1} + (1 − stickiness) · prior`` (``p_0 = prior``), ``p_t ∝ p̂_t · exp(log_emission_t)``.

    Parameters
    ----------
    log_emission : array, shape (T, k)
        Log density of each day's features under each state (``-inf`` for a state that cannot emit).
    prior : array, shape (k,)
        Stationary probabilities (non-negative, summing to 1).
    stickiness : float
        Probability of staying in the same state from one day to the next, in ``[0, 1)``.

    Returns
    -------
    array, shape (T, k)
        Filtered probabilities; each row sums to 1.
    """
    t_len, k = log_emission.shape
    out = np.empty((t_len, k))
    if t_len == 0:
        return out
    # Normalising each row by its maximum keeps exp() in range; it cancels in the per-row normalisation.
    emission = np.exp(log_emission - log_emission.max(axis=1, keepdims=True))
    jump = (1.0 - stickiness) * prior
    p = prior.astype(float).copy()
    for t in range(t_len):  # the recursion is sequential; k is tiny, so the loop is cheap (≈ 3 µs a day)
        q = (stickiness * p + jump) * emission[t]
        p = q / q.sum()
        out[t] = p
    return out


def markov_filter(log_emission: FloatArray, transition: FloatArray, initial: FloatArray) -> FloatArray:
    """Causal forward filter of a hidden Markov chain with a full transition matrix.

    ``p̂_0 = initial``, ``p̂_t = p_{t−1} · transition`` (row vector times matrix), ``p_t ∝ p̂_t · exp(log_emission_t)``:
    row ``t`` uses rows ``≤ t`` of ``log_emission`` only. :func:`forward_filter` is the special case
    ``transition = stickiness · I + (1 − stickiness) · 1 priorᵀ`` with ``initial = prior``. The loop over days is
    sequential, ``O(T · k²)`` (under 10 ms for 2,500 days and 4 states).

    Parameters
    ----------
    log_emission : array, shape (T, k)
        Log density of each day's observation under each state (``-inf`` for a state that cannot emit).
    transition : array, shape (k, k)
        ``transition[i, j]`` is the probability of state ``j`` tomorrow given state ``i`` today; rows sum to 1.
    initial : array, shape (k,)
        Probability of each state on the first day, before its observation (non-negative, summing to 1).

    Returns
    -------
    array, shape (T, k)
        Filtered probabilities; each row sums to 1.

    Raises
    ------
    ConfigError
        Shapes that do not match, or a transition matrix or initial distribution that is not stochastic.
    """
    log_emission = np.asarray(log_emission, dtype=float)
    a = np.asarray(transition, dtype=float)
    p = np.asarray(initial, dtype=float)
    k = p.shape[0] if p.ndim == 1 else -1
    if log_emission.ndim != 2 or log_emission.shape[1] != k or a.shape != (k, k):
        raise ConfigError(
            f"log_emission (T, k), transition (k, k) and initial (k,) must agree, were {log_emission.shape}, "
            f"{a.shape} and {p.shape}"
        )
    if (a < 0).any() or not np.allclose(a.sum(axis=1), 1.0) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
        raise ConfigError("transition rows and initial must be non-negative and sum to 1")
    out = np.empty(log_emission.shape)
    if len(log_emission) == 0:
        return out
    emission = np.exp(log_emission - log_emission.max(axis=1, keepdims=True))
    predicted = p
    for t in range(len(emission)):
        q = predicted * emission[t]
        p = q / q.sum()
        out[t] = p
        predicted = p @ a
    return out


def _log_gaussians(z: FloatArray, means: FloatArray, chols: FloatArray) -> FloatArray:
    """Log density of each row of ``z`` (T × d) under each Gaussian (means K × d, Cholesky factors K × d × d)."""
    k, d = means.shape
    out = np.empty((len(z), k))
    for c in range(k):
        y = solve_triangular(chols[c], (z - means[c]).T, lower=True, check_finite=False)
        log_det = 2.0 * np.log(np.diag(chols[c])).sum()
        out[:, c] = -0.5 * (d * math.log(2.0 * math.pi) + log_det + np.einsum("ij,ij->j", y, y))
    return out


def _full_covariances(gmm: GaussianMixture, d: int) -> FloatArray:
    cov = np.asarray(gmm.covariances_, dtype=float)
    k = gmm.n_components
    if gmm.covariance_type == "full":
        return cov
    if gmm.covariance_type == "tied":
        return np.repeat(cov[None], k, axis=0)
    if gmm.covariance_type == "diag":
        return np.stack([np.diag(row) for row in cov])
    return np.stack([np.eye(d) * v for v in cov])  # spherical


# ------------------------------------------------------------------------------------------------ detector


def _check_ratio(name: str, value: float, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= float(value) <= high:
        raise ConfigError(f"{name} must be a number from {low} to {high}, was {value!r}")
    return float(value)


class RegimeDetector:
    """Gaussian-mixture regime detector with names by statistics and a causal sticky filter.

    See the module docstring for the model, the naming rule and which outputs are causal.

    Parameters
    ----------
    n_states : int
        Mixture components (2 to 16). States are named by the rule, so several may share a regime and a regime may
        have none. The calm days take most states (their volatility wanders), so 8 (the default) leaves room for
        separate bear and crisis states; with 4 the synthetic market usually gets one stress state only.
    method : {"gmm"}
        The only method; the filter already makes it a hidden-Markov forward filter over mixture emissions.
    features : sequence of str, optional
        Columns of :func:`~ravenshire.ml.features.market_features` the mixture sees (from ``vix``, ``volatility``,
        ``dispersion``, ``return``, ``drawdown``, ``breadth``); default ``("vix", "dispersion")`` with
        ``volatility`` standing in for whichever is missing (``("volatility", "drawdown")`` without both).
    stickiness : float
        Daily probability that the regime stays, in ``[0, 1)``; 0 turns the filter off. Default 0.97 (a
        departure from the prior persists for about a month).
    bear_ratio, crisis_ratio : float
        Stress level, as a multiple of the training days' median, from which a state is bear / crisis.
    sideways_return : float
        A calm state whose mean trailing annualised log return is below this is sideways.
    covariance_type : {"full", "tied", "diag", "spherical"}
        Passed to :class:`~sklearn.mixture.GaussianMixture`.
    n_init : int
        EM restarts (the best log-likelihood is kept).
    random_state : int
        Seed of the mixture's k-means initialisation; the same seed and data give the same model.
    market, vix, windows
        Passed to :func:`~ravenshire.ml.features.market_features` when prices are given.

    Attributes
    ----------
    features_ : tuple of str
        The features the mixture saw.
    state_regimes_ : tuple of str
        The regime name of each state, states ordered by stress level.
    components_ : DataFrame
        Per state: regime, weight and its in-sample statistics.
    state_stats_ : DataFrame
        Per regime: the in-sample statistics of :class:`RegimeResult`.
    """

    def __init__(
        self,
        n_states: int = 8,
        *,
        method: str = "gmm",
        features: Sequence[str] | None = None,
        stickiness: float = 0.97,
        bear_ratio: float = 1.5,
        crisis_ratio: float = 2.4,
        sideways_return: float = -0.3,
        covariance_type: str = "full",
        n_init: int = 2,
        random_state: int = 0,
        market: str | None = None,
        vix: str | None = "VIX",
        windows: Mapping[str, int] | None = None,
    ) -> None:
        self.n_states = n_states
        self.method = method
        self.features = features
        self.stickiness = stickiness
        self.bear_ratio = bear_ratio
        self.crisis_ratio = crisis_ratio
        self.sideways_return = sideways_return
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.random_state = random_state
        self.market = market
        self.vix = vix
        self.windows = windows

    def __repr__(self) -> str:
        fitted = "fitted" if hasattr(self, "means_") else "not fitted"
        return f"RegimeDetector(n_states={self.n_states}, stickiness={self.stickiness}, {fitted})"

    # ------------------------------------------------------------------ validation

    def _check_params(self) -> None:
        if isinstance(self.n_states, bool) or not isinstance(self.n_states, int | np.integer):
            raise ConfigError(f"n_states must be an integer from 2 to 16, was {self.n_states!r}")
        if not 2 <= int(self.n_states) <= 16:
            raise ConfigError(f"n_states must be an integer from 2 to 16, was {self.n_states!r}")
        if self.method != "gmm":
            raise ConfigError(
                f"method must be 'gmm', was {self.method!r} (the causal filter over the mixture is the HMM part)"
            )
        stick = _check_ratio("stickiness", self.stickiness, 0.0, 1.0)
        if stick >= 1.0:
            raise ConfigError("stickiness must be below 1 (1 would never leave the first regime), was 1")
        bear = _check_ratio("bear_ratio", self.bear_ratio, 1.0, 100.0)
        crisis = _check_ratio("crisis_ratio", self.crisis_ratio, 1.0, 100.0)
        if crisis <= bear:
            raise ConfigError(f"crisis_ratio must exceed bear_ratio, was {crisis} ≤ {bear}")
        _check_ratio("sideways_return", self.sideways_return, -10.0, 10.0)
        if self.covariance_type not in _COVARIANCE_TYPES:
            allowed = ", ".join(_COVARIANCE_TYPES)
            raise ConfigError(f"covariance_type must be one of {allowed}, was {self.covariance_type!r}")
        if isinstance(self.n_init, bool) or not isinstance(self.n_init, int) or self.n_init < 1:
            raise ConfigError(f"n_init must be a positive integer, was {self.n_init!r}")
        if self.features is not None:
            bad = [f for f in self.features if f not in MODEL_FEATURES]
            if bad or not list(self.features) or isinstance(self.features, str):
                raise ConfigError(
                    f"features must be a non-empty list of {', '.join(MODEL_FEATURES)}, was {self.features!r}"
                )

    def _feature_frame(self, data: pd.DataFrame) -> pd.DataFrame:
        """The features of ``data``: itself when it is a features frame, else computed from prices."""
        if not isinstance(data, pd.DataFrame):
            raise ConfigError(f"pass wide prices or market_features(...) as a DataFrame, was {type(data).__name__}")
        if is_feature_frame(data):
            return data
        return market_features(data, market=self.market, vix=self.vix, windows=self.windows)

    def _resolve_features(self, frame: pd.DataFrame) -> tuple[str, ...]:
        def usable(name: str) -> bool:
            return name in frame.columns and bool(frame[name].notna().any())

        if self.features is not None:
            missing = [f for f in self.features if not usable(f)]
            if missing:
                raise ConfigError(
                    f"feature(s) {', '.join(missing)} missing or all NaN in the data; "
                    "vix needs the volatility index among the prices, dispersion at least 3 symbols"
                )
            return tuple(dict.fromkeys(self.features))
        stress = "vix" if usable("vix") else "volatility"
        second = "dispersion" if usable("dispersion") else ("volatility" if stress == "vix" else "drawdown")
        return (stress, second)

    @staticmethod
    def _transform(frame: pd.DataFrame, names: Sequence[str]) -> FloatArray:
        cols = []
        for name in names:
            x = frame[name].to_numpy(dtype="float64")
            cols.append(np.log(np.maximum(x, _LOG_FLOOR)) if name in _LOG_FEATURES else x)
        return np.column_stack(cols)

    # ------------------------------------------------------------------ fit

    def fit(self, data: pd.DataFrame) -> RegimeDetector:
        """Fit the mixture on ``data`` (wide prices or ``market_features`` output) and name its states.

        Rows whose used features are NaN (the warm-up) are left out.

        Raises
        ------
        ConfigError
            Bad parameters, missing features, or fewer complete days than ``max(60, 5 · n_states · (d + 1))``.
        """
        self._check_params()
        frame = self._feature_frame(data)
        names = self._resolve_features(frame)
        rows = frame.dropna(subset=list(names))
        need = max(_MIN_TRAIN_DAYS, _MIN_DAYS_PER_PARAM * int(self.n_states) * (len(names) + 1))
        if len(rows) < need:
            raise ConfigError(
                f"too little history to fit {self.n_states} states on {len(names)} features: {len(rows)} complete "
                f"days of {len(frame)} (the rest are the features' warm-up or gaps), need at least {need}; pass "
                f"{need - len(rows)} more days of prices"
            )
        x = self._transform(rows, names)
        center, scale = x.mean(axis=0), x.std(axis=0, ddof=1)
        if (scale <= 0).any() or not np.isfinite(scale).all():
            flat = [n for n, s in zip(names, scale, strict=True) if not s > 0]
            raise ConfigError(f"feature(s) {', '.join(flat)} are constant over the training days; nothing to model")
        z = (x - center) / scale
        gmm = GaussianMixture(
            n_components=int(self.n_states),
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            reg_covar=1e-4,
            max_iter=300,
            random_state=self.random_state,
        ).fit(z)
        resp = gmm.predict_proba(z)
        stress_col = "vix" if "vix" in names else "volatility"
        stats = self._component_stats(rows, resp)
        level = stats[stress_col].to_numpy()
        order = np.lexsort((np.arange(len(level)), level))  # states by stress level, ties by index
        covariances = _full_covariances(gmm, len(names))[order]
        self.features_ = names
        self.center_, self.scale_ = center, scale
        self.weights_ = np.asarray(gmm.weights_, dtype=float)[order]
        self.means_ = np.asarray(gmm.means_, dtype=float)[order]
        self.covariances_ = covariances
        self.stress_feature_ = stress_col
        self.stress_reference_ = float(np.median(rows[stress_col].to_numpy(dtype="float64")))
        stats = stats.iloc[order].reset_index(drop=True)
        self.state_regimes_ = tuple(self._name_states(stats, stress_col))
        self.trained_ = {
            "start": f"{rows.index[0]:%Y-%m-%d}",
            "end": f"{rows.index[-1]:%Y-%m-%d}",
            "n_days": len(rows),
            "mean_log_likelihood": float(gmm.score(z)),
            "converged": bool(gmm.converged_),
        }
        self._finish(stats)
        return self

    @staticmethod
    def _component_stats(rows: pd.DataFrame, resp: FloatArray) -> pd.DataFrame:
        """Responsibility-weighted mean of each statistic per state (NaN days of a statistic left out)."""
        out: dict[str, FloatArray] = {}
        for col in _STAT_COLUMNS:
            if col not in rows.columns:
                out[col] = np.full(resp.shape[1], np.nan)
                continue
            v = rows[col].to_numpy(dtype="float64")
            ok = np.isfinite(v)
            w = resp[ok]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[col] = (w * v[ok, None]).sum(axis=0) / w.sum(axis=0)
        out["market_return"] = out["market_return"] * TRADING_DAYS
        return pd.DataFrame(out)

    def _name_states(self, stats: pd.DataFrame, stress_col: str) -> list[str]:
        names = []
        for level, trend in zip(stats[stress_col], stats["return"], strict=True):
            ratio = level / self.stress_reference_
            if ratio >= self.crisis_ratio:
                names.append("crisis")
            elif ratio >= self.bear_ratio:
                names.append("bear")
            elif np.isfinite(trend) and trend < self.sideways_return:
                names.append("sideways")
            else:
                names.append("bull")
        return names

    def _finish(self, stats: pd.DataFrame) -> None:
        """Derived state: Cholesky factors, per-regime weights and tables (after fit and after from_dict)."""
        self.chols_ = np.stack([cholesky(c, lower=True) for c in self.covariances_])
        regimes = np.array(self.state_regimes_)
        self.regime_weights_ = np.array([self.weights_[regimes == r].sum() for r in REGIMES])
        comp = stats.copy()
        comp.insert(0, "weight", self.weights_)
        comp.insert(0, "regime", list(self.state_regimes_))
        comp.index.name = "state"
        self.components_ = comp
        self.state_stats_ = self._regime_stats(comp)

    @staticmethod
    def _regime_stats(components: pd.DataFrame) -> pd.DataFrame:
        """Per regime: share of the training days, number of states and weight-averaged statistics."""
        rows = {}
        for regime in REGIMES:
            part = components[components["regime"] == regime]
            w = part["weight"].to_numpy()
            row: dict[str, float] = {"share": float(w.sum()), "n_states": float(len(part))}
            for col in _STAT_COLUMNS:
                v = part[col].to_numpy(dtype="float64")
                ok = np.isfinite(v)
                row["mean_return" if col == "market_return" else col] = (
                    float((w[ok] * v[ok]).sum() / w[ok].sum()) if ok.any() and w[ok].sum() > 0 else math.nan
                )
            rows[regime] = row
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "regime"
        return frame

    # ------------------------------------------------------------------ predict

    def _check_fitted(self) -> None:
        if not hasattr(self, "means_"):
            raise ConfigError("the RegimeDetector is not fitted; call fit(prices) or RegimeDetector.from_dict(state)")

    def predict(self, data: pd.DataFrame) -> RegimeResult:
        """Filtered regime per day of ``data`` (wide prices or ``market_features`` output).

        Days whose used features are NaN (the warm-up) get no label. The result for day ``t`` uses rows ``≤ t``
        only (causal); see the module docstring.

        Raises
        ------
        ConfigError
            Not fitted, or the data lack a feature the model was fitted on.
        """
        self._check_fitted()
        frame = self._feature_frame(data)
        missing = [f for f in self.features_ if f not in frame.columns]
        if missing:
            raise ConfigError(f"the data lack feature(s) {', '.join(missing)} that the model was fitted on")
        rows = frame.dropna(subset=list(self.features_))
        index = pd.DatetimeIndex(rows.index, name="date")
        z = (self._transform(rows, self.features_) - self.center_) / self.scale_
        log_joint = _log_gaussians(z, self.means_, self.chols_) + np.log(self.weights_)
        regimes = np.array(self.state_regimes_)
        log_emission = np.full((len(z), len(REGIMES)), -np.inf)
        for j, regime in enumerate(REGIMES):
            sel = regimes == regime
            if sel.any():
                log_emission[:, j] = logsumexp(log_joint[:, sel], axis=1) - math.log(self.regime_weights_[j])
        prior = self.regime_weights_
        filtered = forward_filter(log_emission, prior, float(self.stickiness))
        mixture = forward_filter(log_emission, prior, 0.0) if len(z) else filtered
        columns = pd.Index(REGIMES, name="regime")
        labels = pd.Series(np.array(REGIMES, dtype=object)[filtered.argmax(axis=1)], index=index, name="regime")
        return RegimeResult(
            labels=labels.astype(str),
            probabilities=pd.DataFrame(filtered, index=index, columns=columns),
            mixture_probabilities=pd.DataFrame(mixture, index=index, columns=columns),
            state_stats=self.state_stats_.copy(),
            model=self.model_info(),
        )

    def fit_predict(self, data: pd.DataFrame) -> RegimeResult:
        """``fit(data).predict(data)``: filtered labels of the training days themselves (in-sample parameters)."""
        frame = self._feature_frame(data)
        return self.fit(frame).predict(frame)

    def model_info(self) -> dict[str, Any]:
        """JSON-friendly description of the fitted model (parameters, training window, names, thresholds)."""
        self._check_fitted()
        return {
            "method": self.method,
            "n_states": int(self.n_states),
            "features": list(self.features_),
            "stickiness": float(self.stickiness),
            "bear_ratio": float(self.bear_ratio),
            "crisis_ratio": float(self.crisis_ratio),
            "sideways_return": float(self.sideways_return),
            "stress_feature": self.stress_feature_,
            "stress_reference": self.stress_reference_,
            "state_regimes": list(self.state_regimes_),
            "regimes_present": [r for r, w in zip(REGIMES, self.regime_weights_, strict=True) if w > 0],
            "covariance_type": self.covariance_type,
            "random_state": self.random_state,
            "trained": dict(self.trained_),
        }

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as JSON-safe values; :meth:`from_dict` rebuilds a detector that predicts identically."""
        self._check_fitted()
        params = {
            "n_states": int(self.n_states),
            "method": self.method,
            "features": None if self.features is None else list(self.features),
            "stickiness": float(self.stickiness),
            "bear_ratio": float(self.bear_ratio),
            "crisis_ratio": float(self.crisis_ratio),
            "sideways_return": float(self.sideways_return),
            "covariance_type": self.covariance_type,
            "n_init": int(self.n_init),
            "random_state": int(self.random_state),
            "market": self.market,
            "vix": self.vix,
            "windows": None if self.windows is None else dict(self.windows),
        }
        return {
            "format": _FORMAT,
            "params": params,
            "features_": list(self.features_),
            "center_": self.center_.tolist(),
            "scale_": self.scale_.tolist(),
            "weights_": self.weights_.tolist(),
            "means_": self.means_.tolist(),
            "covariances_": self.covariances_.tolist(),
            "stress_feature_": self.stress_feature_,
            "stress_reference_": self.stress_reference_,
            "state_regimes_": list(self.state_regimes_),
            "component_stats_": {
                col: [None if not np.isfinite(v) else float(v) for v in self.components_[col]] for col in _STAT_COLUMNS
            },
            "trained_": dict(self.trained_),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> RegimeDetector:
        """Rebuild a fitted detector from :meth:`to_dict` output (e.g. after ``json.loads``).

        Raises
        ------
        ConfigError
            Not a RegimeDetector state, or inconsistent shapes.
        """
        if not isinstance(state, Mapping) or state.get("format") != _FORMAT:
            raise ConfigError(f"not a saved RegimeDetector (expected format {_FORMAT!r})")
        try:
            det = cls(**state["params"])
            det._check_params()
            det.features_ = tuple(state["features_"])
            det.center_ = np.asarray(state["center_"], dtype=float)
            det.scale_ = np.asarray(state["scale_"], dtype=float)
            det.weights_ = np.asarray(state["weights_"], dtype=float)
            det.means_ = np.asarray(state["means_"], dtype=float)
            det.covariances_ = np.asarray(state["covariances_"], dtype=float)
            det.stress_feature_ = str(state["stress_feature_"])
            det.stress_reference_ = float(state["stress_reference_"])
            det.state_regimes_ = tuple(str(r) for r in state["state_regimes_"])
            det.trained_ = dict(state["trained_"])
            stats = pd.DataFrame(
                {
                    c: np.array([np.nan if v is None else v for v in state["component_stats_"][c]], dtype=float)
                    for c in _STAT_COLUMNS
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"saved RegimeDetector state is incomplete or malformed: {exc!r}") from exc
        k, d = det.means_.shape if det.means_.ndim == 2 else (0, 0)
        shapes_ok = (
            k == det.n_states
            and d == len(det.features_)
            and det.covariances_.shape == (k, d, d)
            and det.weights_.shape == (k,)
            and len(det.state_regimes_) == k
            and set(det.state_regimes_) <= set(REGIMES)
            and len(stats) == k
        )
        if not shapes_ok:
            raise ConfigError("saved RegimeDetector state has inconsistent shapes; refit and save it again")
        det._finish(stats)
        return det
