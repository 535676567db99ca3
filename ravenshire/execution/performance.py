"""Performance of the execution ledger from its fills: FIFO lots, closed trades, positions and live metrics.

Pure functions over a DataFrame of fills (no database): :func:`fifo_lots` matches the fills into FIFO lots,
:func:`trade_statistics` summarises the closed trades, :func:`position_table` values the open lots at marks and
:func:`performance_metrics` gives the one-line state of the book (:class:`PerformanceMetrics`).

Conventions (repeated with the formula in each docstring)
-----------------------------------------------------------
- A FILL is a row with ``fill_id`` (int, increasing in time order), ``filled_at`` (tz-aware UTC; a tz-naive value is
  read as UTC), ``bar_date`` (tz-naive trading day; only :func:`performance_metrics` needs it), ``symbol``,
  ``side`` (``"BUY"`` / ``"SELL"``, case-insensitive), ``quantity`` (shares, > 0), ``price`` (per share, > 0,
  slippage included) and ``commission`` (currency, ≥ 0). Fills are processed in ``fill_id`` order, per symbol.
- SIGNED QUANTITY ``s = +quantity`` for a BUY, ``−quantity`` for a SELL; the POSITION is ``P = Σ s`` per symbol:
  long ``P > 0``, short ``P < 0``. A SELL when flat opens a short.
- FIFO: a fill against the position closes the OLDEST open lots first (partially consuming the last one). A fill that
  crosses zero (long 100, SELL 150) is split into a CLOSING part (100) and an OPENING part (a new 50-share short lot).
  A fill's commission is split pro rata by quantity: a part or piece of ``q`` shares of a fill of ``Q`` shares
  carries ``commission · q / Q``.
- P&L SIGNS: positive is a profit. A closed piece of ``q`` shares earns ``q · (exit − entry)`` for a long lot and
  ``q · (entry − exit)`` for a short one; an open lot is worth ``q · (mark − price) · (+1 long / −1 short)``.
- COMMISSIONS ARE EXPENSED WHEN PAID: ``realized_pnl = Σ gross P&L of the closed pieces − Σ every commission paid``,
  including the commissions of lots still open. So with ``cash = initial_cash − Σ_BUY q·p + Σ_SELL q·p −
  Σ commission`` and ``equity = cash + Σ P · mark``::

      realized_pnl + unrealized_pnl = equity − initial_cash        (exactly, up to rounding)

  A closed TRADE's ``net_pnl`` instead carries its own commissions (its opening share plus its closing pieces'
  shares), so trades compare with each other; ``Σ net_pnl`` equals ``realized_pnl`` only once every lot is closed.
- TIMES: ``opened_at`` / ``closed_at`` are the ``filled_at`` (UTC) of the opening / closing fill, so pieces and
  trades order exactly in time; the trading day is the fill's ``bar_date`` (look it up by fill id when needed).
- ``|quantity| < 1e-9`` (:data:`QTY_EPS`) is zero: a position within it is flat, a remainder within it is no lot.
- Every bad input raises :class:`~ravenshire.errors.ConfigError` with a message that says what to pass instead.

Why no loop over fills: per symbol, every fill is split into its closing and opening quantity from the position
before it (a grouped cumulative sum). Lot ``k`` then owns the interval ``[O_{k−1}, O_k)`` of the symbol's
cumulative OPENING quantity and closing part ``j`` the interval ``[C_{j−1}, C_j)`` of its cumulative CLOSING
quantity. Because a position returns to zero before it changes direction, ``C = O`` at the start of every
same-direction episode, so FIFO matching is the intersection of the two sets of intervals, found with a grouped
``searchsorted`` (one ``lexsort`` for all symbols at once). 100,000 fills over 500 symbols take ~0.15 s.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ravenshire.errors import ConfigError

__all__ = [
    "CLOSED_COLUMNS",
    "OPEN_LOT_COLUMNS",
    "POSITION_COLUMNS",
    "QTY_EPS",
    "TRADE_COLUMNS",
    "FifoResult",
    "PerformanceMetrics",
    "TradeStatistics",
    "fifo_lots",
    "performance_metrics",
    "position_table",
    "trade_statistics",
]

#: Quantities (shares) with an absolute value below this are zero.
QTY_EPS: float = 1e-9

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_FILL_COLUMNS: tuple[str, ...] = ("fill_id", "filled_at", "symbol", "side", "quantity", "price", "commission")
CLOSED_COLUMNS: tuple[str, ...] = (
    "symbol",
    "direction",
    "open_fill_id",
    "close_fill_id",
    "quantity",
    "entry_price",
    "exit_price",
    "opened_at",
    "closed_at",
    "gross_pnl",
)
OPEN_LOT_COLUMNS: tuple[str, ...] = ("symbol", "fill_id", "direction", "quantity", "price", "opened_at")
TRADE_COLUMNS: tuple[str, ...] = (
    "symbol",
    "direction",
    "open_fill_id",
    "close_fill_id",
    "quantity",
    "entry_price",
    "exit_price",
    "gross_pnl",
    "commission",
    "net_pnl",
    "opened_at",
    "closed_at",
)
POSITION_COLUMNS: tuple[str, ...] = (
    "quantity",
    "avg_cost",
    "cost_basis",
    "mark",
    "market_value",
    "unrealized_pnl",
    "realized_pnl",
)


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True, kw_only=True, eq=False)
class FifoResult:
    """The fills matched into FIFO lots (what :func:`fifo_lots` returns). Equality is identity.

    Attributes
    ----------
    closed : DataFrame
        One row per (opening lot, closing fill) match, in the order they were closed (``close_fill_id``, then
        ``open_fill_id``): ``symbol``, ``direction`` (``"long"``/``"short"``, the lot's), ``open_fill_id``,
        ``close_fill_id``, ``quantity`` (> 0), ``entry_price``, ``exit_price``, ``opened_at``, ``closed_at``
        (``filled_at``, UTC) and ``gross_pnl = q·(exit − entry)`` long, ``q·(entry − exit)`` short.
    open_lots : DataFrame
        The lots still open, per symbol oldest first: ``symbol``, ``fill_id``, ``direction``, ``quantity``
        (remaining, > 0), ``price`` (the opening fill's) and ``opened_at``.
    trades : DataFrame
        One row per FULLY closed lot, in the order they were completed: ``symbol``, ``direction``,
        ``open_fill_id``, ``close_fill_id`` (of the last piece), ``quantity`` (the lot's), ``entry_price``,
        ``exit_price`` (quantity-weighted over the pieces), ``gross_pnl`` (Σ pieces), ``commission`` (the opening
        fill's pro rata to the lot + each closing fill's pro rata to its piece), ``net_pnl = gross_pnl −
        commission``, ``opened_at`` and ``closed_at`` (the last piece's).
    realized_pnl : float
        ``Σ gross_pnl of closed − Σ every commission paid`` (commissions are expensed when paid).
    realized_by_symbol : Series
        The same per symbol (every symbol with a fill), indexed by ``symbol``, named ``realized_pnl``.
    """

    closed: pd.DataFrame
    open_lots: pd.DataFrame
    trades: pd.DataFrame
    realized_pnl: float
    realized_by_symbol: pd.Series


@dataclass(frozen=True, kw_only=True)
class TradeStatistics:
    """Summary of closed trades (what :func:`trade_statistics` returns), on their ``net_pnl``.

    ``average_loss`` and ``largest_loss`` are NEGATIVE numbers (the ``net_pnl`` of the losers; ``largest_loss`` is
    the most negative). A figure with no trade to measure is NaN; ``profit_factor`` is ``inf`` with wins and no
    losses.
    """

    n_closed_trades: int
    n_winners: int
    n_losers: int
    win_rate: float
    profit_factor: float
    average_win: float
    average_loss: float
    largest_win: float
    largest_loss: float
    expectancy: float

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-safe values: NaN → None, ±inf → ``"inf"`` / ``"-inf"``."""
        return {f.name: _json_value(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class PerformanceMetrics:
    """State of the book at ``as_of`` (what :func:`performance_metrics` returns).

    Money is in the account's currency; ``gross_exposure``, ``net_exposure``, ``turnover`` and ``current_drawdown``
    are fractions of equity (``0.15`` = 15 %), drawdown POSITIVE. ``short_value`` is ≤ 0. ``n_trades`` counts
    fills, ``n_closed_trades`` fully closed lots. Figures that divide by equity are NaN when equity ≤ 0; the
    trade statistics are NaN without a closed trade (``profit_factor`` is ``inf`` with wins and no losses).
    """

    as_of: pd.Timestamp
    equity: float
    cash: float
    long_value: float
    short_value: float
    gross_exposure: float
    net_exposure: float
    realized_pnl: float
    unrealized_pnl: float
    total_pnl: float
    daily_pnl: float
    win_rate: float
    profit_factor: float
    n_trades: int
    n_closed_trades: int
    turnover: float
    traded_value: float
    commissions: float
    peak_equity: float
    current_drawdown: float
    n_positions: int

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-safe values: NaN → None, ±inf → ``"inf"`` / ``"-inf"``, ``as_of`` → ISO date."""
        return {f.name: _json_value(getattr(self, f.name)) for f in fields(self)}


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):  # pd.Timestamp is a datetime
        return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, bool | int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    return value


# ------------------------------------------------------------------------------------------------ validation


@dataclass(frozen=True)
class _Fills:
    """Validated fills sorted by (symbol, fill_id), as arrays."""

    symbols: pd.Index  # sorted distinct symbols; ``code`` indexes it
    code: IntArray
    fill_id: npt.NDArray[np.int64]
    filled_at: pd.DatetimeIndex
    signed: FloatArray  # +quantity BUY, −quantity SELL
    price: FloatArray
    commission: FloatArray
    order: IntArray  # positions of these rows in the caller's frame


def _require_columns(fills: Any, columns: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(fills, pd.DataFrame):
        raise ConfigError(f"fills must be a DataFrame with columns {', '.join(columns)}, got {type(fills).__name__}")
    missing = [c for c in columns if c not in fills.columns]
    if missing:
        raise ConfigError(f"fills lack the column(s) {', '.join(missing)}; a fill needs {', '.join(columns)}")
    return fills


def _numeric(fills: pd.DataFrame, name: str, *, allow_zero: bool) -> FloatArray:
    try:
        values = pd.to_numeric(fills[name]).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"fills' {name} must be numeric: {exc}") from exc
    bad = ~np.isfinite(values) | (values < 0 if allow_zero else values <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        limit = "≥ 0" if allow_zero else "> 0"
        raise ConfigError(
            f"fills' {name} must be finite and {limit}; fill {fills['fill_id'].iloc[i]!r} has {values[i]!r}"
        )
    return values


def _sides(fills: pd.DataFrame) -> FloatArray:
    side = fills["side"].astype(str).str.strip().str.upper()
    bad = ~side.isin(("BUY", "SELL"))
    if bad.any():
        shown = sorted({str(v) for v in fills["side"][bad.to_numpy()]})[:5]
        raise ConfigError(f"fills' side must be 'BUY' or 'SELL', got {', '.join(map(repr, shown))}")
    return np.where(side.to_numpy() == "BUY", 1.0, -1.0)


def _fill_ids(fills: pd.DataFrame) -> npt.NDArray[np.int64]:
    ids = fills["fill_id"]
    if ids.isna().any() or not pd.api.types.is_integer_dtype(ids.dtype):
        raise ConfigError(f"fills' fill_id must be integers with no missing value, got dtype {ids.dtype}")
    if not ids.is_unique:
        dup = ids[ids.duplicated()].iloc[0]
        raise ConfigError(f"fills list fill_id {dup!r} more than once; every fill needs its own id")
    return ids.to_numpy(dtype=np.int64)


def _prepare(fills: Any) -> _Fills:
    """Validate ``fills`` and sort them by (symbol, fill_id)."""
    frame = _require_columns(fills, _FILL_COLUMNS)
    fill_id = _fill_ids(frame)
    if frame["symbol"].isna().any():
        raise ConfigError("fills have a missing symbol; every fill needs the symbol it traded")
    try:
        filled_at = pd.DatetimeIndex(pd.to_datetime(frame["filled_at"], utc=True))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"fills' filled_at must be timestamps (UTC): {exc}") from exc
    signed = _sides(frame) * _numeric(frame, "quantity", allow_zero=False)
    price = _numeric(frame, "price", allow_zero=False)
    commission = _numeric(frame, "commission", allow_zero=True)
    code_raw, symbols = pd.factorize(frame["symbol"].astype(str), sort=True)
    order = np.lexsort((fill_id, code_raw)).astype(np.intp)
    return _Fills(
        symbols=pd.Index(symbols, name="symbol"),
        code=code_raw[order].astype(np.intp),
        fill_id=fill_id[order],
        filled_at=filled_at[order],
        signed=signed[order],
        price=price[order],
        commission=commission[order],
        order=order,
    )


# ------------------------------------------------------------------------------------------------ FIFO core


def _group_first(code: IntArray) -> npt.NDArray[np.bool_]:
    """True at the first row of each symbol (rows sorted by symbol)."""
    first = np.ones(code.shape, dtype=bool)
    first[1:] = code[1:] != code[:-1]
    return first


def _group_cumsum(x: FloatArray, code: IntArray) -> FloatArray:
    """Cumulative sum (of each column of ``x``) restarting at each symbol.

    Summed per symbol, not as a global cumsum minus the symbol's offset, whose rounding grows with the WHOLE
    ledger's volume (1e8 shares → 1e-8) and would break the 1e-9 share tolerance.
    """
    frame = pd.DataFrame(x) if x.ndim == 2 else pd.Series(x)
    return np.asarray(frame.groupby(code, sort=False).cumsum(), dtype=np.float64)


def _group_previous(x: FloatArray, code: IntArray) -> FloatArray:
    """``x`` of the previous row of the same symbol, 0 at each symbol's first row."""
    out = np.zeros_like(x)
    out[1:] = x[:-1]
    out[_group_first(code)] = 0.0
    return out


def _split(signed: FloatArray, code: IntArray) -> tuple[FloatArray, FloatArray]:
    """Opening and closing quantity of every fill (both ≥ 0, summing to ``|s|``).

    With ``P⁻`` the position before the fill (``|P⁻| < QTY_EPS`` is flat): ``closing = min(|s|, |P⁻|)`` when the fill
    is against the position (``sign(s) ≠ sign(P⁻)``, ``P⁻ ≠ 0``), else 0; ``opening = |s| − closing``.
    """
    before = _group_previous(_group_cumsum(signed, code), code)
    before[np.abs(before) < QTY_EPS] = 0.0
    size = np.abs(signed)
    against = (before != 0.0) & (np.sign(before) != np.sign(signed))
    closing = np.where(against, np.minimum(size, np.abs(before)), 0.0)
    return size - closing, closing


def _grouped_searchsorted(
    a_code: IntArray, a: FloatArray, q_code: IntArray, q: FloatArray, side: Literal["left", "right"]
) -> IntArray:
    """``np.searchsorted`` of each ``q`` within the block of ``a`` of the same code, as an index into ``a``.

    ``a`` must be sorted by (code, value). ``side="left"``: the first ``i`` of the block with ``a[i] ≥ q``;
    ``"right"``: the first with ``a[i] > q`` (the block's end when there is none). One ``lexsort`` of both.
    """
    n_a = a.size
    is_a = np.concatenate([np.ones(n_a, dtype=bool), np.zeros(q.size, dtype=bool)])
    tie = is_a if side == "left" else ~is_a  # on a tie, 0 sorts first
    order = np.lexsort((tie, np.concatenate([a, q]), np.concatenate([a_code, q_code])))
    sorted_is_a = is_a[order]
    a_before = np.cumsum(sorted_is_a) - sorted_is_a
    out = np.empty(q.size, dtype=np.intp)
    out[order[~sorted_is_a] - n_a] = a_before[~sorted_is_a]
    return out


@dataclass(frozen=True)
class _Intervals:
    """Lots (``o``) or closing parts (``c``): rows of :class:`_Fills`, symbol code, interval ``[start, end)``, size."""

    row: IntArray
    code: IntArray
    start: FloatArray
    end: FloatArray
    size: FloatArray


def _intervals(opening: FloatArray, closing: FloatArray, code: IntArray) -> tuple[_Intervals, _Intervals]:
    """The lots (opening parts) and closing parts of ``QTY_EPS`` shares or more, on their symbol's cumulative axes."""
    ends = _group_cumsum(np.column_stack([opening, closing]), code)
    out = []
    for quantity, end in ((opening, ends[:, 0]), (closing, ends[:, 1])):
        start = _group_previous(end, code)
        row = np.flatnonzero(quantity >= QTY_EPS).astype(np.intp)
        out.append(_Intervals(row=row, code=code[row], start=start[row], end=end[row], size=quantity[row]))
    return out[0], out[1]


def _match(lots: _Intervals, closes: _Intervals) -> tuple[IntArray, IntArray, FloatArray]:
    """FIFO pieces as (lot index, closing index, quantity): the intersections of the two sets of intervals.

    Closing part ``j`` meets lots ``first..last``: ``first`` the first lot of its symbol with ``O_k > C_{j−1} + ε``,
    ``last`` the first with ``O_k ≥ C_j − ε``. A piece's quantity is ``min(O_k, C_j) − max(O_{k−1}, C_{j−1})``
    (the exact lot / part size when one interval holds the other); pieces below ``QTY_EPS`` are dropped.
    """
    block_lo = np.searchsorted(lots.code, closes.code, side="left").astype(np.intp)
    block_hi = np.searchsorted(lots.code, closes.code, side="right").astype(np.intp) - 1
    first = _grouped_searchsorted(lots.code, lots.end, closes.code, closes.start + QTY_EPS, "right")
    last = _grouped_searchsorted(lots.code, lots.end, closes.code, closes.end - QTY_EPS, "left")
    first = np.minimum(np.maximum(first, block_lo), block_hi)
    last = np.minimum(np.maximum(last, first), block_hi)
    counts = np.where(block_hi >= block_lo, last - first + 1, 0)
    close_ix = np.repeat(np.arange(closes.row.size, dtype=np.intp), counts)
    offsets = np.arange(close_ix.size, dtype=np.intp) - np.repeat(np.cumsum(counts) - counts, counts)
    lot_ix = np.repeat(first, counts) + offsets
    l_start, l_end = lots.start[lot_ix], lots.end[lot_ix]
    c_start, c_end = closes.start[close_ix], closes.end[close_ix]
    qty = np.minimum(l_end, c_end) - np.maximum(l_start, c_start)
    qty = np.where((l_start >= c_start) & (l_end <= c_end), lots.size[lot_ix], qty)
    qty = np.where((c_start >= l_start) & (c_end <= l_end), closes.size[close_ix], qty)
    keep = qty >= QTY_EPS
    return lot_ix[keep], close_ix[keep], qty[keep]


def _remaining(lots: _Intervals, closing_total: FloatArray) -> FloatArray:
    """Open quantity of every lot: ``O_k − max(O_{k−1}, C_total)`` (the whole lot when untouched), ≥ 0."""
    total = closing_total[lots.code]
    left = np.maximum(lots.end - np.maximum(lots.start, total), 0.0)
    return np.where(total <= lots.start, lots.size, left)


def _direction(sign: FloatArray) -> npt.NDArray[np.str_]:
    return np.where(sign > 0, "long", "short")


def fifo_lots(fills: pd.DataFrame) -> FifoResult:
    """Match the fills of a ledger into FIFO lots: closed pieces, open lots, closed trades and realized P&L.

    Per symbol, in ``fill_id`` order, with ``s`` the signed quantity (``+q`` BUY, ``−q`` SELL) and ``P⁻`` the
    position before the fill, a fill against the position closes ``min(|s|, |P⁻|)`` shares of the OLDEST open lots
    (partially consuming the last one) and opens a new lot with the rest (a fill crossing zero does both).

    - piece of ``q`` shares: ``gross_pnl = q·(exit − entry)`` long, ``q·(entry − exit)`` short;
    - trade (a fully closed lot): ``commission = c_open · q_lot / Q_open + Σ_pieces c_close · q_piece / Q_close``
      (``c`` a fill's commission, ``Q`` its quantity), ``net_pnl = Σ gross_pnl − commission``,
      ``exit_price = Σ q_piece·exit / Σ q_piece``;
    - ``realized_pnl = Σ gross_pnl − Σ commission of every fill`` (commissions expensed when paid), so that
      ``realized_pnl + unrealized_pnl = equity − initial_cash``.

    ``opened_at`` / ``closed_at`` are the fills' ``filled_at`` (UTC). Quantities below :data:`QTY_EPS` are zero.
    Vectorised over all fills and symbols (see the module docstring): no Python loop.

    Parameters
    ----------
    fills : DataFrame
        Columns ``fill_id``, ``filled_at``, ``symbol``, ``side``, ``quantity``, ``price``, ``commission`` (others
        are ignored), in any row order.

    Returns
    -------
    FifoResult
        ``closed``, ``open_lots``, ``trades``, ``realized_pnl`` and ``realized_by_symbol``; see :class:`FifoResult`
        for the columns.

    Raises
    ------
    ConfigError
        A missing column, a side other than BUY/SELL, a quantity or price not > 0, a negative commission, a
        missing or repeated fill id.
    """
    f = _prepare(fills)
    opening, closing = _split(f.signed, f.code)
    lots, closes = _intervals(opening, closing, f.code)
    lot_ix, close_ix, qty = _match(lots, closes)

    lot_rows, close_rows = lots.row[lot_ix], closes.row[close_ix]
    sign = np.sign(f.signed[lot_rows])
    gross = qty * (f.price[close_rows] - f.price[lot_rows]) * sign
    closed = pd.DataFrame(
        {
            "symbol": f.symbols.take(f.code[lot_rows]),
            "direction": _direction(sign),
            "open_fill_id": f.fill_id[lot_rows],
            "close_fill_id": f.fill_id[close_rows],
            "quantity": qty,
            "entry_price": f.price[lot_rows],
            "exit_price": f.price[close_rows],
            "opened_at": f.filled_at[lot_rows],
            "closed_at": f.filled_at[close_rows],
            "gross_pnl": gross,
        }
    )
    closed = closed.iloc[np.lexsort((closed["open_fill_id"], closed["close_fill_id"]))].reset_index(drop=True)

    closing_total = np.zeros(f.symbols.size)
    np.maximum.at(closing_total, closes.code, closes.end)  # a symbol's last (largest) cumulative closing
    remaining = _remaining(lots, closing_total)
    piece_commission = f.commission[close_rows] * qty / np.abs(f.signed[close_rows])
    trades = _trades(f, lots, remaining, lot_ix, close_rows, qty, gross, piece_commission)

    is_open = remaining >= QTY_EPS
    rows = lots.row[is_open]
    open_lots = pd.DataFrame(
        {
            "symbol": f.symbols.take(f.code[rows]),
            "fill_id": f.fill_id[rows],
            "direction": _direction(f.signed[rows]),
            "quantity": remaining[is_open],
            "price": f.price[rows],
            "opened_at": f.filled_at[rows],
        }
    )

    n_symbols = f.symbols.size
    by_symbol = np.bincount(f.code[lot_rows], weights=gross, minlength=n_symbols) - np.bincount(
        f.code, weights=f.commission, minlength=n_symbols
    )
    return FifoResult(
        closed=closed,
        open_lots=open_lots,
        trades=trades,
        realized_pnl=float(gross.sum() - f.commission.sum()),
        realized_by_symbol=pd.Series(by_symbol, index=f.symbols, name="realized_pnl", dtype=np.float64),
    )


def _trades(
    f: _Fills,
    lots: _Intervals,
    remaining: FloatArray,
    lot_ix: IntArray,
    close_rows: IntArray,
    qty: FloatArray,
    gross: FloatArray,
    piece_commission: FloatArray,
) -> pd.DataFrame:
    """One row per fully closed lot, aggregating its pieces with ``bincount`` (see :func:`fifo_lots`)."""
    n = lots.row.size
    piece_qty = np.bincount(lot_ix, weights=qty, minlength=n)
    exit_value = np.bincount(lot_ix, weights=qty * f.price[close_rows], minlength=n)
    lot_gross = np.bincount(lot_ix, weights=gross, minlength=n)
    close_commission = np.bincount(lot_ix, weights=piece_commission, minlength=n)
    last_close = np.full(n, -1, dtype=np.intp)
    np.maximum.at(last_close, lot_ix, close_rows)  # rows of one symbol are in fill_id order
    done = np.flatnonzero((remaining < QTY_EPS) & (last_close >= 0))
    rows, last = lots.row[done], last_close[done]
    commission = f.commission[rows] * lots.size[done] / np.abs(f.signed[rows]) + close_commission[done]
    trades = pd.DataFrame(
        {
            "symbol": f.symbols.take(f.code[rows]),
            "direction": _direction(f.signed[rows]),
            "open_fill_id": f.fill_id[rows],
            "close_fill_id": f.fill_id[last],
            "quantity": lots.size[done],
            "entry_price": f.price[rows],
            "exit_price": exit_value[done] / piece_qty[done],
            "gross_pnl": lot_gross[done],
            "commission": commission,
            "net_pnl": lot_gross[done] - commission,
            "opened_at": f.filled_at[rows],
            "closed_at": f.filled_at[last],
        }
    )
    return trades.iloc[np.lexsort((trades["open_fill_id"], trades["close_fill_id"]))].reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ statistics


def trade_statistics(trades: pd.DataFrame) -> TradeStatistics:
    """Win rate, profit factor and the average / extreme trade, on the closed trades' ``net_pnl``.

    With ``W`` the trades with ``net_pnl > 0`` and ``L`` those with ``net_pnl < 0`` (a zero-P&L trade is in
    neither, but counts as a trade):

    - ``win_rate = |W| / n_closed_trades`` (NaN without trades);
    - ``profit_factor = Σ_W net_pnl / |Σ_L net_pnl|``: ``inf`` with wins and no losses, ``0`` with losses and no
      wins, NaN without trades or when every trade is zero;
    - ``average_win`` / ``largest_win`` over ``W`` and ``average_loss`` / ``largest_loss`` (negative; the most
      negative) over ``L``, NaN when empty; ``expectancy = mean(net_pnl)`` (NaN without trades).

    Parameters
    ----------
    trades : DataFrame
        At least the column ``net_pnl`` (``FifoResult.trades``).

    Raises
    ------
    ConfigError
        Not a DataFrame, no ``net_pnl`` column, or a non-finite ``net_pnl``.
    """
    if not isinstance(trades, pd.DataFrame) or "net_pnl" not in trades.columns:
        raise ConfigError("trades must be a DataFrame with a net_pnl column (the trades of fifo_lots(fills))")
    try:
        pnl = pd.to_numeric(trades["net_pnl"]).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"trades' net_pnl must be numeric: {exc}") from exc
    if not np.isfinite(pnl).all():
        raise ConfigError("trades' net_pnl has a NaN or ±inf value; every closed trade has a finite P&L")
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    n = int(pnl.size)
    won, lost = float(wins.sum()), float(-losses.sum())
    profit_factor = won / lost if lost > 0 else (math.inf if won > 0 else math.nan)
    return TradeStatistics(
        n_closed_trades=n,
        n_winners=int(wins.size),
        n_losers=int(losses.size),
        win_rate=wins.size / n if n else math.nan,
        profit_factor=profit_factor,
        average_win=float(wins.mean()) if wins.size else math.nan,
        average_loss=float(losses.mean()) if losses.size else math.nan,
        largest_win=float(wins.max()) if wins.size else math.nan,
        largest_loss=float(losses.min()) if losses.size else math.nan,
        expectancy=float(pnl.mean()) if n else math.nan,
    )


# ------------------------------------------------------------------------------------------------ positions


def _marks_for(marks: Mapping[str, float] | pd.Series, symbols: pd.Index) -> FloatArray:
    """The mark of each of ``symbols``; ConfigError naming those without a finite price > 0."""
    if isinstance(marks, pd.Series):
        if not marks.index.is_unique:
            raise ConfigError("marks list a symbol more than once; give one price per symbol")
        table = marks
    elif isinstance(marks, Mapping):
        table = pd.Series(dict(marks), dtype=object)
    else:
        raise ConfigError(f"marks must be a mapping or Series of symbol → price, got {type(marks).__name__}")
    table = pd.Series(pd.to_numeric(table, errors="coerce"), index=table.index.astype(str))
    values = table.reindex(symbols.astype(str)).to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        names = ", ".join(map(str, symbols[bad]))
        raise ConfigError(
            f"no price (mark) for the open position(s) in {names}; pass marks with a finite price > 0 for every "
            "symbol held"
        )
    return values


def _positions(result: FifoResult, marks: Mapping[str, float] | pd.Series) -> pd.DataFrame:
    lots = result.open_lots
    if lots.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype=np.float64) for c in POSITION_COLUMNS}, index=pd.Index([], dtype=object, name="symbol")
        )
    sign = np.where(lots["direction"].to_numpy() == "long", 1.0, -1.0)
    qty = lots["quantity"].to_numpy(dtype=np.float64)
    price = lots["price"].to_numpy(dtype=np.float64)
    code, symbols = pd.factorize(lots["symbol"], sort=True)
    mark = _marks_for(marks, pd.Index(symbols))
    n = len(symbols)
    quantity = np.bincount(code, weights=sign * qty, minlength=n)
    cost_basis = np.bincount(code, weights=sign * qty * price, minlength=n)
    avg_cost = np.bincount(code, weights=qty * price, minlength=n) / np.bincount(code, weights=qty, minlength=n)
    unrealized = np.bincount(code, weights=qty * (mark[code] - price) * sign, minlength=n)
    index = pd.Index(symbols, name="symbol")
    return pd.DataFrame(
        {
            "quantity": quantity,
            "avg_cost": avg_cost,
            "cost_basis": cost_basis,
            "mark": mark,
            "market_value": quantity * mark,
            "unrealized_pnl": unrealized,
            "realized_pnl": result.realized_by_symbol.reindex(index).to_numpy(dtype=np.float64),
        },
        index=index,
    )


def position_table(fills: pd.DataFrame, marks: Mapping[str, float] | pd.Series) -> pd.DataFrame:
    """The open positions from the FIFO lots of ``fills``, valued at ``marks``, one row per symbol held.

    Indexed by ``symbol`` (sorted); columns, with ``q`` a lot's remaining shares, ``p`` its price, ``σ = +1`` long /
    ``−1`` short and ``m`` the mark:

    - ``quantity = Σ σ·q`` (signed: a short is negative; equals ``Σ`` signed fills);
    - ``avg_cost = Σ q·p / Σ q`` (a price, > 0); ``cost_basis = Σ σ·q·p`` (signed, like the quantity);
    - ``mark = m``; ``market_value = quantity · m`` (signed);
    - ``unrealized_pnl = Σ q·(m − p)·σ = market_value − cost_basis``;
    - ``realized_pnl``: the symbol's realized P&L, commissions of all its fills deducted (see :func:`fifo_lots`).

    Parameters
    ----------
    fills : DataFrame
        The ledger's fills (see :func:`fifo_lots`).
    marks : Mapping or Series
        Symbol → price. Symbols not held are ignored.

    Raises
    ------
    ConfigError
        Bad fills (see :func:`fifo_lots`), or a symbol held without a finite mark > 0 (the message names them).
    """
    return _positions(fifo_lots(fills), marks)


# ------------------------------------------------------------------------------------------------ metrics


def _check_as_of(as_of: Any) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(as_of)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"as_of must be the business date of the marks (e.g. '2024-06-28'), got {as_of!r}") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise ConfigError("as_of is missing (NaT); pass the business date of the marks")
    if ts.tzinfo is not None:
        raise ConfigError(f"as_of must be a tz-naive business date (e.g. '2024-06-28'), got {ts!r}")
    return ts.normalize()


def _check_money(value: Any, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name} must be a number (currency), got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0):
        raise ConfigError(f"{name} must be a finite number{' > 0' if positive else ''}, got {value!r}")
    return v


def _earlier_equity(snapshots: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.Series:
    """Stored equity of the days strictly before ``as_of``, oldest first (NaN dropped)."""
    if snapshots is None or len(snapshots) == 0:
        return pd.Series(dtype=np.float64)
    if not isinstance(snapshots, pd.DataFrame) or "equity" not in snapshots.columns:
        raise ConfigError("snapshots must be a DataFrame with an equity column, indexed by date")
    frame = snapshots.set_index("date") if "date" in snapshots.columns else snapshots
    try:
        dates = pd.DatetimeIndex(frame.index)
        equity = pd.to_numeric(frame["equity"]).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"snapshots must be indexed by date and hold a numeric equity: {exc}") from exc
    if dates.tz is not None:
        raise ConfigError("snapshots' dates must be tz-naive business dates")
    series = pd.Series(equity, index=dates.normalize()).dropna()
    return series[series.index < as_of].sort_index(kind="stable")


def _todays_traded_value(fills: pd.DataFrame, as_of: pd.Timestamp) -> float:
    if "bar_date" not in fills.columns:
        raise ConfigError("fills lack the column bar_date (the trading day of each fill), needed for turnover")
    try:
        bar_date = pd.DatetimeIndex(pd.to_datetime(fills["bar_date"]))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"fills' bar_date must be dates: {exc}") from exc
    if bar_date.tz is not None:
        raise ConfigError("fills' bar_date must be tz-naive trading days")
    today = np.asarray(bar_date.normalize() == as_of)
    value = fills["quantity"].to_numpy(dtype=np.float64) * fills["price"].to_numpy(dtype=np.float64)
    return float(np.abs(value[today]).sum())


def performance_metrics(
    fills: pd.DataFrame,
    *,
    cash: float,
    initial_cash: float,
    marks: Mapping[str, float] | pd.Series,
    snapshots: pd.DataFrame | None,
    as_of: pd.Timestamp | dt.date | str,
) -> PerformanceMetrics:
    """The state of the book at ``as_of``: equity, exposures, P&L, trade statistics, turnover and drawdown.

    With ``V_i`` the signed market value of each position (:func:`position_table`), ``E`` the equity and
    ``S_<`` the stored snapshot equities dated strictly before ``as_of``:

    - ``equity E = cash + Σ V_i``; ``long_value = Σ_{V>0} V_i``; ``short_value = Σ_{V<0} V_i`` (≤ 0);
    - ``gross_exposure = (long_value − short_value) / E``; ``net_exposure = (long_value + short_value) / E``;
    - ``realized_pnl``, ``unrealized_pnl`` as in :func:`fifo_lots` / :func:`position_table` (their sum is
      ``total_pnl`` when ``cash`` is the ledger's cash); ``total_pnl = E − initial_cash``;
    - ``daily_pnl = E − (the latest of S_<, else initial_cash)`` (no deposits or withdrawals assumed);
    - ``win_rate``, ``profit_factor``, ``n_closed_trades`` from :func:`trade_statistics`; ``n_trades`` = fills;
    - ``turnover = Σ |q·p| of the fills with bar_date == as_of / E``; ``traded_value = Σ |q·p|`` and
      ``commissions = Σ commission`` over all fills;
    - ``peak_equity = max(initial_cash, max S_<, E)``; ``current_drawdown = 1 − E / peak_equity`` (≥ 0).

    A snapshot dated ``as_of`` (or later) is ignored: today's equity is the one computed here. Dates are compared
    by calendar day. Figures divided by ``E`` are NaN when ``E ≤ 0``.

    Parameters
    ----------
    fills : DataFrame
        The ledger's fills (see :func:`fifo_lots`), with ``bar_date`` too.
    cash, initial_cash : float
        Cash now and at inception (``initial_cash > 0``).
    marks : Mapping or Series
        Symbol → price at ``as_of``, for at least every symbol held.
    snapshots : DataFrame or None
        Stored daily marks indexed by a tz-naive ``date`` (or with a ``date`` column), with a column ``equity``;
        may be empty or None.
    as_of : Timestamp, date or str
        The tz-naive business date of the marks.

    Raises
    ------
    ConfigError
        Bad fills, a symbol held without a mark, a non-finite cash, ``initial_cash ≤ 0``, a tz-aware ``as_of`` or
        malformed snapshots.
    """
    day = _check_as_of(as_of)
    cash_now = _check_money(cash, "cash")
    initial = _check_money(initial_cash, "initial_cash", positive=True)
    result = fifo_lots(fills)
    positions = _positions(result, marks)
    stats = trade_statistics(result.trades)
    value = positions["market_value"].to_numpy(dtype=np.float64)
    long_value, short_value = float(value[value > 0].sum()), float(value[value < 0].sum())
    equity = cash_now + long_value + short_value
    per_equity = 1.0 / equity if equity > 0 else math.nan
    earlier = _earlier_equity(snapshots, day)
    previous = float(earlier.iloc[-1]) if len(earlier) else initial
    peak = max(initial, float(earlier.max()) if len(earlier) else initial, equity)
    traded = fills["quantity"].to_numpy(dtype=np.float64) * fills["price"].to_numpy(dtype=np.float64)
    return PerformanceMetrics(
        as_of=day,
        equity=equity,
        cash=cash_now,
        long_value=long_value,
        short_value=short_value,
        gross_exposure=(long_value - short_value) * per_equity,
        net_exposure=(long_value + short_value) * per_equity,
        realized_pnl=result.realized_pnl,
        unrealized_pnl=float(positions["unrealized_pnl"].sum()),
        total_pnl=equity - initial,
        daily_pnl=equity - previous,
        win_rate=stats.win_rate,
        profit_factor=stats.profit_factor,
        n_trades=len(fills),
        n_closed_trades=stats.n_closed_trades,
        turnover=_todays_traded_value(fills, day) * per_equity,
        traded_value=float(np.abs(traded).sum()),
        commissions=float(fills["commission"].to_numpy(dtype=np.float64).sum()),
        peak_equity=peak,
        current_drawdown=max(0.0, 1.0 - equity / peak),
        n_positions=len(positions),
    )
