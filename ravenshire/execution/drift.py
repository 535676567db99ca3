"""Drift detection: online detectors on a live strategy's returns, and input drift of a model's features.

Three online detectors watch the strategy's daily returns against its backtest (the *reference*):

- :class:`Cusum` — two-sided tabular CUSUM (Page 1954; Montgomery, *Introduction to Statistical Quality Control*,
  ch. 9) on ``z_t = (x_t − μ₀) / σ₀`` with ``μ₀``, ``σ₀`` the reference's mean and sample standard deviation
  (``ddof=1``)::

      S⁺_t = max(0, S⁺_{t−1} + z_t − k)        S⁻_t = max(0, S⁻_{t−1} − z_t − k)        alarm when S > h

  ``k`` (the allowance) and ``h`` (the decision interval) are in σ units. It asks "is live different from the
  backtest?" — it fires on a shift of the mean away from the backtest's, and (as ``|z|`` grows) on a jump in
  volatility. The *window* of an alarm is Montgomery's change-point estimate: the observations since the side
  that fired last left zero.
- :class:`PageHinkley` — the Page-Hinkley test against the stream's OWN running mean ``x̄_t`` (Page 1954;
  Hinkley 1971; the form of river / scikit-multiflow)::

      m⁺_t = α·m⁺_{t−1} + (x_t − x̄_t − δ)      PH⁺_t = m⁺_t − min(0, m⁺_1 … m⁺_t)      alarm when PH⁺ > λ
      m⁻_t = α·m⁻_{t−1} + (x_t − x̄_t + δ)      PH⁻_t = max(0, m⁻_1 … m⁻_t) − m⁻_t

  (``x̄_t`` includes ``x_t``; the minimum includes ``m_0 = 0`` so a change at the first observation counts.) It
  asks "did live change within itself?": it does not care whether the backtest's mean was right, so an
  over-fitted backtest makes CUSUM fire but not Page-Hinkley, and after a real shift Page-Hinkley learns the new
  mean (it restarts from it) while CUSUM keeps reporting the distance to the backtest. The price: a change that
  comes within a few dozen steps of its (re)start is absorbed into the running mean and never reported by it
  (CUSUM does report it; ~1–2 % of changes in the bench). :class:`DriftDetector` feeds it standardised returns
  ``z_t``, so ``δ`` and ``λ`` are in σ units of the reference.
- :class:`KSWindowTest` — a two-sample Kolmogorov-Smirnov test of the last ``window`` live returns against the
  reference returns: a shape detector (volatility, tails), not only a mean one — and the only one of the three
  that sees volatility FALL (a strategy that suddenly trades much less). ``D`` is exact with ties (what
  ``scipy.stats.ks_2samp`` returns, to 1e-16), computed by :func:`ks_statistic`; the p-value is Smirnov's
  asymptotic one, ``kstwo.sf(D, round(n·m/(n+m)))`` — what ``ks_2samp(window, reference, method="asymp")``
  returns (its default ``"exact"`` differs by a few per cent for these sizes and costs ~1 ms a test). It fires
  when ``p < alpha``, computed as ``D > D_crit`` with ``D_crit = kstwo.isf(alpha, round(n·m/(n+m)))`` fixed once.
  ``alpha`` is the level of ONE test: the windows of consecutive days overlap, so the false alarms per step are
  what the bench measures, not ``alpha``.

Every detector RESETS after an alarm (accumulators to zero; Page-Hinkley also restarts its running mean; the KS
window is emptied and refills), so one change is reported once and a change that persists is reported again after
the detector has gathered fresh evidence (a CUSUM alarm per ~``h / (|shift| − k)`` days; a KS alarm at most every
``window`` days). The step counter is never reset.

DEFAULTS, chosen with ``python bench/drift_quality.py --sweep`` and measured with ``python bench/drift_quality.py``
(tables in that file's docstring): Gaussian daily returns, a 504-day (two-year) reference from which ``μ₀``, ``σ₀``
and the KS sample are ESTIMATED, 400 replications. Target: each detector ≤ 1 false alarm per 1,000 steps on
stationary returns, so the three together stay ≤ 2 (about one false alarm per two years of trading days), then
the shortest delays at that rate:

- CUSUM ``k = 0.5``, ``h = 6``: 0.89 false alarms / 1,000 steps; median delay 10 steps for a 1 σ drop, 33 for
  0.5 σ, 13 for volatility × 2. (The textbook ``h = 5``, ARL₀ ≈ 465, gives 2.2 / 1,000.)
- Page-Hinkley ``δ = 0.25``, ``λ = 10``, ``min_samples = 30``: 0.93 / 1,000; tuned for a 0.5 σ shift (29 steps,
  CUSUM's ``k = 0.5`` is tuned for 1 σ), so the two complement each other. (``λ = 6`` gives ~6 / 1,000: the sum
  ``Σ(x − x̄)`` is a random walk, so Page-Hinkley behaves like a CUSUM with ``k = δ``.)
- KS ``window = 120`` (about six months), ``alpha = 0.001``: 0.06 / 1,000; a volatility halving found in 99.8 %
  of the series within 500 steps, median 113 steps. With ``window = 60`` an equally low false-alarm rate needs
  ``alpha ≤ 0.001``, which finds the halving in only ~77 % of the series within 500 steps.
- All three (``"any"``): 1.7 false alarms / 1,000 steps on Gaussian returns, 3.0 on Student-t(4) returns and
  7.8 on GARCH(1,1) returns — CUSUM is the one hurt most by fat tails and volatility clustering (5.0 / 1,000).

What it does not see: a strategy with an annual Sharpe ratio of 1 earns 0.063 σ a day, so its edge vanishing is a
0.06 σ mean shift — the detectors need hundreds of days for that (see the bench's 0.25 σ rows). They catch breaks
(a bug, a regime the model never saw, a volatility jump); slow decay is the job of the live-versus-backtest
performance report. Fat tails and volatility clustering (real returns have both) raise the false-alarm rate
(above); raise ``h`` and ``λ`` for such a strategy, or read a lone alarm as a prompt to look, not a verdict.

Model-input drift: :func:`population_stability_index` per feature, read as < 0.1 stable, 0.1 – 0.25 moderate,
≥ 0.25 shifted (the usual credit-scoring reading); :func:`feature_drift` tabulates it per column and
:func:`feature_drift_events` turns the non-stable rows into events.

State and events: every detector's state is a frozen dataclass (parameters, the reference where needed and the
accumulators) with ``to_dict()`` / ``from_dict()`` (JSON-safe: floats survive a JSON round trip exactly), so
:meth:`DriftDetector.restore` continues exactly where it was. Every detection is a :class:`DriftEvent` (detector,
statistic, threshold, window, step, time, direction, message) for the store to persist; between detections
:meth:`DriftDetector.statistics` gives each detector's current statistic and threshold (the store records them
after every update: :mod:`ravenshire.execution.drift_store`).

Why a loop: the detectors are recursions in time (each ``S_t`` needs ``S_{t−1}`` and the reset rule), so ``update``
takes one value and ``update_many`` loops over a batch — these are live daily returns, one a day. The recursion is
written with numpy arrays over *series* instead: :meth:`DriftDetector.scan` runs the same code on many independent
series at once (the bench's replications), and one series is the one-column case of the same arithmetic, so the
live path and the bench agree exactly.

Bad input raises :class:`~ravenshire.errors.ConfigError`: bad parameters; a NaN or ±inf live return (a missing
return is a data problem to fix, never a day the detector skips silently); a date not after the last one seen
(each date is fed once). In a REFERENCE series NaN are dropped (a backtest's warm-up) and ±inf is refused.
"""

from __future__ import annotations

import difflib
import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import kstwo

from ravenshire.errors import ConfigError

__all__ = [
    "CUSUM_H",
    "CUSUM_K",
    "DETECTORS",
    "KS_ALPHA",
    "KS_WINDOW",
    "MIN_REFERENCE",
    "PH_DELTA",
    "PH_MIN_SAMPLES",
    "PH_THRESHOLD",
    "PSI_BINS",
    "PSI_EPS",
    "PSI_MODERATE",
    "PSI_SHIFT",
    "Cusum",
    "CusumState",
    "DriftCheck",
    "DriftDetector",
    "DriftDetectorState",
    "DriftEvent",
    "KSWindowState",
    "KSWindowTest",
    "PageHinkley",
    "PageHinkleyState",
    "feature_drift",
    "feature_drift_events",
    "ks_statistic",
    "population_stability_index",
    "psi_verdict",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: The online detectors of :class:`DriftDetector`, by name (the ``detector`` of their events).
DETECTORS: tuple[str, ...] = ("page_hinkley", "cusum", "ks")
#: Directions a mean detector can watch.
DIRECTIONS: tuple[str, ...] = ("both", "up", "down")

CUSUM_K = 0.5  #: CUSUM allowance k, in σ units (half the shift it is tuned for: 1 σ).
CUSUM_H = 6.0  #: CUSUM decision interval h, in σ units.
PH_DELTA = 0.25  #: Page-Hinkley magnitude δ, in σ units (half the 0.5 σ shift it is tuned for).
PH_THRESHOLD = 10.0  #: Page-Hinkley threshold λ, in σ units.
PH_MIN_SAMPLES = 30  #: Page-Hinkley does not alarm before this many observations since its last reset.
KS_WINDOW = 120  #: KS window: the last 120 live returns (about six months of trading days).
KS_ALPHA = 0.001  #: KS level of one test (p < alpha fires).
MIN_REFERENCE = 60  #: Fewest reference (backtest) returns accepted.
PSI_BINS = 10  #: PSI quantile bins.
PSI_EPS = 1e-4  #: PSI floor for an empty bin's proportion (so ln(a/e) stays finite).
PSI_MODERATE = 0.1  #: PSI at or above this: moderate shift.
PSI_SHIFT = 0.25  #: PSI at or above this: significant shift.

STATE_VERSION = 1


# ------------------------------------------------------------------------------------------------ validation


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)


def _finite(value: Any, name: str, hint: str) -> float:
    if not _is_number(value) or not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be a finite number ({hint}), got {value!r}")
    return float(value)


def _positive(value: Any, name: str, hint: str, *, allow_zero: bool = False) -> float:
    number = _finite(value, name, hint)
    if number < 0.0 or (number == 0.0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound} ({hint}), got {value!r}")
    return number


def _count(value: Any, name: str, minimum: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < minimum:
        raise ConfigError(f"{name} must be an integer ≥ {minimum} ({hint}), got {value!r}")
    return int(value)


def _choice(value: Any, name: str, allowed: Sequence[str]) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown {name} {value!r}: use one of {', '.join(allowed)}{hint}")


def _live_value(value: Any, name: str = "current_return") -> float:
    if not _is_number(value) or not math.isfinite(float(value)):
        raise ConfigError(
            f"{name} must be a finite number, got {value!r}: a missing or infinite return is a data problem — fix "
            "the P&L of that day (the detector never skips a day silently)"
        )
    return float(value)


def _live_values(values: Any) -> tuple[FloatArray, list[pd.Timestamp | None]]:
    """A batch of live values as a 1-D float array, with the dates of a Series' DatetimeIndex (else None each)."""
    index = values.index if isinstance(values, pd.Series) else None
    try:
        arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"values must be numeric returns, got {type(values).__name__}: {exc}") from exc
    if arr.ndim != 1:
        raise ConfigError(f"values must be 1-D (one return per step), got {arr.ndim}-D")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        where = index[bad[0]] if index is not None else int(bad[0])
        raise ConfigError(
            f"values hold {arr[bad[0]]} at {where!r}: a missing or infinite return is a data problem — fix the P&L "
            "of that day (the detector never skips a day silently)"
        )
    if isinstance(index, pd.DatetimeIndex):
        return arr, [pd.Timestamp(t) for t in index]
    return arr, [None] * arr.size


def _reference(values: Any, name: str = "reference") -> FloatArray:
    """Reference (backtest) returns as a 1-D float array: NaN dropped, ±inf refused, at least MIN_REFERENCE."""
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ConfigError(f"{name} must be one series of returns, got a DataFrame with {values.shape[1]} columns")
        values = values.iloc[:, 0]
    try:
        raw = values.to_numpy(dtype=np.float64, na_value=np.nan) if isinstance(values, pd.Series) else values
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be numeric returns, got {type(values).__name__}: {exc}") from exc
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be 1-D (one series of returns), got {arr.ndim}-D")
    if np.isinf(arr).any():
        raise ConfigError(f"{name} contain ±inf at position {int(np.flatnonzero(np.isinf(arr))[0])}; fix the data")
    arr = arr[~np.isnan(arr)]
    if arr.size < MIN_REFERENCE:
        raise ConfigError(
            f"{name} have {arr.size} returns once NaN are dropped; drift detection needs a backtest of at least "
            f"{MIN_REFERENCE}"
        )
    if not np.ptp(arr) > 0.0:
        raise ConfigError(f"{name} are constant ({arr[0]!r}); a reference needs some variation")
    return arr


def _when(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"when must be a date or timestamp (e.g. '2024-06-28'), got {value!r}") from exc
    if stamp is pd.NaT:
        raise ConfigError("when is NaT; pass the date of the return or None")
    return stamp


def _iso(stamp: pd.Timestamp | None) -> str | None:
    return None if stamp is None else stamp.isoformat()


def _as_matrix(values: Any) -> FloatArray:
    """(steps, series) float matrix for :meth:`scan`; a 1-D input is one series. Non-finite values refused."""
    try:
        arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series | pd.DataFrame) else values, np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"values must be numeric, got {type(values).__name__}: {exc}") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ConfigError(f"values must be (steps,) or (steps, series), got {arr.ndim}-D")
    if not np.isfinite(arr).all():
        raise ConfigError("values hold NaN or ±inf; the detectors take finite returns only")
    return arr


# ------------------------------------------------------------------------------------------------ events


@dataclass(frozen=True, kw_only=True)
class DriftEvent:
    """One detection.

    ``detector`` is ``"cusum"``, ``"page_hinkley"``, ``"ks"`` or ``"psi"``; ``statistic`` and ``threshold`` are in
    the detector's units (CUSUM and Page-Hinkley: σ units of the reference; KS: the distance ``D`` and its critical
    value; PSI: the index and the reading's boundary). ``window`` is the number of observations the statistic
    covers — from the estimated change point for CUSUM and Page-Hinkley, the test window for KS, the current
    sample for PSI. ``step`` is the 1-based index of the observation that fired in the detector's life (None for
    PSI), ``when`` its date when known. ``direction`` is ``"up"`` / ``"down"`` (a mean shift) or ``"shape"``
    (KS, PSI). ``subject`` names what was watched (a strategy, a feature); ``p_value`` is set by KS;
    ``severity`` is ``"alarm"``, or ``"warning"`` for a moderate PSI.
    """

    detector: str
    statistic: float
    threshold: float
    window: int
    step: int | None
    when: pd.Timestamp | None
    direction: str
    message: str
    subject: str = ""
    p_value: float | None = None
    severity: str = "alarm"

    @property
    def window_start(self) -> int | None:
        """Step of the first observation the statistic covers (None for PSI)."""
        return None if self.step is None else self.step - self.window + 1

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "when": _iso(self.when)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftEvent:
        try:
            return cls(**{**data, "when": _when(data.get("when"))})
        except TypeError as exc:
            raise ConfigError(f"not a DriftEvent dict: {exc}") from exc


@dataclass(frozen=True, kw_only=True)
class DriftCheck:
    """What :meth:`DriftDetector.check_for_drift` found for one return: ``drift_detected`` is True when any
    detector fired; ``events`` are the detections; ``step`` and ``when`` identify the return."""

    drift_detected: bool
    events: tuple[DriftEvent, ...]
    step: int
    when: pd.Timestamp | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift_detected": self.drift_detected,
            "events": [e.to_dict() for e in self.events],
            "step": self.step,
            "when": _iso(self.when),
        }


# ------------------------------------------------------------------------------------------------ states


def _check_state_dict(data: Any, kind: str, names: Sequence[str]) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(f"a {kind} state must be a dict, got {type(data).__name__}")
    if data.get("kind") != kind:
        raise ConfigError(f"not a {kind} state: kind is {data.get('kind')!r}")
    if data.get("version") != STATE_VERSION:
        raise ConfigError(f"{kind} state version {data.get('version')!r} is not supported (expected {STATE_VERSION})")
    missing = [n for n in names if n not in data]
    if missing:
        raise ConfigError(f"{kind} state lacks {', '.join(missing)}")


_St = TypeVar("_St", bound="_State")


@dataclass(frozen=True, kw_only=True)
class _State:
    kind: ClassVar[str] = ""
    _tuples: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "version": STATE_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls: type[_St], data: Mapping[str, Any]) -> _St:
        names = [f.name for f in fields(cls)]
        _check_state_dict(data, cls.kind, names)
        values = {n: tuple(float(v) for v in data[n]) if n in cls._tuples else data[n] for n in names}
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class PageHinkleyState(_State):
    """A :class:`PageHinkley` detector: its parameters and accumulators (``n`` observations since the last reset,
    their running ``mean``, ``up`` = m⁺ and its minimum ``up_min`` reached at ``up_min_at``, ``down`` = m⁻ and its
    maximum)."""

    kind: ClassVar[str] = "page_hinkley"

    delta: float
    threshold: float
    alpha: float
    min_samples: int
    direction: str
    steps: int = 0
    n: int = 0
    mean: float = 0.0
    up: float = 0.0
    up_min: float = 0.0
    up_min_at: int = 0
    down: float = 0.0
    down_max: float = 0.0
    down_max_at: int = 0


@dataclass(frozen=True, kw_only=True)
class CusumState(_State):
    """A :class:`Cusum` detector: parameters, ``pos`` = S⁺, ``neg`` = S⁻ and the runs ``n_pos`` / ``n_neg`` since
    each last left zero."""

    kind: ClassVar[str] = "cusum"

    target_mean: float
    sigma: float
    k: float
    h: float
    direction: str
    steps: int = 0
    pos: float = 0.0
    neg: float = 0.0
    n_pos: int = 0
    n_neg: int = 0


@dataclass(frozen=True, kw_only=True)
class KSWindowState(_State):
    """A :class:`KSWindowTest`: the reference (sorted), parameters and the live values since the last reset (at
    most ``window``, oldest first)."""

    kind: ClassVar[str] = "ks"
    _tuples: ClassVar[tuple[str, ...]] = ("reference", "values")

    reference: tuple[float, ...]
    window: int
    alpha: float
    steps: int = 0
    values: tuple[float, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DriftDetectorState:
    """A :class:`DriftDetector`: the reference's mean and σ, the subject, the steps and last date seen, and the
    state of each detector it runs (None when not run)."""

    kind: ClassVar[str] = "drift_detector"

    subject: str
    reference_mean: float
    reference_sigma: float
    steps: int = 0
    last_when: str | None = None
    page_hinkley: PageHinkleyState | None = None
    cusum: CusumState | None = None
    ks: KSWindowState | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "version": STATE_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if isinstance(value, _State) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftDetectorState:
        names = [f.name for f in fields(cls)]
        _check_state_dict(data, cls.kind, names)
        nested: dict[str, type[_State]] = {
            "page_hinkley": PageHinkleyState,
            "cusum": CusumState,
            "ks": KSWindowState,
        }
        values = {n: data[n] for n in names}
        for name, state_cls in nested.items():
            if values[name] is not None:
                values[name] = state_cls.from_dict(values[name])
        return cls(**values)


# ------------------------------------------------------------------------------------------------ online detectors


class _Signal(NamedTuple):
    """What one side of a detector computed this step, for every series (before any reset)."""

    direction: str
    fired: BoolArray
    statistic: FloatArray
    window: IntArray
    extra: FloatArray | None = None  # detector-specific figures for the message, per series


_A = TypeVar("_A")


class _OnlineDetector(ABC, Generic[_A]):
    """An online detector over one series (``update``) whose recursion runs on arrays of series (``scan``).

    Subclasses hold parameters (immutable after ``__init__``), build fresh per-series arrays (``_fresh``) and
    advance them by one step (``_advance``), resetting the series that fired.
    """

    kind: ClassVar[str]

    def __init__(self) -> None:
        self._steps = 0
        self._arrays: _A = self._fresh(1)

    @property
    def steps(self) -> int:
        """Observations seen since the detector was created (never reset)."""
        return self._steps

    @abstractmethod
    def _fresh(self, n_series: int) -> _A: ...

    @abstractmethod
    def _advance(self, arrays: _A, x: FloatArray) -> list[_Signal]: ...

    @abstractmethod
    def _event(self, signal: _Signal, step: int, when: pd.Timestamp | None) -> DriftEvent: ...

    def update(self, x: float, when: Any = None) -> list[DriftEvent]:
        """Feed one observation (``when`` labels the events); returns the detections (empty when none)."""
        return self._step(_live_value(x, "x"), _when(when))

    def update_many(self, values: Any) -> list[DriftEvent]:
        """Feed a batch in order (a Series' DatetimeIndex labels the events). Validated first: all or nothing."""
        arr, whens = _live_values(values)
        events: list[DriftEvent] = []
        for x, when in zip(arr.tolist(), whens, strict=True):
            events.extend(self._step(x, when))
        return events

    def _step(self, x: float, when: pd.Timestamp | None) -> list[DriftEvent]:
        signals = self._advance(self._arrays, np.array([x], dtype=np.float64))
        self._steps += 1
        return [self._event(s, self._steps, when) for s in signals if s.fired[0]]

    def scan(self, values: Any) -> BoolArray:
        """Run a FRESH copy of this detector (same parameters, empty state) on each column of ``values``
        (steps × series) at once; True where it fired. This detector's own state is not touched. Column ``j`` gives
        exactly what feeding it to a fresh detector with ``update`` would."""
        arr = _as_matrix(values)
        arrays = self._fresh(arr.shape[1])
        fired = np.zeros(arr.shape, dtype=bool)
        for t in range(arr.shape[0]):
            for signal in self._advance(arrays, arr[t]):
                fired[t] |= signal.fired
        return fired


def _reset_where(arrays: Any, mask: BoolArray) -> None:
    if mask.any():
        for f in fields(arrays):
            getattr(arrays, f.name)[mask] = 0


def _sides(direction: str) -> tuple[bool, bool]:
    return direction != "down", direction != "up"


def _largest_side(sides: Mapping[str, tuple[float, int]], direction: str) -> tuple[float, int]:
    """(statistic, window) of the larger watched side; ``sides`` maps "up"/"down" to (statistic, window)."""
    watch_up, watch_down = _sides(direction)
    watched = [sides[side] for side, on in (("up", watch_up), ("down", watch_down)) if on]
    return max(watched, key=lambda pair: pair[0])


@dataclass
class _PHArrays:
    n: IntArray
    mean: FloatArray
    up: FloatArray
    up_min: FloatArray
    up_min_at: IntArray
    down: FloatArray
    down_max: FloatArray
    down_max_at: IntArray


class PageHinkley(_OnlineDetector[_PHArrays]):
    """Page-Hinkley test for a change in the mean, against the stream's own running mean (formula in the module
    docstring). ``delta`` (δ, the magnitude tolerated: about half the shift to detect) and ``threshold`` (λ) are in
    the units of the values fed (σ units inside :class:`DriftDetector`); ``alpha`` ≤ 1 is a forgetting factor on
    the cumulative sums (1 = none); no alarm before ``min_samples`` observations since the last reset (the running
    mean needs some); ``direction`` ``"up"``, ``"down"`` or ``"both"``. After an alarm everything restarts,
    including the running mean.
    """

    kind: ClassVar[str] = "page_hinkley"

    def __init__(
        self,
        *,
        delta: float = PH_DELTA,
        threshold: float = PH_THRESHOLD,
        alpha: float = 1.0,
        min_samples: int = PH_MIN_SAMPLES,
        direction: str = "both",
    ) -> None:
        self.delta = _positive(delta, "delta", "the tolerated shift, ~half the shift to detect", allow_zero=True)
        self.threshold = _positive(threshold, "threshold", "λ, e.g. 10 in σ units")
        self.alpha = _positive(alpha, "alpha", "a forgetting factor in (0, 1]; 1 = no forgetting")
        if self.alpha > 1.0:
            raise ConfigError(f"alpha must be in (0, 1] (1 = no forgetting), got {alpha!r}")
        self.min_samples = _count(min_samples, "min_samples", 1, "observations before the first possible alarm")
        self.direction = _choice(direction, "direction", DIRECTIONS)
        super().__init__()

    def _fresh(self, n_series: int) -> _PHArrays:
        zf, zi = np.zeros(n_series, dtype=np.float64), np.zeros(n_series, dtype=np.int64)
        return _PHArrays(zi, zf.copy(), zf.copy(), zf.copy(), zi.copy(), zf.copy(), zf.copy(), zi.copy())

    def _advance(self, arrays: _PHArrays, x: FloatArray) -> list[_Signal]:
        s = arrays
        s.n += 1
        s.mean += (x - s.mean) / s.n
        dev = x - s.mean
        s.up = self.alpha * s.up + (dev - self.delta)
        s.down = self.alpha * s.down + (dev + self.delta)
        lower = s.up < s.up_min
        s.up_min = np.where(lower, s.up, s.up_min)
        s.up_min_at = np.where(lower, s.n, s.up_min_at)
        higher = s.down > s.down_max
        s.down_max = np.where(higher, s.down, s.down_max)
        s.down_max_at = np.where(higher, s.n, s.down_max_at)
        ready = s.n >= self.min_samples
        watch_up, watch_down = _sides(self.direction)
        signals = []
        if watch_up:
            stat = s.up - s.up_min
            signals.append(_Signal("up", ready & (stat > self.threshold), stat, s.n - s.up_min_at))
        if watch_down:
            stat = s.down_max - s.down
            signals.append(_Signal("down", ready & (stat > self.threshold), stat, s.n - s.down_max_at))
        _reset_where(s, np.logical_or.reduce([sig.fired for sig in signals]))
        return signals

    def _event(self, signal: _Signal, step: int, when: pd.Timestamp | None) -> DriftEvent:
        stat, window, side = float(signal.statistic[0]), int(signal.window[0]), signal.direction
        sign = "⁺" if side == "up" else "⁻"
        return DriftEvent(
            detector=self.kind,
            statistic=stat,
            threshold=self.threshold,
            window=window,
            step=step,
            when=when,
            direction=side,
            message=(
                f"Page-Hinkley: the mean moved {side} within the live series: PH{sign} = {stat:.2f} > λ = "
                f"{self.threshold:g} over the last {window} observations (δ = {self.delta:g})"
            ),
        )

    def statistics(self) -> dict[str, float]:
        """The test's current figures (after the last update, so after any reset): ``up`` = PH⁺ and ``down`` = PH⁻
        (units of the values fed), ``statistic`` the larger of the watched sides, ``threshold`` λ, ``window`` the
        observations since that side's change-point estimate (what an alarm now would report) and ``n`` the
        observations since the last reset (no alarm while ``n < min_samples``)."""
        s = self._arrays
        n = int(s.n[0])
        up, down = float(s.up[0] - s.up_min[0]), float(s.down_max[0] - s.down[0])
        sides = {"up": (up, n - int(s.up_min_at[0])), "down": (down, n - int(s.down_max_at[0]))}
        stat, window = _largest_side(sides, self.direction)
        return {"statistic": stat, "threshold": self.threshold, "up": up, "down": down, "window": window, "n": n}

    def state(self) -> PageHinkleyState:
        s = self._arrays
        return PageHinkleyState(
            delta=self.delta,
            threshold=self.threshold,
            alpha=self.alpha,
            min_samples=self.min_samples,
            direction=self.direction,
            steps=self._steps,
            n=int(s.n[0]),
            mean=float(s.mean[0]),
            up=float(s.up[0]),
            up_min=float(s.up_min[0]),
            up_min_at=int(s.up_min_at[0]),
            down=float(s.down[0]),
            down_max=float(s.down_max[0]),
            down_max_at=int(s.down_max_at[0]),
        )

    @classmethod
    def restore(cls, state: PageHinkleyState) -> PageHinkley:
        """The detector ``state`` describes; it continues exactly where the saved one was."""
        det = cls(
            delta=state.delta,
            threshold=state.threshold,
            alpha=state.alpha,
            min_samples=state.min_samples,
            direction=state.direction,
        )
        det._steps = _count(state.steps, "steps", 0, "observations seen")
        for f in fields(det._arrays):
            getattr(det._arrays, f.name)[0] = getattr(state, f.name)
        return det


@dataclass
class _CusumArrays:
    pos: FloatArray
    neg: FloatArray
    n_pos: IntArray
    n_neg: IntArray


class Cusum(_OnlineDetector[_CusumArrays]):
    """Two-sided tabular CUSUM on ``z = (x − target_mean) / sigma`` (formula in the module docstring): ``k``
    (allowance; half the shift to detect, in σ) and ``h`` (decision interval, in σ). Both sides restart at zero
    after an alarm. :meth:`from_reference` takes ``target_mean`` and ``sigma`` (``ddof=1``) from backtest returns.
    """

    kind: ClassVar[str] = "cusum"

    def __init__(
        self,
        *,
        target_mean: float,
        sigma: float,
        k: float = CUSUM_K,
        h: float = CUSUM_H,
        direction: str = "both",
    ) -> None:
        self.target_mean = _finite(target_mean, "target_mean", "the reference mean return")
        self.sigma = _positive(sigma, "sigma", "the reference standard deviation")
        self.k = _positive(k, "k", "the allowance in σ units, e.g. 0.5", allow_zero=True)
        self.h = _positive(h, "h", "the decision interval in σ units, e.g. 6")
        self.direction = _choice(direction, "direction", DIRECTIONS)
        super().__init__()

    @classmethod
    def from_reference(
        cls, reference: Any, *, k: float = CUSUM_K, h: float = CUSUM_H, direction: str = "both"
    ) -> Cusum:
        """CUSUM with the mean and sample standard deviation (``ddof=1``) of ``reference`` (NaN dropped)."""
        ref = _reference(reference)
        return cls(target_mean=float(ref.mean()), sigma=float(ref.std(ddof=1)), k=k, h=h, direction=direction)

    def _fresh(self, n_series: int) -> _CusumArrays:
        zf, zi = np.zeros(n_series, dtype=np.float64), np.zeros(n_series, dtype=np.int64)
        return _CusumArrays(zf, zf.copy(), zi, zi.copy())

    def _advance(self, arrays: _CusumArrays, x: FloatArray) -> list[_Signal]:
        s = arrays
        z = (x - self.target_mean) / self.sigma
        s.pos = np.maximum(0.0, s.pos + z - self.k)
        s.n_pos = np.where(s.pos > 0.0, s.n_pos + 1, 0)
        s.neg = np.maximum(0.0, s.neg - z - self.k)
        s.n_neg = np.where(s.neg > 0.0, s.n_neg + 1, 0)
        watch_up, watch_down = _sides(self.direction)
        signals = []
        if watch_up:
            signals.append(_Signal("up", s.pos > self.h, s.pos.copy(), s.n_pos.copy()))
        if watch_down:
            signals.append(_Signal("down", s.neg > self.h, s.neg.copy(), s.n_neg.copy()))
        _reset_where(s, np.logical_or.reduce([sig.fired for sig in signals]))
        return signals

    def _event(self, signal: _Signal, step: int, when: pd.Timestamp | None) -> DriftEvent:
        stat, window, side = float(signal.statistic[0]), int(signal.window[0]), signal.direction
        # Over the run since S last left zero, S = Σ(±z − k), so the run's mean z is ±(S / n + k).
        mean_z = (stat / window + self.k) * (1.0 if side == "up" else -1.0)
        sign = "⁺" if side == "up" else "⁻"
        return DriftEvent(
            detector=self.kind,
            statistic=stat,
            threshold=self.h,
            window=window,
            step=step,
            when=when,
            direction=side,
            message=(
                f"CUSUM: the mean moved {side} from the backtest's: S{sign} = {stat:.2f} > h = {self.h:g} (σ units); "
                f"the last {window} observations average {mean_z:+.2f} σ from the reference mean "
                f"{self.target_mean:.4g} (σ = {self.sigma:.4g})"
            ),
        )

    def statistics(self) -> dict[str, float]:
        """The test's current figures (after the last update, so after any reset), in σ units: ``up`` = S⁺ and
        ``down`` = S⁻, ``statistic`` the larger of the watched sides, ``threshold`` h, and ``window`` the run of
        that side since it last left zero (what an alarm now would report)."""
        s = self._arrays
        up, down = float(s.pos[0]), float(s.neg[0])
        sides = {"up": (up, int(s.n_pos[0])), "down": (down, int(s.n_neg[0]))}
        stat, window = _largest_side(sides, self.direction)
        return {"statistic": stat, "threshold": self.h, "up": up, "down": down, "window": window}

    def state(self) -> CusumState:
        s = self._arrays
        return CusumState(
            target_mean=self.target_mean,
            sigma=self.sigma,
            k=self.k,
            h=self.h,
            direction=self.direction,
            steps=self._steps,
            pos=float(s.pos[0]),
            neg=float(s.neg[0]),
            n_pos=int(s.n_pos[0]),
            n_neg=int(s.n_neg[0]),
        )

    @classmethod
    def restore(cls, state: CusumState) -> Cusum:
        """The detector ``state`` describes; it continues exactly where the saved one was."""
        det = cls(target_mean=state.target_mean, sigma=state.sigma, k=state.k, h=state.h, direction=state.direction)
        det._steps = _count(state.steps, "steps", 0, "observations seen")
        for f in fields(det._arrays):
            getattr(det._arrays, f.name)[0] = getattr(state, f.name)
        return det


def ks_statistic(reference: Any, windows: Any) -> FloatArray:
    """Two-sample Kolmogorov-Smirnov distance ``D = sup_x |F_window(x) − F_reference(x)|`` of each row of
    ``windows`` (rows × m; a 1-D input is one row) against ``reference`` (1-D), exact with ties — equal to
    ``scipy.stats.ks_2samp(row, reference).statistic``. Vectorised over rows.

    Between two consecutive distinct window values ``F_window`` is constant and ``F_reference`` non-decreasing, so
    the supremum is reached at a window value ``v`` or just before it: ``D = max_v max(|F_w(v) − F_r(v)|,
    |F_w(v⁻) − F_r(v⁻)|)``, with ``F(v⁻)`` the share of values ``< v``.
    """
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    w = np.sort(np.atleast_2d(np.asarray(windows, dtype=np.float64)), axis=1)
    m = w.shape[1]
    idx = np.arange(m)
    is_last = np.ones(w.shape, dtype=bool)
    is_last[:, :-1] = w[:, 1:] != w[:, :-1]
    is_first = np.ones(w.shape, dtype=bool)
    is_first[:, 1:] = is_last[:, :-1]
    # For each position: one past the last index holding the same value (count ≤ v), the first such index (count < v).
    upto = np.minimum.accumulate(np.where(is_last, idx, m)[:, ::-1], axis=1)[:, ::-1] + 1
    below = np.maximum.accumulate(np.where(is_first, idx, -1), axis=1)
    right = np.abs(upto / m - np.searchsorted(ref, w, side="right") / ref.size)
    left = np.abs(below / m - np.searchsorted(ref, w, side="left") / ref.size)
    return np.maximum(right, left).max(axis=1)


@functools.lru_cache(maxsize=64)
def _ks_critical_value(alpha: float, n_eff: float) -> float:
    """``kstwo.isf(alpha, n_eff)``, cached: it costs ~35 ms, and a restored detector (one per stored check) needs it
    again for the same sizes."""
    return float(kstwo.isf(alpha, n_eff))


@dataclass
class _KSArrays:
    buf: FloatArray  # (series, window): a ring buffer, position count % window is the oldest value when full
    count: IntArray


class KSWindowTest(_OnlineDetector[_KSArrays]):
    """Two-sample KS test of the last ``window`` live values against ``reference`` (the backtest returns, NaN
    dropped), once the window is full; fires when the asymptotic p-value < ``alpha`` (see the module docstring).
    After an alarm the window empties and the next test needs ``window`` new values, so alarms are at least
    ``window`` steps apart and never re-use the evidence of the last one."""

    kind: ClassVar[str] = "ks"

    def __init__(self, reference: Any, *, window: int = KS_WINDOW, alpha: float = KS_ALPHA) -> None:
        self.window = _count(window, "window", 10, "the number of recent values tested, e.g. 120")
        self.alpha = _positive(alpha, "alpha", "the level of one test, e.g. 0.001")
        if self.alpha >= 1.0:
            raise ConfigError(f"alpha must be in (0, 1), e.g. 0.001, got {alpha!r}")
        ref = _reference(reference)
        if ref.size < self.window:
            raise ConfigError(f"reference has {ref.size} returns, fewer than the window ({self.window})")
        self.reference = np.sort(ref)
        self.reference.flags.writeable = False
        n, m = float(max(ref.size, self.window)), float(min(ref.size, self.window))
        self._n_eff = float(np.round(n * m / (n + m)))  # as scipy's ks_2samp(method="asymp")
        self.critical_value = _ks_critical_value(self.alpha, self._n_eff)
        self._ref_mean = float(self.reference.mean())  # of the sorted values: the same after a restore
        self._ref_std = float(self.reference.std(ddof=1))
        super().__init__()

    def p_value(self, statistic: float) -> float:
        """Asymptotic p-value of a distance ``D`` for this reference and window sizes."""
        return float(np.clip(kstwo.sf(statistic, self._n_eff), 0.0, 1.0))

    def _fresh(self, n_series: int) -> _KSArrays:
        return _KSArrays(np.zeros((n_series, self.window), dtype=np.float64), np.zeros(n_series, dtype=np.int64))

    def _advance(self, arrays: _KSArrays, x: FloatArray) -> list[_Signal]:
        s = arrays
        s.buf[np.arange(x.size), s.count % self.window] = x
        s.count += 1
        full = s.count >= self.window
        stat = np.full(x.size, np.nan)
        if full.all():
            stat = ks_statistic(self.reference, s.buf)
        elif full.any():
            stat[full] = ks_statistic(self.reference, s.buf[full])
        fired = stat > self.critical_value
        moments = np.full((x.size, 2), np.nan)
        if fired.any():  # the window's mean and σ for the message, before the reset empties it; sorted, so the
            window = np.sort(s.buf[fired], axis=1)  # figures do not depend on the ring buffer's rotation
            moments[fired, 0] = window.mean(axis=1)
            moments[fired, 1] = window.std(axis=1, ddof=1)
            s.count[fired] = 0
        return [_Signal("shape", fired, stat, np.full(x.size, self.window, dtype=np.int64), moments)]

    def _event(self, signal: _Signal, step: int, when: pd.Timestamp | None) -> DriftEvent:
        stat = float(signal.statistic[0])
        p = self.p_value(stat)
        assert signal.extra is not None
        mean, std = float(signal.extra[0, 0]), float(signal.extra[0, 1])
        return DriftEvent(
            detector=self.kind,
            statistic=stat,
            threshold=self.critical_value,
            window=self.window,
            step=step,
            when=when,
            direction="shape",
            p_value=p,
            message=(
                f"KS: the last {self.window} values do not look drawn from the {self.reference.size} reference "
                f"values: D = {stat:.3f} > {self.critical_value:.3f} (p = {p:.2g} < α = {self.alpha:g}); their mean "
                f"is {mean:.4g} (reference {self._ref_mean:.4g}), their σ {std:.4g} = "
                f"{std / self._ref_std:.2f}× the reference's"
            ),
        )

    def statistics(self) -> dict[str, float]:
        """The test's current figures: ``statistic`` the distance ``D`` of the values in the window so far against
        the reference (NaN when the window is empty, as after an alarm; while it is only partly filled ``D`` is
        shown but not tested), ``threshold`` ``D_crit`` (of a full window), ``fill`` the values in the window and
        ``window`` its size."""
        s = self._arrays
        fill = min(int(s.count[0]), self.window)
        stat = float(ks_statistic(self.reference, s.buf[0, :fill])[0]) if fill else math.nan
        return {"statistic": stat, "threshold": self.critical_value, "fill": fill, "window": self.window}

    def state(self) -> KSWindowState:
        s = self._arrays
        count = int(s.count[0])
        # oldest first; the set is what KS tests, the order only keeps the ring buffer's next write on the oldest
        values = np.roll(s.buf[0], -(count % self.window)) if count >= self.window else s.buf[0, :count]
        return KSWindowState(
            reference=tuple(self.reference.tolist()),
            window=self.window,
            alpha=self.alpha,
            steps=self._steps,
            values=tuple(values.tolist()),
        )

    @classmethod
    def restore(cls, state: KSWindowState) -> KSWindowTest:
        """The detector ``state`` describes; it continues exactly where the saved one was."""
        det = cls(np.asarray(state.reference, dtype=np.float64), window=state.window, alpha=state.alpha)
        if len(state.values) > det.window:
            raise ConfigError(f"ks state holds {len(state.values)} values, more than its window ({det.window})")
        det._steps = _count(state.steps, "steps", 0, "observations seen")
        det._arrays.buf[0, : len(state.values)] = state.values
        det._arrays.count[0] = len(state.values)
        return det


# ------------------------------------------------------------------------------------------------ the front door


class DriftDetector:
    """The drift detectors of one strategy's live returns, against its backtest.

    Build it with :meth:`from_reference`; feed one return a day with :meth:`update` (or the seed's
    :meth:`check_for_drift`); save :meth:`state` after each update and :meth:`restore` it after a restart. CUSUM
    and KS see the returns as they are; Page-Hinkley sees them standardised by the reference's mean and σ, so all
    thresholds of the mean detectors are in σ units. Each date is fed once: an update whose ``when`` is not after
    the last one seen is refused (a re-run of the monitoring cycle must not count a day twice).
    """

    def __init__(
        self,
        *,
        reference_mean: float,
        reference_sigma: float,
        page_hinkley: PageHinkley | None = None,
        cusum: Cusum | None = None,
        ks: KSWindowTest | None = None,
        subject: str = "",
    ) -> None:
        self.reference_mean = _finite(reference_mean, "reference_mean", "the backtest's mean return")
        self.reference_sigma = _positive(reference_sigma, "reference_sigma", "the backtest's return σ")
        if not isinstance(subject, str):
            raise ConfigError(f"subject must be a name (e.g. the strategy's), got {subject!r}")
        self.subject = subject
        self.page_hinkley, self.cusum, self.ks = page_hinkley, cusum, ks
        if not self.detectors:
            raise ConfigError(f"a DriftDetector needs at least one of {', '.join(DETECTORS)}")
        self._steps = 0
        self._last_when: pd.Timestamp | None = None

    @classmethod
    def from_reference(
        cls,
        backtest_returns: Any,
        *,
        subject: str = "",
        detectors: Sequence[str] = DETECTORS,
        direction: str = "both",
        ph_delta: float = PH_DELTA,
        ph_threshold: float = PH_THRESHOLD,
        ph_min_samples: int = PH_MIN_SAMPLES,
        cusum_k: float = CUSUM_K,
        cusum_h: float = CUSUM_H,
        ks_window: int = KS_WINDOW,
        ks_alpha: float = KS_ALPHA,
    ) -> DriftDetector:
        """Detectors for a strategy whose backtest returned ``backtest_returns`` (NaN dropped, at least
        :data:`MIN_REFERENCE`, and at least ``ks_window`` when the KS test runs: 120 with the defaults): its mean
        and σ (``ddof=1``) set CUSUM's target and every σ unit; the returns themselves are KS's reference.
        ``detectors`` chooses among :data:`DETECTORS`; ``direction`` applies to the mean detectors."""
        if isinstance(detectors, str):
            detectors = (detectors,)
        chosen = {_choice(d, "detector", DETECTORS) for d in detectors}
        ref = _reference(backtest_returns, "backtest_returns")
        mean, sigma = float(ref.mean()), float(ref.std(ddof=1))
        return cls(
            reference_mean=mean,
            reference_sigma=sigma,
            page_hinkley=PageHinkley(
                delta=ph_delta, threshold=ph_threshold, min_samples=ph_min_samples, direction=direction
            )
            if "page_hinkley" in chosen
            else None,
            cusum=Cusum(target_mean=mean, sigma=sigma, k=cusum_k, h=cusum_h, direction=direction)
            if "cusum" in chosen
            else None,
            ks=KSWindowTest(ref, window=ks_window, alpha=ks_alpha) if "ks" in chosen else None,
            subject=subject,
        )

    @property
    def detectors(self) -> dict[str, PageHinkley | Cusum | KSWindowTest]:
        """The detectors run, by name."""
        found = {"page_hinkley": self.page_hinkley, "cusum": self.cusum, "ks": self.ks}
        return {name: det for name, det in found.items() if det is not None}

    @property
    def steps(self) -> int:
        """Returns seen."""
        return self._steps

    @property
    def last_when(self) -> pd.Timestamp | None:
        """Date of the last return fed with a date."""
        return self._last_when

    def _check_order(self, whens: Sequence[pd.Timestamp | None]) -> None:
        """Refuse a date that is not after the last one seen (or the previous one of the batch)."""
        last = self._last_when
        for when in whens:
            if when is None:
                continue
            if last is not None:
                try:
                    later = when > last
                except TypeError as exc:
                    raise ConfigError(f"when {when} cannot be compared with the last date seen {last}") from exc
                if not later:
                    raise ConfigError(
                        f"the detector has already seen {last.isoformat()}; feed each date once and in order "
                        f"(got {when.isoformat()}) — a re-run of a cycle must not feed its return again"
                    )
            last = when

    def _step(self, x: float, when: pd.Timestamp | None) -> list[DriftEvent]:
        events: list[DriftEvent] = []
        if self.page_hinkley is not None:
            events.extend(self.page_hinkley._step((x - self.reference_mean) / self.reference_sigma, when))
        if self.cusum is not None:
            events.extend(self.cusum._step(x, when))
        if self.ks is not None:
            events.extend(self.ks._step(x, when))
        self._steps += 1
        if when is not None:
            self._last_when = when
        return [replace(e, step=self._steps, subject=self.subject) for e in events]

    def update(self, x: float, when: Any = None) -> list[DriftEvent]:
        """Feed one live return (a simple return, like the backtest's) of the date ``when``; returns the
        detections (empty when none)."""
        value, stamp = _live_value(x, "x"), _when(when)
        self._check_order([stamp])
        return self._step(value, stamp)

    def check_for_drift(self, current_return: float, when: Any = None) -> DriftCheck:
        """The seed's call: :meth:`update` with ``current_return``, as a :class:`DriftCheck`."""
        value, stamp = _live_value(current_return), _when(when)
        self._check_order([stamp])
        events = self._step(value, stamp)
        return DriftCheck(drift_detected=bool(events), events=tuple(events), step=self._steps, when=stamp)

    def update_many(self, values: Any) -> list[DriftEvent]:
        """Feed a batch of live returns in order (a Series' DatetimeIndex gives the dates, which must increase
        and follow the last date seen). Validated first: all or nothing."""
        arr, whens = _live_values(values)
        self._check_order(whens)
        events: list[DriftEvent] = []
        for x, when in zip(arr.tolist(), whens, strict=True):
            events.extend(self._step(x, when))
        return events

    def scan(self, values: Any) -> dict[str, BoolArray]:
        """Run FRESH copies of the detectors on each column of ``values`` (steps × series) at once: a boolean
        (steps × series) matrix per detector, True where it fired, and ``"any"``. This detector's state is not
        touched. For calibration and the quality bench."""
        arr = _as_matrix(values)
        out: dict[str, BoolArray] = {}
        if self.page_hinkley is not None:
            out["page_hinkley"] = self.page_hinkley.scan((arr - self.reference_mean) / self.reference_sigma)
        if self.cusum is not None:
            out["cusum"] = self.cusum.scan(arr)
        if self.ks is not None:
            out["ks"] = self.ks.scan(arr)
        out["any"] = np.logical_or.reduce(list(out.values()))
        return out

    def statistics(self) -> dict[str, dict[str, float]]:
        """Each detector's current figures after the last update, by name (see ``statistics()`` of
        :class:`PageHinkley`, :class:`Cusum` and :class:`KSWindowTest`): every one has ``statistic`` and
        ``threshold`` (in the units of its events; an alarm is ``statistic > threshold``, which the reset after an
        alarm brings back down) and ``window``. JSON-safe except KS's NaN ``statistic`` while its window is empty."""
        return {name: det.statistics() for name, det in self.detectors.items()}

    def state(self) -> DriftDetectorState:
        """Everything needed to continue after a restart (JSON-safe through ``to_dict()``)."""
        return DriftDetectorState(
            subject=self.subject,
            reference_mean=self.reference_mean,
            reference_sigma=self.reference_sigma,
            steps=self._steps,
            last_when=_iso(self._last_when),
            page_hinkley=self.page_hinkley.state() if self.page_hinkley is not None else None,
            cusum=self.cusum.state() if self.cusum is not None else None,
            ks=self.ks.state() if self.ks is not None else None,
        )

    @classmethod
    def restore(cls, state: DriftDetectorState | Mapping[str, Any]) -> DriftDetector:
        """The detector ``state`` (or its ``to_dict()``) describes; it continues exactly where the saved one was."""
        if not isinstance(state, DriftDetectorState):
            state = DriftDetectorState.from_dict(state)
        det = cls(
            reference_mean=state.reference_mean,
            reference_sigma=state.reference_sigma,
            page_hinkley=PageHinkley.restore(state.page_hinkley) if state.page_hinkley is not None else None,
            cusum=Cusum.restore(state.cusum) if state.cusum is not None else None,
            ks=KSWindowTest.restore(state.ks) if state.ks is not None else None,
            subject=state.subject,
        )
        det._steps = _count(state.steps, "steps", 0, "returns seen")
        det._last_when = _when(state.last_when)
        return det


# ------------------------------------------------------------------------------------------------ input drift (PSI)


def _feature_values(values: Any, name: str) -> FloatArray:
    try:
        raw = values.to_numpy(dtype=np.float64, na_value=np.nan) if isinstance(values, pd.Series) else values
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be numeric, got {type(values).__name__}: {exc}") from exc
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be 1-D (one feature), got {arr.ndim}-D")
    if np.isinf(arr).any():
        raise ConfigError(f"{name} contain ±inf; fix the feature")
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise ConfigError(f"{name} have no values once NaN are dropped")
    return arr


def population_stability_index(expected: Any, actual: Any, *, bins: int = PSI_BINS, eps: float = PSI_EPS) -> float:
    """Population stability index of ``actual`` against ``expected`` (one feature each, NaN dropped)::

        PSI = Σ_i (a_i − e_i) · ln(a_i / e_i)

    over ``bins`` quantile bins of ``expected``: the interior edges are its 1/bins … (bins−1)/bins quantiles
    (``numpy.quantile``, linear), duplicates merged (a discrete feature gets fewer bins); bin ``i`` is
    ``[edge_i, edge_{i+1})`` with −∞ and +∞ outside. ``e_i`` and ``a_i`` are the shares of each sample in bin ``i``,
    floored at ``eps`` so an empty bin contributes a large but finite term. PSI ≥ 0; 0 for identical samples.
    Reading (:func:`psi_verdict`): < 0.1 stable, 0.1 – 0.25 moderate, ≥ 0.25 shifted.
    """
    bins = _count(bins, "bins", 2, "the number of quantile bins, e.g. 10")
    eps = _positive(eps, "eps", "the floor of an empty bin's share, e.g. 1e-4")
    exp = _feature_values(expected, "expected")
    act = _feature_values(actual, "actual")
    edges = np.unique(np.quantile(exp, np.arange(1, bins) / bins))
    e = np.bincount(np.searchsorted(edges, exp, side="right"), minlength=edges.size + 1) / exp.size
    a = np.bincount(np.searchsorted(edges, act, side="right"), minlength=edges.size + 1) / act.size
    e, a = np.maximum(e, eps), np.maximum(a, eps)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_verdict(psi: float, *, moderate: float = PSI_MODERATE, shift: float = PSI_SHIFT) -> str:
    """``"stable"`` below ``moderate``, ``"moderate"`` below ``shift``, else ``"shift"``."""
    return "stable" if psi < moderate else "moderate" if psi < shift else "shift"


def _check_psi_levels(moderate: float, shift: float) -> None:
    _positive(moderate, "moderate", "the PSI of a moderate shift, e.g. 0.1")
    _positive(shift, "shift", "the PSI of a significant shift, e.g. 0.25")
    if not moderate < shift:
        raise ConfigError(f"moderate ({moderate!r}) must be below shift ({shift!r}); the usual levels are 0.1, 0.25")


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    bins: int = PSI_BINS,
    eps: float = PSI_EPS,
    moderate: float = PSI_MODERATE,
    shift: float = PSI_SHIFT,
) -> pd.DataFrame:
    """PSI of every column of ``reference`` (e.g. the regime model's training features) against the same column of
    ``current``: a DataFrame indexed by feature with ``psi``, ``verdict`` (see :func:`psi_verdict`),
    ``n_reference`` and ``n_current`` (values once NaN are dropped), in the reference's column order. Columns of
    ``current`` that the reference lacks are ignored; a reference column missing from ``current`` is refused."""
    _check_psi_levels(moderate, shift)
    for name, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise ConfigError(f"{name} must be a DataFrame with one column per feature, got {type(frame).__name__}")
    if reference.shape[1] == 0:
        raise ConfigError("reference has no columns; pass one column per feature")
    missing = [c for c in reference.columns if c not in current.columns]
    if missing:
        close = difflib.get_close_matches(str(missing[0]), [str(c) for c in current.columns], n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"current lacks the feature(s) {', '.join(map(str, missing))}{hint}")
    rows = []
    for col in reference.columns:
        exp = _feature_values(reference[col], f"reference[{col!r}]")
        act = _feature_values(current[col], f"current[{col!r}]")
        psi = population_stability_index(exp, act, bins=bins, eps=eps)
        verdict = psi_verdict(psi, moderate=moderate, shift=shift)
        rows.append({"psi": psi, "verdict": verdict, "n_reference": exp.size, "n_current": act.size})
    return pd.DataFrame(rows, index=pd.Index(list(reference.columns), name="feature"))


def feature_drift_events(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    when: Any = None,
    bins: int = PSI_BINS,
    eps: float = PSI_EPS,
    moderate: float = PSI_MODERATE,
    shift: float = PSI_SHIFT,
) -> list[DriftEvent]:
    """:func:`feature_drift` as events: one per feature that is not stable (``severity`` ``"warning"`` for a
    moderate shift, ``"alarm"`` for a significant one; ``threshold`` the level crossed; ``window`` the current
    sample's size; ``subject`` the feature)."""
    stamp = _when(when)
    table = feature_drift(reference, current, bins=bins, eps=eps, moderate=moderate, shift=shift)
    events = []
    for feature, row in table.iterrows():
        if row["verdict"] == "stable":
            continue
        level = shift if row["verdict"] == "shift" else moderate
        events.append(
            DriftEvent(
                detector="psi",
                statistic=float(row["psi"]),
                threshold=level,
                window=int(row["n_current"]),
                step=None,
                when=stamp,
                direction="shape",
                subject=str(feature),
                severity="alarm" if row["verdict"] == "shift" else "warning",
                message=(
                    f"PSI of feature {feature!s} is {row['psi']:.3f} ≥ {level:g} ({row['verdict']}): its last "
                    f"{int(row['n_current'])} values are distributed unlike the {int(row['n_reference'])} "
                    "reference values"
                ),
            )
        )
    return events
