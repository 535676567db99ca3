"""Read-only views of the portfolio for the UI and the CLI: the Strategist's latest target weights, the assets'
stored returns, the optimizers side by side, and the book's risk against the ``[RISK]`` limits.

Nothing here writes or fetches: prices come from the store alone (``DataManager.load_stored``), the agents' work
from the ``cycles`` and ``agent_messages`` tables (read as rows; this layer does not import the agents). Weights are
signed fractions of equity; loss figures (VaR, CVaR, drawdowns) are positive fractions, per day for VaR and CVaR.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from ravenshire.config import Config
from ravenshire.errors import ConfigError, RavenshireError
from ravenshire.portfolio.limits import RiskReport, group_weights
from ravenshire.portfolio.manager import PortfolioManager
from ravenshire.portfolio.optimizers import METHODS, Constraints
from ravenshire.portfolio.risk import RiskMetrics
from ravenshire.store import read
from ravenshire.store import schema as s

__all__ = [
    "COMPARISON_COLUMNS",
    "RISK_COLUMNS",
    "Comparison",
    "RiskOverview",
    "TargetWeights",
    "compare_optimizers",
    "latest_targets",
    "position_weights",
    "risk_overview",
    "stored_returns",
]

#: Columns of :attr:`Comparison.summary`, one row per method.
COMPARISON_COLUMNS = ["method", "expected_return", "volatility", "sharpe_ratio", "largest_weight", "n_assets", "error"]
#: Columns of :attr:`RiskOverview.table`, one row per figure.
RISK_COLUMNS = ["figure", "limit_key", "subject", "value", "limit", "utilisation", "status", "message"]


# --------------------------------------------------------------------------- the Strategist's targets
@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class TargetWeights:
    """The target weights the Strategist proposed in one agent cycle (before the Sentinel and the Sovereign):
    ``weights`` by symbol (fractions of equity, only the symbols it wants to hold), its ``optimizer``, the
    ``regime`` and exposure ``multiplier`` it applied, the ``gross`` invested fraction, and the cycle's
    ``recommendation`` (the Sovereign's final word, when the cycle reached it)."""

    cycle_id: str
    business_date: pd.Timestamp
    status: str
    weights: pd.Series
    optimizer: str | None
    regime: str | None
    multiplier: float | None
    gross: float
    recommendation: str | None
    is_demo: bool

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["business_date"] = self.business_date.date().isoformat()
        out["weights"] = {str(k): float(v) for k, v in self.weights.items()}
        return out


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def latest_targets(engine: Engine) -> TargetWeights | None:
    """The Strategist's target weights of the newest agent cycle that stored a Strategist decision (the cycle of
    the latest business date; among one date's, the one started last); None when no agent cycle decided yet."""
    c, m = s.cycles, s.agent_messages
    stmt = (
        select(c.c.id, c.c.business_date, c.c.status, c.c.summary, c.c.is_demo, m.c.payload)
        .join_from(m, c, m.c.cycle_id == c.c.id)
        .where(c.c.kind == "agent", m.c.sender == "strategist", m.c.type == "decision")
        .order_by(c.c.business_date.desc(), c.c.started_at.desc(), m.c.seq.desc())
        .limit(1)
    )
    with read(engine) as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None:
        return None
    decision = _loads(row["payload"])
    payload = decision.get("payload") if isinstance(decision, dict) else None
    payload = payload if isinstance(payload, dict) else {}
    raw = payload.get("target_weights") or {}
    weights = pd.Series({str(k): float(v) for k, v in raw.items()}, dtype=float, name="target").sort_index()
    summary = _loads(row["summary"])
    multiplier = payload.get("exposure_multiplier")
    return TargetWeights(
        cycle_id=row["id"],
        business_date=pd.Timestamp(str(row["business_date"])),
        status=row["status"],
        weights=weights,
        optimizer=payload.get("optimizer"),
        regime=payload.get("regime"),
        multiplier=None if multiplier is None else float(multiplier),
        gross=float(payload.get("gross", weights.sum())),
        recommendation=summary.get("recommendation") if isinstance(summary, dict) else None,
        is_demo=bool(row["is_demo"]),
    )


# --------------------------------------------------------------------------- current weights
def position_weights(positions: pd.DataFrame, equity: float) -> pd.Series:
    """Signed weights ``market_value / equity`` of the positions table (``ExecutionManager().positions()``,
    indexed by symbol); empty when nothing is held. ConfigError when equity is not positive."""
    if positions is None or len(positions) == 0:
        return pd.Series(dtype=float, name="current")
    if not (isinstance(equity, int | float) and math.isfinite(equity) and equity > 0):
        raise ConfigError(f"the account's equity is {equity!r}: weights need a positive equity")
    values = positions["market_value"].astype(float)
    return (values / float(equity)).rename("current").sort_index()


# --------------------------------------------------------------------------- stored returns
def stored_returns(engine: Engine, config: Config, symbols: Sequence[str], lookback: int) -> pd.DataFrame:
    """Daily simple returns of the adjusted closes the store holds for ``symbols``, the last ``lookback``
    sessions on which every one of them has a price (listwise, so covariances are consistent).

    Nothing is fetched. ``attrs``: ``missing`` (symbols without stored prices, left out), ``is_demo`` (a price
    came from the synthetic source) and ``sessions`` (the number of rows). ConfigError for a lookback < 2 or no
    symbol.
    """
    from ravenshire.data import DataManager

    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 2:
        raise ConfigError(f"lookback must be a whole number of sessions ≥ 2, got {lookback!r}")
    wanted = sorted({str(x) for x in symbols})
    if not wanted:
        raise ConfigError("no symbols given: choose at least one")
    from ravenshire.execution.market import StoreBars

    manager = DataManager(config, engine=engine, origin="ui")
    newest = StoreBars(engine, config).latest_date()
    # Enough calendar days for ``lookback`` sessions common to all (with room for gaps), not the whole history.
    start = None if newest is None else (newest - pd.Timedelta(days=int(lookback * 1.6) + 60)).date()
    pairs = list(manager.sources_for(wanted).items())
    data = manager.load_stored(pairs, start, None, fields=("adj_close",))
    prices = pd.DataFrame(data["adj_close"]) if len(data.columns) else pd.DataFrame(columns=wanted, dtype=float)
    prices = prices.reindex(columns=wanted)
    if start is not None and prices.isna().all().any():  # a symbol whose bars end earlier: its whole history
        data = manager.load_stored(pairs, fields=("adj_close",))
        prices = pd.DataFrame(data["adj_close"]) if len(data.columns) else pd.DataFrame(columns=wanted, dtype=float)
        prices = prices.reindex(columns=wanted)
    missing = [sym for sym in wanted if prices[sym].isna().all()]
    prices = prices.drop(columns=missing).dropna(how="any")
    returns = prices.pct_change().iloc[1:].tail(lookback)
    returns.index.name = "date"
    returns.attrs.update(missing=missing, is_demo=bool(data.attrs.get("is_demo")), sessions=len(returns))
    return returns


# --------------------------------------------------------------------------- optimizers side by side
@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Comparison:
    """Optimizers side by side on one set of returns: ``weights`` (symbols × methods; a method that failed has no
    column) and ``summary`` (:data:`COMPARISON_COLUMNS`; a failed method keeps its row with the ``error`` — there is
    no silent fallback to other weights). ``constraints`` says what the weights were held to."""

    weights: pd.DataFrame
    summary: pd.DataFrame
    constraints: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": {m: {str(k): float(v) for k, v in col.items()} for m, col in self.weights.items()},
            "summary": self.summary.to_dict(orient="records"),
            "constraints": self.constraints,
        }


def compare_optimizers(
    returns: pd.DataFrame,
    config: Config,
    *,
    methods: Sequence[str] = METHODS,
    risk_limits: bool = True,
) -> Comparison:
    """Weights of each of ``methods`` (default every optimizer) on ``returns``.

    With ``risk_limits`` the ``[RISK]`` constraints apply (long-only, each weight ≤ ``max_position_weight``, gross
    ≤ ``max_leverage``: what ``PortfolioManager.optimize_weights`` uses by default); without, long-only and fully
    invested only. A method that cannot meet them keeps its row with the error.
    """
    manager = PortfolioManager(config=config)
    constraints = manager.default_constraints() if risk_limits else Constraints(long_only=True)
    if risk_limits:
        what = (f"long-only, each weight ≤ {config.risk.max_position_weight:.0%}, gross ≤ "
                f"{config.risk.max_leverage:g}× ([RISK])")  # fmt: skip
    else:
        what = "long-only, fully invested"
    columns: dict[str, pd.Series] = {}
    rows: list[dict[str, Any]] = []
    for method in methods:
        try:
            result = manager.optimize_weights(returns, method, constraints=constraints)
        except RavenshireError as exc:
            rows.append({"method": method, "error": str(exc)})
            continue
        w = result.weights.astype(float)
        columns[method] = w
        rows.append(
            {
                "method": method,
                "expected_return": float(result.expected_return),
                "volatility": float(result.volatility),
                "sharpe_ratio": float(result.sharpe_ratio),
                "largest_weight": float(w.abs().max()) if len(w) else math.nan,
                "n_assets": int((w.abs() > 1e-6).sum()),
                "error": None,
            }
        )
    weights = pd.DataFrame(columns, index=list(returns.columns), dtype=float)
    weights.index.name = "symbol"
    summary = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    return Comparison(weights=weights, summary=summary, constraints=what)


# --------------------------------------------------------------------------- risk against the limits
@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class RiskOverview:
    """The book's risk against the ``[RISK]`` limits.

    ``metrics`` (:func:`~ravenshire.portfolio.risk.compute_risk_metrics` of the current weights held constant over
    the assets' stored returns), ``report`` (:meth:`PortfolioManager.check_limits`: breaches and warnings),
    ``table`` (:data:`RISK_COLUMNS`: every figure with its value, limit, utilisation = value / limit and status
    ``ok``, ``warning``, ``breach`` or ``no limit``), ``var_ratio`` (VaR / var_limit, what the risk sphere shows),
    ``drawdown_source`` (``equity curve`` or ``returns``).
    """

    metrics: RiskMetrics
    report: RiskReport
    table: pd.DataFrame
    var_ratio: float
    drawdown_source: str


def _status(report: RiskReport, limit: str, subject: str) -> tuple[str, str | None]:
    for b in report.breaches:
        if b.limit == limit and b.subject == subject:
            return b.severity, b.message
    return "ok", None


def risk_overview(
    weights: pd.Series,
    asset_returns: pd.DataFrame,
    config: Config,
    *,
    equity_curve: pd.Series | None = None,
) -> RiskOverview:
    """Risk of ``weights`` (signed fractions of equity) over ``asset_returns`` against the ``[RISK]`` limits.

    VaR and CVaR are the one-day 95 % figures of the portfolio ``Σ w_i r_i`` by ``[RISK] var_method``; the
    drawdown is the CURRENT one, from ``equity_curve`` (≥ 2 points) or else from the compounded portfolio returns;
    leverage is ``Σ|w|``; concentration the largest ``|w_i|`` (and the Herfindahl index of the normalised weights);
    the group weight the largest gross weight of a ``[RISK] sectors`` group.
    """
    w = weights.astype(float)
    if w.empty:
        raise ConfigError("no weights: the book holds no position")
    curve = equity_curve if equity_curve is not None and len(equity_curve.dropna()) >= 2 else None
    manager = PortfolioManager(config=config)
    metrics = manager.get_risk_metrics(asset_returns[list(w.index)], curve, weights=w)
    portfolio = pd.Series(asset_returns[list(w.index)].to_numpy() @ w.to_numpy(), index=asset_returns.index)
    report = manager.check_limits(weights=w, returns=portfolio, equity_curve=curve)
    risk = config.risk
    groups = group_weights(w, risk.sectors)
    top_group = str(groups.idxmax()) if len(groups) else "—"
    rows: list[dict[str, Any]] = []

    def add(figure: str, key: str | None, subject: str, value: float, limit: float | None) -> None:
        if key is None or limit is None:
            status, message, used = "no limit", None, math.nan
        else:
            status, message = _status(report, key, subject)
            used = value / limit if limit > 0 else (math.inf if value > 0 else 0.0)
        rows.append({"figure": figure, "limit_key": key, "subject": subject, "value": value, "limit": limit,
                     "utilisation": used, "status": status, "message": message})  # fmt: skip

    add("VaR 95 % [1 day]", "var_limit", "portfolio", float(metrics.var_95), risk.var_limit)
    # CVaR has no limit of its own: it is shown against the VaR limit, which it exceeds first.
    add("CVaR 95 % [1 day]", None, "portfolio", float(metrics.cvar_95), None)
    rows[-1].update(limit=risk.var_limit, utilisation=float(metrics.cvar_95) / risk.var_limit if risk.var_limit > 0
                    else math.inf, status="above VaR limit" if metrics.cvar_95 > risk.var_limit else "ok")  # fmt: skip
    add("Current drawdown", "max_drawdown", "portfolio", float(metrics.current_drawdown), risk.max_drawdown)
    add("Gross leverage [×]", "max_leverage", "portfolio", float(metrics.current_leverage), risk.max_leverage)
    largest = metrics.largest_position or "—"
    add("Largest position", "max_position_weight", largest, float(metrics.largest_weight), risk.max_position_weight)
    if len(groups):
        add("Largest group", "max_group_weight", top_group, float(groups.max()), risk.max_group_weight)
    add("Herfindahl (concentration)", None, "portfolio", float(metrics.herfindahl), None)
    add("Volatility [/yr]", None, "portfolio", float(metrics.volatility), None)
    table = pd.DataFrame(rows, columns=RISK_COLUMNS)
    var_ratio = float(metrics.var_95) / risk.var_limit if risk.var_limit > 0 else math.inf
    return RiskOverview(
        metrics=metrics,
        report=report,
        table=table,
        var_ratio=var_ratio,
        drawdown_source="equity curve" if curve is not None else "returns",
    )
