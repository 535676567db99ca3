"""Synthetic market data: the shipped default (demo) source, so Ravenshire runs offline.

:class:`SyntheticSource` simulates daily bars for any symbol from a regime-switching factor model with fat
tails and volatility clustering, plus a volatility index (:data:`VIX_SYMBOL`). It is **demo data**
(``is_demo = True``): the UI labels it as such and nothing falls back to it when a real source fails.

The model (t indexes the exchange's trading sessions from the epoch, i a symbol, k its sector)
-------------------------------------------------------------------------------------------------
Regimes. A Markov chain over ``s_t`` in {bull, bear, sideways, crisis}, simulated spell by spell: a spell
in regime s lasts ``L = min_spell(s) + G - 1`` sessions with
``G ~ Geometric(1 / (mean_spell(s) - min_spell(s) + 1))``, and the next regime is drawn from the row of
:data:`TRANSITIONS` for s (no self-transitions). Each regime sets an annual drift ``mu(s)``, an annual market
volatility ``sigma(s)``, a factor-loading multiplier ``lambda(s)`` (above 1 in crisis: correlations rise),
a sector-volatility multiplier ``c(s)``, an idiosyncratic-volatility multiplier ``iota(s)`` and a volume
multiplier ``nu(s)`` (:data:`REGIME_PARAMS`).

Market volatility clustering. The log-volatility deviation ``h_t`` is an AR(1) with a leverage term::

    h_t = phi h_{t-1} + omega (sqrt(1 - rho^2) z_t + rho e_{t-1}),    h_0 ~ N(0, sd_h^2)

with ``omega = sd_h sqrt(1 - phi^2)`` (computed with :func:`scipy.signal.lfilter`). The market's daily
volatility and log return are::

    sigma_t = sigma(s_t) / sqrt(252) * exp(h_t - sd_h^2)
    m_t     = mu(s_t) / 252 - sigma_t^2 / 2 + sigma_t e_t

where ``e_t`` and every other shock called ``e`` are Student-t with :data:`T_DF` degrees of freedom scaled to
unit variance (fat tails), clipped at 6 sds for the market and sectors and 10 sds for stocks so that one draw
cannot make a 30% market day. Eight sector factors::

    f_{k,t} = 0.10 / sqrt(252) * c(s_t) * exp(h_t - sd_h^2) * e_{k,t}

Stocks. Each symbol has hidden parameters (:meth:`SyntheticSource.profile`): sector k, beta ``b_i`` in
[0.5, 1.6], sector loading ``g_i`` in [0.5, 1.2], annual idiosyncratic volatility ``v_i`` in [0.15, 0.40], a
small annual alpha ``a_i``, a start price ``P_i`` in [20, 500] and a base volume. Its own log-volatility
deviation ``u_{i,t}`` is another AR(1) (persistence 0.94), and its daily log return is::

    d_{i,t} = v_i / sqrt(252) * iota(s_t) * exp(u_{i,t} - sd_u^2)
    r_{i,t} = a_i / 252 + lambda(s_t) (b_i m_t + g_i f_{k,t}) - d_{i,t}^2 / 2 + d_{i,t} e_{i,t}
    log C_{i,t} = log P_i + sum_{1 <= tau <= t} r_{i,tau}          (C_{i,0} = P_i on the epoch session)

Bars. With ``S_{i,t}`` the model's total daily volatility of ``r_{i,t}`` and ``z`` standard normals::

    open   = C_{t-1} exp(0.25 r_t + 0.2 S_t z1)                  (C_{-1} = C_0)
    high   = max(open, close) exp(0.5 S_t |z2|),   low = min(open, close) exp(-0.5 S_t |z3|)
    volume = round(V_i nu(s_t) exp(0.35 z4 - 0.06 + 0.4 (|r_t| / S_t - 0.8)))   (lognormal, more on big moves)

Prices are exponentials of a log-price, so they are always positive. There are no corporate actions:
``adj_close == close``.

Volatility index. ``log VIX_t = L_t + n_t`` with ``L_t = 0.8 L_{t-1} + 0.2 (log(100 (0.04 + sqrt(252)
sigma_t)) + J_t)``: an EWMA of the annualised expected market volatility in points plus a 4-point premium and
a jump ``J_t`` of +0.25 on entering a crisis that decays at 0.9 a day, with an AR(1) noise ``n_t``
(persistence 0.85, sd 0.06); typically 12 to 80 points, moving over days rather than overnight. Its OHLC
follows the same construction as a stock's with a daily sd of 0.04; its volume is NaN.

Determinism
-----------
The bar for (seed, symbol, session) does not depend on the range or on the other symbols requested: the
simulation always starts at ``epoch`` and every quantity has its own random stream,
``np.random.default_rng(np.random.SeedSequence([seed, k]))`` for the common paths (regimes, market, sectors,
VIX) and ``SeedSequence([seed, crc32(symbol), k, 1])`` for a symbol, with ``crc32`` of the UTF-8 bytes
(stable across processes, unlike :func:`hash`; the trailing 1 keeps symbol streams apart from common ones).
Streams are only ever read from their start, in the same order, so a longer simulation extends a shorter one
without changing it.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ravenshire.data.calendar import CALENDAR_START, DEFAULT_EXCHANGE, sessions, trading_calendar
from ravenshire.data.frames import FIELDS, empty_bars
from ravenshire.data.sources.base import FetchResult
from ravenshire.errors import ConfigError

__all__ = [
    "REGIMES",
    "REGIME_PARAMS",
    "SECTORS",
    "TRANSITIONS",
    "T_DF",
    "VIX_SYMBOL",
    "RegimeParams",
    "SyntheticSource",
]

#: The symbol under which the volatility index (a VIX stand-in) is delivered.
VIX_SYMBOL = "VIX"
#: Regime labels, in the order of the rows and columns of :data:`TRANSITIONS`.
REGIMES: tuple[str, ...] = ("bull", "bear", "sideways", "crisis")
#: Sector names; a symbol's sector is drawn uniformly from these.
SECTORS: tuple[str, ...] = (
    "Technology",
    "Financials",
    "Health Care",
    "Energy",
    "Industrials",
    "Consumer",
    "Utilities",
    "Materials",
)
#: Degrees of freedom of the Student-t shocks (scaled to unit variance; excess kurtosis 6).
T_DF = 5.0

TRADING_DAYS = 252


@dataclass(frozen=True)
class RegimeParams:
    """What a regime does to the simulated market (annualised figures, spell lengths in sessions)."""

    drift: float
    vol: float
    loading: float
    idio_mult: float
    sector_mult: float
    volume_mult: float
    mean_spell: float
    min_spell: int


#: Parameters per regime (drift/vol annualised; loading multiplies betas and sector loadings).
REGIME_PARAMS: dict[str, RegimeParams] = {
    "bull": RegimeParams(0.15, 0.14, 1.00, 1.00, 1.00, 1.00, mean_spell=450, min_spell=60),
    "bear": RegimeParams(-0.20, 0.25, 1.10, 1.25, 1.15, 1.20, mean_spell=80, min_spell=20),
    "sideways": RegimeParams(0.00, 0.12, 1.00, 0.95, 1.00, 0.95, mean_spell=120, min_spell=20),
    "crisis": RegimeParams(-0.60, 0.50, 1.15, 1.30, 1.20, 1.60, mean_spell=30, min_spell=10),
}
#: Probability of the next regime (columns) after a spell in a regime (rows), both in :data:`REGIMES` order.
TRANSITIONS = np.array(
    [
        [0.00, 0.30, 0.50, 0.20],  # bull
        [0.40, 0.00, 0.30, 0.30],  # bear
        [0.55, 0.25, 0.00, 0.20],  # sideways
        [0.40, 0.35, 0.25, 0.00],  # crisis
    ]
)
_INITIAL = np.array([0.50, 0.15, 0.30, 0.05])

# Market log-volatility AR(1): persistence, stationary sd, leverage correlation.
_VOL_PHI, _VOL_SD, _LEVERAGE = 0.97, 0.25, -0.4
# Idiosyncratic log-volatility AR(1).
_IDIO_PHI, _IDIO_SD = 0.94, 0.20
_SECTOR_VOL = 0.10
# Volatility index: premium (annualised vol points), noise AR(1), crisis jump and its decay.
_VIX_FLOOR, _VIX_PHI, _VIX_SD, _VIX_JUMP, _VIX_JUMP_DECAY = 0.04, 0.85, 0.06, 0.25, 0.90
#: Daily weight of the new level in the index's EWMA: expectations of volatility adjust over days.
_VIX_ADJUST = 0.2
# Bars: gap share of the day's move, gap noise, high/low extension, volume noise (all in units of daily sd).
_GAP_SHARE, _GAP_NOISE, _RANGE, _VOLUME_SD, _VOLUME_MOVE = 0.25, 0.20, 0.50, 0.35, 0.40

# Symbols simulated together: small enough for the arrays to stay in cache (about 3x faster than all at once).
_CHUNK = 32

# Stream ids: common (seed, k) and per symbol (seed, crc32(symbol), k, _SYMBOL_DOMAIN). SeedSequence pads its
# entropy with zeros, so the trailing non-zero word keeps every symbol stream apart from every common one.
_S_REGIME, _S_LOGVOL, _S_MARKET, _S_SECTOR, _S_VIX = 1, 2, 3, 4, 5
_S_PROFILE, _S_SHOCK, _S_NOISE = 0, 1, 2
_SYMBOL_DOMAIN = 1

_T_SCALE = np.sqrt((T_DF - 2.0) / T_DF)
# Standardised shocks are clipped (in sds) so one draw cannot make a 30% market day; stocks keep wider tails.
_FACTOR_CLIP, _IDIO_CLIP = 6.0, 10.0


def _param_array(attr: str) -> np.ndarray:
    return np.array([getattr(REGIME_PARAMS[r], attr) for r in REGIMES], dtype=float)


def _stream(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(key)))


def _symbol_stream(seed: int, symbol: str, kind: int) -> np.random.Generator:
    return _stream(seed, _symbol_key(symbol), kind, _SYMBOL_DOMAIN)


def _symbol_key(symbol: str) -> int:
    """Stable 32-bit hash of a symbol (crc32 of its UTF-8 bytes), the same in every process."""
    return zlib.crc32(symbol.encode("utf-8"))


def _ar1(innovations: np.ndarray, phi: float, sd: float) -> np.ndarray:
    """AR(1) ``x_t = phi x_{t-1} + omega z_t`` along the last axis, with ``x_0 = sd z_0`` (stationary start).

    ``innovations`` are standard normals ``z``; ``omega = sd sqrt(1 - phi^2)`` so the stationary sd is ``sd``.
    """
    x = innovations * (sd * np.sqrt(1.0 - phi * phi))
    x[..., 0] = innovations[..., 0] * sd
    return lfilter([1.0], [1.0, -phi], x, axis=-1)


def _student_t(rng: np.random.Generator, size: int | tuple[int, ...], clip: float) -> np.ndarray:
    """Student-t draws with :data:`T_DF` degrees of freedom, scaled to unit variance, clipped to ``±clip``."""
    return np.clip(rng.standard_t(T_DF, size) * _T_SCALE, -clip, clip)


def _as_day(value: Any, what: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be a date such as 2024-01-31, was {value!r}") from exc
    if pd.isna(stamp):
        raise ConfigError(f"{what} must be a date such as 2024-01-31, was {value!r}")
    return (stamp.tz_localize(None) if stamp.tzinfo else stamp).normalize()


def _ohlc(log_close: np.ndarray, returns: np.ndarray, daily_sd: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Open, high, low, close stacked on a new first axis, from log closes (time on the last axis).

    ``returns`` are the log returns, ``daily_sd`` the model's daily sd and ``noise`` three standard normals per
    bar on its first axis (gap, high, low).
    """
    prev = np.concatenate([log_close[..., :1], log_close[..., :-1]], axis=-1)
    log_open = prev + _GAP_SHARE * returns + _GAP_NOISE * daily_sd * noise[0]
    out = np.empty((4, *log_close.shape))
    open_, high, low, close = out
    np.exp(log_open, out=open_)
    np.exp(log_close, out=close)
    top, bottom = np.maximum(open_, close), np.minimum(open_, close)
    # exp(a + x) >= exp(a) for x >= 0; the max/min make it exact whatever the last bit of exp does.
    high[...] = np.maximum(top * np.exp(_RANGE * daily_sd * np.abs(noise[1])), top)
    low[...] = np.minimum(bottom * np.exp(-_RANGE * daily_sd * np.abs(noise[2])), bottom)
    return out


def _symbol_column(symbols: Sequence[str], n: int) -> pd.Series:
    """Each symbol repeated ``n`` times, as the ``str`` column of a bars frame (fast path through pyarrow)."""
    names = np.asarray(symbols, dtype=object)
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pandas without pyarrow stores str as Python objects
        return pd.Series(np.repeat(names, n), dtype="str")
    codes = np.repeat(np.arange(len(names)), n)
    return pd.Series(pc.take(pa.array(names, type=pa.large_string()), pa.array(codes)), dtype="str")


@dataclass(frozen=True)
class _Profile:
    sector: int
    beta: float
    sector_loading: float
    idio_vol: float
    alpha: float
    start_price: float
    base_volume: float


@dataclass(frozen=True)
class _Common:
    """The paths every symbol shares, over the first ``n`` sessions from the epoch (time on the last axis)."""

    state: np.ndarray  # (n,) regime index into REGIMES
    vol_scale: np.ndarray  # (n,) exp(h_t - sd_h^2)
    market: np.ndarray  # (n,) market log return m_t
    market_sd: np.ndarray  # (n,) sigma_t, daily
    sector: np.ndarray  # (n_sectors, n) sector factor returns f_{k,t}
    vix: np.ndarray  # (4, n) open, high, low, close of the volatility index

    def __len__(self) -> int:
        return len(self.state)

    def head(self, n: int) -> _Common:
        return _Common(
            self.state[:n],
            self.vol_scale[:n],
            self.market[:n],
            self.market_sd[:n],
            self.sector[:, :n],
            self.vix[:, :n],
        )


class SyntheticSource:
    """Demo market data from a regime-switching factor model (see the module docstring for the equations).

    Parameters
    ----------
    seed:
        Integer from 0 to 2**32 - 1; the same seed gives the same market, bar for bar.
    exchange:
        ISO MIC code of the trading calendar whose sessions carry bars (default XNYS).
    epoch:
        First day of the simulation. Every request is simulated from here, so a bar never depends on the
        requested range; a request starting before the epoch is answered from the epoch on.

    Notes
    -----
    No corporate actions are simulated: ``adj_close`` equals ``close``. The simulated common paths (regimes,
    market, sectors, volatility index) are cached in the instance up to the furthest session asked for. The
    cost of a request grows with the number of sessions from the epoch to ``end``, not from ``start``.

    Examples
    --------
    >>> src = SyntheticSource(seed=7)
    >>> result = src.fetch(["AAA", "BBB", "VIX"], dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    >>> result.bars.columns.tolist()
    ['symbol', 'date', 'open', 'high', 'low', 'close', 'adj_close', 'volume']
    """

    name = "synthetic"
    is_demo = True

    def __init__(self, seed: int = 7, exchange: str = DEFAULT_EXCHANGE, epoch: str | dt.date = "2000-01-03") -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
            raise ConfigError(f"seed must be an integer from 0 to 2**32 - 1, was {seed!r}")
        self.seed = int(seed)
        trading_calendar(exchange)  # raises ConfigError for an unknown exchange
        self.exchange = exchange
        epoch_day = _as_day(epoch, "epoch")
        if epoch_day < CALENDAR_START:
            raise ConfigError(
                f"epoch must be on or after {CALENDAR_START:%Y-%m-%d} (the calendars' first day), "
                f"was {epoch_day:%Y-%m-%d}"
            )
        self.epoch = epoch_day
        self._common: _Common | None = None
        self._profiles: dict[str, _Profile] = {}

    def __repr__(self) -> str:
        return f"SyntheticSource(seed={self.seed}, exchange={self.exchange!r}, epoch='{self.epoch:%Y-%m-%d}')"

    # ------------------------------------------------------------------ public API

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> FetchResult:
        """Daily bars for ``symbols`` on the exchange's sessions from ``max(start, epoch)`` to ``end``.

        Parameters
        ----------
        symbols:
            Any non-empty strings; each gets its own hidden parameters (:meth:`profile`). :data:`VIX_SYMBOL`
            is the volatility index. Duplicates are ignored.
        start, end:
            Inclusive bounds (dates, or anything :class:`pandas.Timestamp` reads). A ``start`` before the
            epoch is answered from the epoch.

        Returns
        -------
        FetchResult
            ``bars`` in the canonical long shape (sorted by symbol, date; ``adj_close == close``), ``regimes``
            the true regime label per returned session. If the range holds no session on or after the epoch,
            ``bars`` is empty and every symbol is in ``failed`` with the reason.

        Raises
        ------
        ConfigError
            No symbols, a symbol that is not a non-empty string, a bad date, or ``start`` after ``end``.
        """
        names = sorted(self._check_symbols(symbols))
        dates, first = self._window(start, end)
        if len(dates) == first:
            reason = (
                f"no {self.exchange} session between {max(_as_day(start, 'start'), self.epoch):%Y-%m-%d} and "
                f"{_as_day(end, 'end'):%Y-%m-%d} (the synthetic market starts on {self.epoch:%Y-%m-%d})"
            )
            return FetchResult(empty_bars(), dict.fromkeys(names, reason), self._regime_series(dates[:0], None))
        common = self._common_path(len(dates))
        stocks = [s for s in names if s != VIX_SYMBOL]
        block = np.empty((len(FIELDS), len(names), len(dates) - first))  # field × symbol × session
        rows = [i for i, s in enumerate(names) if s != VIX_SYMBOL]
        for lo in range(0, len(stocks), _CHUNK):  # chunks of symbols keep the working set in cache
            block[:, rows[lo : lo + _CHUNK]] = self._simulate_stocks(common, stocks[lo : lo + _CHUNK])[..., first:]
        if len(rows) < len(names):
            vix_row = names.index(VIX_SYMBOL)
            block[:4, vix_row] = common.vix[:, first:]
            block[4, vix_row] = common.vix[3, first:]
            block[5, vix_row] = np.nan
        bars = self._long_frame(names, dates[first:], block)
        return FetchResult(bars=bars, failed={}, regimes=self._regime_series(dates[first:], common.state[first:]))

    def regimes(self, start: dt.date, end: dt.date) -> pd.Series:
        """The true regime label per session from ``max(start, epoch)`` to ``end``.

        Returns a str Series indexed by a DatetimeIndex named "date", named "regime"; ``start > end`` raises
        :class:`~ravenshire.errors.ConfigError`.
        """
        dates, first = self._window(start, end)
        if len(dates) == first:
            return self._regime_series(dates[:0], None)
        return self._regime_series(dates[first:], self._common_path(len(dates)).state[first:])

    def profile(self, symbol: str) -> dict[str, Any]:
        """The hidden parameters of ``symbol``: sector, beta, sector loading, idio vol, alpha, start price.

        ``start_price`` is the close on the epoch's first session; ``idio_vol`` and ``alpha`` are annualised;
        ``base_volume`` is the typical daily volume in shares in a bull market.
        """
        (name,) = self._check_symbols([symbol])
        if name == VIX_SYMBOL:
            return {
                "symbol": name,
                "kind": "volatility_index",
                "premium_points": 100 * _VIX_FLOOR,
                "description": "100 x (annualised market vol + premium), with noise and crisis jumps",
            }
        p = self._profile(name)
        return {
            "symbol": name,
            "kind": "stock",
            "sector": SECTORS[p.sector],
            "beta": p.beta,
            "sector_loading": p.sector_loading,
            "idio_vol": p.idio_vol,
            "alpha": p.alpha,
            "start_price": p.start_price,
            "base_volume": p.base_volume,
            "hash": _symbol_key(name),
        }

    # ------------------------------------------------------------------ validation and dates

    @staticmethod
    def _check_symbols(symbols: Sequence[str]) -> list[str]:
        if isinstance(symbols, str):
            raise ConfigError(f"symbols must be a list of symbols such as [{symbols!r}], was the string {symbols!r}")
        names = list(dict.fromkeys(symbols))
        if not names:
            raise ConfigError("no symbols requested; pass at least one symbol, e.g. ['AAPL']")
        bad = [s for s in names if not isinstance(s, str) or not s or s.strip() != s]
        if bad:
            raise ConfigError(f"symbols must be non-empty strings without surrounding spaces, was {bad!r}")
        return names

    def _window(self, start: Any, end: Any) -> tuple[pd.DatetimeIndex, int]:
        """Sessions from the epoch to ``end`` and the position of the first one on or after ``start``."""
        first_day, last_day = _as_day(start, "start"), _as_day(end, "end")
        if first_day > last_day:
            raise ConfigError(f"start must not be after end, was start={first_day:%Y-%m-%d}, end={last_day:%Y-%m-%d}")
        dates = sessions(self.epoch, last_day, self.exchange)
        return dates, int(dates.searchsorted(first_day))

    @staticmethod
    def _regime_series(dates: pd.DatetimeIndex, state: np.ndarray | None) -> pd.Series:
        labels = np.asarray(REGIMES, dtype=object)[state] if state is not None else np.array([], dtype=object)
        return pd.Series(labels, index=pd.DatetimeIndex(dates, name="date"), name="regime", dtype="str")

    # ------------------------------------------------------------------ common paths

    def _common_path(self, n: int) -> _Common:
        """The shared paths over the first ``n`` sessions, from the cache when it is long enough."""
        if self._common is None or len(self._common) < n:
            self._common = self._simulate_common(n)
        return self._common if len(self._common) == n else self._common.head(n)

    def _simulate_regimes(self, n: int) -> np.ndarray:
        """Regime index per session, simulated spell by spell (a loop over spells, not bars)."""
        rng = _stream(self.seed, _S_REGIME)
        spells = [REGIME_PARAMS[r] for r in REGIMES]
        state = np.empty(n, dtype=np.intp)
        pos, current = 0, int(rng.choice(len(REGIMES), p=_INITIAL))
        while pos < n:
            p = spells[current]
            length = p.min_spell - 1 + int(rng.geometric(1.0 / (p.mean_spell - p.min_spell + 1.0)))
            state[pos : pos + length] = current
            pos += length
            current = int(rng.choice(len(REGIMES), p=TRANSITIONS[current]))
        return state

    def _simulate_common(self, n: int) -> _Common:
        state = self._simulate_regimes(n)
        shocks = _student_t(_stream(self.seed, _S_MARKET), n, _FACTOR_CLIP)
        z = _stream(self.seed, _S_LOGVOL).standard_normal(n)
        lagged = np.concatenate([[0.0], shocks[:-1]])
        innov = np.sqrt(1.0 - _LEVERAGE**2) * z + _LEVERAGE * lagged
        innov[0] = z[0]
        vol_scale = np.exp(_ar1(innov, _VOL_PHI, _VOL_SD) - _VOL_SD**2)
        market_sd = _param_array("vol")[state] / np.sqrt(TRADING_DAYS) * vol_scale
        market = _param_array("drift")[state] / TRADING_DAYS - 0.5 * market_sd**2 + market_sd * shocks
        sector_sd = _SECTOR_VOL / np.sqrt(TRADING_DAYS) * _param_array("sector_mult")[state] * vol_scale
        # Drawn time-major (row t holds every sector's shock) so a longer draw extends a shorter one.
        sector = sector_sd * _student_t(_stream(self.seed, _S_SECTOR), (n, len(SECTORS)), _FACTOR_CLIP).T
        return _Common(state, vol_scale, market, market_sd, sector, self._simulate_vix(state, market_sd))

    def _simulate_vix(self, state: np.ndarray, market_sd: np.ndarray) -> np.ndarray:
        """Volatility-index OHLC: annualised market vol in points, with premium, AR(1) noise, crisis jumps."""
        noise = _stream(self.seed, _S_VIX).standard_normal((len(state), 4)).T
        crisis = state == REGIMES.index("crisis")
        entries = crisis & ~np.concatenate([[False], crisis[:-1]])
        jump = lfilter([1.0], [1.0, -_VIX_JUMP_DECAY], _VIX_JUMP * entries.astype(float))
        target = np.log(100.0 * (_VIX_FLOOR + market_sd * np.sqrt(TRADING_DAYS))) + jump
        # An EWMA of the target (weight 0.2 a day): a regime change moves the index over days, as the real
        # VIX does, instead of tripling it overnight.
        start = [(1.0 - _VIX_ADJUST) * target[0]] if len(target) else [0.0]
        level, _ = lfilter([_VIX_ADJUST], [1.0, -(1.0 - _VIX_ADJUST)], target, zi=start)
        log_close = level + _ar1(noise[0], _VIX_PHI, _VIX_SD)
        returns = np.diff(log_close, prepend=log_close[0])
        return _ohlc(log_close, returns, np.full(len(state), 0.04), noise[1:])

    # ------------------------------------------------------------------ symbols

    def _profile(self, symbol: str) -> _Profile:
        cached = self._profiles.get(symbol)
        if cached is None:
            rng = _symbol_stream(self.seed, symbol, _S_PROFILE)
            cached = _Profile(
                sector=int(rng.integers(len(SECTORS))),
                beta=float(rng.uniform(0.5, 1.6)),
                sector_loading=float(rng.uniform(0.5, 1.2)),
                idio_vol=float(rng.uniform(0.15, 0.40)),
                alpha=float(rng.normal(0.0, 0.02)),
                start_price=round(float(np.exp(rng.uniform(np.log(20.0), np.log(500.0)))), 2),
                base_volume=float(np.round(np.exp(rng.normal(np.log(2e6), 0.8)))),
            )
            self._profiles[symbol] = cached
        return cached

    def _draw_symbol_shocks(self, symbols: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-symbol random draws: t shocks (symbol × session) and 5 normals (kind × symbol × session).

        The normals are drawn time-major from the symbol's stream (row t holds the five of session t) so that a
        longer simulation extends a shorter one; the only loop over symbols in the simulation.
        """
        shocks = np.empty((len(symbols), n))
        noise = np.empty((5, len(symbols), n))
        for j, symbol in enumerate(symbols):
            shocks[j] = _student_t(_symbol_stream(self.seed, symbol, _S_SHOCK), n, _IDIO_CLIP)
            noise[:, j] = _symbol_stream(self.seed, symbol, _S_NOISE).standard_normal((n, 5)).T
        return shocks, noise

    def _simulate_stocks(self, common: _Common, symbols: list[str]) -> np.ndarray:
        """Open, high, low, close, adj_close, volume as a (field × symbol × session) array from the epoch.

        Vectorised over symbols and sessions at once; see the module docstring for the equations.
        """
        n = len(common)
        profiles = [self._profile(s) for s in symbols]
        shocks, noise = self._draw_symbol_shocks(symbols, n)

        def param(attr: str) -> np.ndarray:
            return np.array([getattr(p, attr) for p in profiles], dtype=float)[:, None]

        def by_regime(attr: str) -> np.ndarray:
            return _param_array(attr)[common.state][None, :]

        loading, beta, gamma = by_regime("loading"), param("beta"), param("sector_loading")
        idio_scale = param("idio_vol") / np.sqrt(TRADING_DAYS) * by_regime("idio_mult")
        idio_sd = idio_scale * np.exp(_ar1(noise[0], _IDIO_PHI, _IDIO_SD) - _IDIO_SD**2)
        sector_factor = common.sector[[p.sector for p in profiles]]
        returns = (
            param("alpha") / TRADING_DAYS
            + loading * (beta * common.market[None, :] + gamma * sector_factor)
            - 0.5 * idio_sd**2
            + idio_sd * shocks
        )
        returns[:, 0] = 0.0  # the epoch's close is the start price
        log_close = np.log(param("start_price")) + np.cumsum(returns, axis=1)

        factor_sd = _SECTOR_VOL / np.sqrt(TRADING_DAYS) * by_regime("sector_mult") * common.vol_scale[None, :]
        systematic_var = (loading * beta * common.market_sd[None, :]) ** 2 + (loading * gamma * factor_sd) ** 2
        daily_sd = np.sqrt(systematic_var + idio_sd**2)

        out = np.empty((len(FIELDS), len(symbols), n))
        out[:4] = _ohlc(log_close, returns, daily_sd, noise[1:4])
        out[4] = out[3]
        move = np.abs(returns) / daily_sd
        log_volume = _VOLUME_SD * noise[4] - 0.5 * _VOLUME_SD**2 + _VOLUME_MOVE * (move - 0.8)
        volume = param("base_volume") * by_regime("volume_mult") * np.exp(log_volume)
        np.maximum(np.round(volume), 1.0, out=out[5])
        return out

    @staticmethod
    def _long_frame(symbols: list[str], dates: pd.DatetimeIndex, block: np.ndarray) -> pd.DataFrame:
        """Canonical long bars from a (field × symbol × session) block; ``symbols`` must be sorted."""
        n = len(dates)
        frame = pd.DataFrame(block.reshape(len(FIELDS), -1).T, columns=list(FIELDS), copy=False)
        frame.insert(0, "date", np.tile(dates.to_numpy(dtype="datetime64[ns]"), len(symbols)))
        frame.insert(0, "symbol", _symbol_column(symbols, n))
        return frame
