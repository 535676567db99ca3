"""Risk limits: check a portfolio against the ``[RISK]`` section of the configuration.

:class:`RiskMonitor` measures five figures and compares each with its limit in
:class:`~ravenshire.config.RiskConfig`:

====================  ==========================================================  =============
limit                 value measured                                              subject
====================  ==========================================================  =============
max_leverage          gross leverage ``Σ|w_i|`` (fraction of equity)              ``portfolio``
var_limit             one-day VaR at 95 %, by ``var_method`` (positive loss)      ``portfolio``
max_drawdown          CURRENT drawdown from the peak (positive), not the worst    ``portfolio``
                      past one: a fund halts on where it stands now
max_position_weight   ``|w_i|`` of each position                                  the symbol
max_group_weight      gross weight ``Σ_{i∈g}|w_i|`` of each sector / cluster      the group
====================  ==========================================================  =============

Severity: ``"breach"`` when ``value > limit + tolerance`` (``tolerance`` 1e-9 absorbs rounding, so weights an
optimizer capped exactly at a limit do not breach it); ``"warning"`` when ``value ≥ warning_level · limit``
(90 % by default) and not a breach, for a limit > 0. Each finding is a :class:`Breach` with the value, the limit
and a human sentence; :meth:`RiskMonitor.check` returns them in a :class:`RiskReport`, most severe first.
A limit whose inputs were not given is not silently passed: it is listed in :attr:`RiskReport.skipped` with the
reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ravenshire.config import RiskConfig
from ravenshire.errors import ConfigError
from ravenshire.portfolio.risk import (
    RiskMetrics,
    _check_weights,
    _float_series,
    drawdowns_from_equity,
    value_at_risk,
)
from ravenshire.research import metrics

__all__ = ["LIMITS", "SEVERITIES", "Breach", "RiskMonitor", "RiskReport", "group_weights"]

#: The limits checked, in the order of the ``[RISK]`` section (also the tie-break order of a report).
LIMITS: tuple[str, ...] = ("max_leverage", "var_limit", "max_drawdown", "max_position_weight", "max_group_weight")
#: Severities, most severe first.
SEVERITIES: tuple[str, ...] = ("breach", "warning")


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f} %"


def _times(x: float) -> str:
    return f"{x:.2f}×"


@dataclass(frozen=True, kw_only=True)
class Breach:
    """One limit breached (or nearly: ``severity == "warning"``).

    ``limit`` is the ``[RISK]`` key (e.g. ``"max_leverage"``), ``value`` what was measured, ``threshold`` the
    configured limit (same units: fractions, leverage as a multiple of equity), ``subject`` what was measured —
    ``"portfolio"``, a symbol or a group — and ``message`` a sentence stating both numbers, e.g.
    ``"Gross leverage 1.72× is above the 1.50× limit"``.
    """

    limit: str
    value: float
    threshold: float
    subject: str
    severity: str
    message: str

    @property
    def utilisation(self) -> float:
        """``value / threshold`` (1.0 = at the limit); ``inf`` for a positive value against a zero limit."""
        if self.threshold > 0:
            return self.value / self.threshold
        return math.inf if self.value > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "utilisation": self.utilisation if math.isfinite(self.utilisation) else None}


@dataclass(frozen=True, kw_only=True)
class RiskReport:
    """What :meth:`RiskMonitor.check` found.

    ``breaches`` holds breaches then warnings, each by utilisation (value / limit) descending, then by the order of
    :data:`LIMITS` and the subject — deterministic. ``checked`` lists the limits that were measured, ``skipped``
    maps each limit that was not to the reason (an input was missing). Iterating a report iterates ``breaches``.
    """

    breaches: tuple[Breach, ...]
    checked: tuple[str, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no limit is breached (warnings allowed). Says nothing of :attr:`skipped` limits."""
        return not any(b.severity == "breach" for b in self.breaches)

    @property
    def complete(self) -> bool:
        """True when every limit was checked."""
        return not self.skipped

    @property
    def warnings(self) -> tuple[Breach, ...]:
        return tuple(b for b in self.breaches if b.severity == "warning")

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(b.message for b in self.breaches)

    def __iter__(self) -> Iterator[Breach]:
        return iter(self.breaches)

    def __len__(self) -> int:
        return len(self.breaches)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "complete": self.complete,
            "breaches": [b.to_dict() for b in self.breaches],
            "checked": list(self.checked),
            "skipped": dict(self.skipped),
        }


class _Measure(NamedTuple):
    subject: str
    value: float
    head: str  # the sentence up to the verb, e.g. "Gross leverage 1.72×"


def group_weights(weights: pd.Series, groups: Mapping[str, str]) -> pd.Series:
    """Gross weight ``Σ_{i∈g}|w_i|`` of each group (sector or cluster), in the order groups first appear in
    ``weights``. A symbol without a group is its own group, labelled by the symbol (a group named like an ungrouped
    symbol would merge with it)."""
    w = _check_weights(weights)
    labels = pd.Index([str(groups.get(s, s)) for s in w.index], name="group")
    return w.abs().groupby(labels, sort=False).sum().rename("gross_weight")


class RiskMonitor:
    """Checks weights and risk against the ``[RISK]`` limits (used by the Sentinel agent and the UI).

    Parameters
    ----------
    config
        The limits; the defaults of :class:`RiskConfig` when None.
    groups
        Symbol → group for ``max_group_weight``; ``config.sectors`` when None. The clustering agent passes its
        clusters instead. Symbols without a group are their own group.
    group_kind
        The word used in messages for a group: ``"sector"`` when the groups are the configured sectors, else
        ``"group"`` unless given (e.g. ``"cluster"``).
    warning_level
        Fraction of a limit from which a value is reported as a warning, in (0, 1]; 0.9 by default. 1 reports only
        values exactly at the limit.
    tolerance
        Absolute slack before a value counts as above its limit (1e-9).
    """

    def __init__(
        self,
        config: RiskConfig | None = None,
        groups: Mapping[str, str] | None = None,
        *,
        group_kind: str | None = None,
        warning_level: float = 0.9,
        tolerance: float = 1e-9,
    ) -> None:
        self.config = config if config is not None else RiskConfig()
        self.groups: dict[str, str] = dict(self.config.sectors if groups is None else groups)
        self.group_kind = group_kind or ("sector" if groups is None else "group")
        if not (isinstance(warning_level, int | float) and 0.0 < warning_level <= 1.0):
            raise ConfigError(
                f"warning_level must be a fraction of the limit in (0, 1], e.g. 0.9; got {warning_level!r}"
            )
        if not (isinstance(tolerance, int | float) and 0.0 <= tolerance < 1e-3):
            raise ConfigError(f"tolerance must be a small number ≥ 0 (default 1e-9), got {tolerance!r}")
        self.warning_level = float(warning_level)
        self.tolerance = float(tolerance)

    # ------------------------------------------------------------------------------------------ public

    def check(
        self,
        *,
        weights: pd.Series | None = None,
        risk: RiskMetrics | None = None,
        returns: pd.Series | None = None,
        equity_curve: pd.Series | None = None,
    ) -> RiskReport:
        """Check every limit the inputs allow; return the findings, most severe first.

        ``weights`` (signed fractions of equity, by symbol) give leverage, position and group weights. ``returns``
        (the portfolio's returns per period; for a pre-trade check, the target weights applied to the assets'
        history) give the VaR, measured by ``config.var_method`` at 95 %. The current drawdown comes from
        ``equity_curve`` (``1 − E[T] / max E``), else from the compounded ``returns`` (start = a peak). A
        :class:`RiskMetrics` fills in what the raw inputs do not give: ``current_leverage``, ``var_95`` (only if it
        was computed with ``config.var_method``: else :class:`ConfigError`) and ``current_drawdown``. Raw inputs
        win over ``risk`` when both are given. Limits without inputs are listed in :attr:`RiskReport.skipped`.
        """
        if risk is not None and not isinstance(risk, RiskMetrics):
            raise ConfigError(f"risk must be a RiskMetrics (compute_risk_metrics), got {type(risk).__name__}")
        w = _check_weights(weights) if weights is not None else None
        found: dict[str, list[_Measure] | str] = {
            "max_leverage": self._leverage(w, risk),
            "var_limit": self._var(returns, risk),
            "max_drawdown": self._drawdown(equity_curve, returns, risk),
            "max_position_weight": self._positions(w),
            "max_group_weight": self._groups(w),
        }
        breaches: list[Breach] = []
        checked: list[str] = []
        skipped: dict[str, str] = {}
        for limit, measures in found.items():
            if isinstance(measures, str):
                skipped[limit] = measures
                continue
            checked.append(limit)
            threshold = float(getattr(self.config, limit))
            breaches.extend(b for m in measures if (b := self._assess(limit, m, threshold)) is not None)
        breaches.sort(key=_order)
        return RiskReport(breaches=tuple(breaches), checked=tuple(checked), skipped=skipped)

    # ------------------------------------------------------------------------------------------ measures

    def _leverage(self, w: pd.Series | None, risk: RiskMetrics | None) -> list[_Measure] | str:
        if w is not None:
            gross = float(np.abs(w.to_numpy()).sum())
        elif risk is not None and math.isfinite(risk.current_leverage):
            gross = float(risk.current_leverage)
        else:
            return "no weights given (nor RiskMetrics computed with weights)"
        return [_Measure("portfolio", gross, f"Gross leverage {_times(gross)}")]

    def _var(self, returns: pd.Series | None, risk: RiskMetrics | None) -> list[_Measure] | str:
        method = self.config.var_method
        if returns is not None:
            var = value_at_risk(returns, 0.95, method)
        elif risk is not None:
            if risk.var_method != method:
                raise ConfigError(
                    f"the RiskMetrics were computed with var_method={risk.var_method!r} but the VaR limit is "
                    f"measured with {method!r} ([RISK] var_method); recompute them with {method!r} or pass returns"
                )
            var = float(risk.var_95)
        else:
            return "no returns given (nor RiskMetrics)"
        return [_Measure("portfolio", var, f"One-day 95 % VaR ({method.replace('_', '-')}) {_pct(var)}")]

    def _drawdown(
        self, equity_curve: pd.Series | None, returns: pd.Series | None, risk: RiskMetrics | None
    ) -> list[_Measure] | str:
        if equity_curve is not None:
            dd = float(drawdowns_from_equity(equity_curve).iloc[-1])
        elif returns is not None:
            r = _float_series(returns, "returns").to_numpy(dtype=np.float64)
            if r.size == 0:
                raise ConfigError("returns are empty once NaN are dropped; pass the portfolio's returns per period")
            dd = float(np.asarray(metrics.drawdown_series(r))[-1])
        elif risk is not None:
            dd = float(risk.current_drawdown)
        else:
            return "no equity curve or returns given (nor RiskMetrics)"
        return [_Measure("portfolio", dd, f"Current drawdown {_pct(dd)} from the peak")]

    def _positions(self, w: pd.Series | None) -> list[_Measure] | str:
        if w is None:
            return "no weights given"
        out = []
        for symbol, weight in w.items():
            size = abs(float(weight))
            shown = _pct(weight) if weight >= 0 else f"{_pct(weight)} (|w| {_pct(size)})"
            out.append(_Measure(str(symbol), size, f"Position {symbol} weight {shown}"))
        return out

    def _groups(self, w: pd.Series | None) -> list[_Measure] | str:
        if w is None:
            return "no weights given"
        gross = group_weights(w, self.groups)
        labels = [str(self.groups.get(s, s)) for s in w.index]
        members = {g: [str(s) for s, lab in zip(w.index, labels, strict=True) if lab == g] for g in gross.index}
        kind = self.group_kind.capitalize()
        return [
            _Measure(str(g), float(v), f"{kind} {g} gross weight {_pct(float(v))} ({', '.join(members[g])})")
            for g, v in gross.items()
        ]

    # ------------------------------------------------------------------------------------------ assessment

    def _assess(self, limit: str, m: _Measure, threshold: float) -> Breach | None:
        if not math.isfinite(m.value):
            return None
        show = _times if limit == "max_leverage" else _pct
        if m.value > threshold + self.tolerance:
            severity, message = "breach", f"{m.head} is above the {show(threshold)} limit"
        elif threshold > 0 and m.value >= self.warning_level * threshold:
            used = f"{100.0 * m.value / threshold:.0f} %"
            severity, message = "warning", f"{m.head} is at {used} of the {show(threshold)} limit"
        else:
            return None
        return Breach(
            limit=limit, value=m.value, threshold=threshold, subject=m.subject, severity=severity, message=message
        )


def _order(b: Breach) -> tuple[int, float, int, str]:
    return (SEVERITIES.index(b.severity), -b.utilisation, LIMITS.index(b.limit), b.subject)
