"""Validation shared by the covariance and expected-return estimators and the optimizers (private).

Every function raises :class:`~ravenshire.errors.ConfigError` for malformed input and
:class:`~ravenshire.errors.InfeasibleError` for input that is well formed but cannot give an estimate (a NaN-only
column, too few complete rows), with a message that says what to pass instead.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ravenshire.errors import ConfigError, InfeasibleError

FloatArray = npt.NDArray[np.float64]


def check_choice(name: str, value: Any, options: Sequence[str]) -> str:
    """``value`` if it is one of ``options``, else a ConfigError suggesting the closest option."""
    if isinstance(value, str) and value in options:
        return value
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown {name} {value!r}: use one of {', '.join(options)}{hint}")


def check_number(name: str, value: Any, *, positive: bool = False, nonnegative: bool = False) -> float:
    """``value`` as a finite float (optionally > 0 or ≥ 0), else a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    if positive and out <= 0.0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    if nonnegative and out < 0.0:
        raise ConfigError(f"{name} must be ≥ 0, got {value!r}")
    return out


def returns_matrix(returns: Any, *, min_rows: int = 2) -> tuple[FloatArray, list[Hashable]]:
    """The complete rows of a wide returns frame as a ``T × n`` float array, and its column labels.

    Rows with a NaN in any column are dropped (so every estimate uses the same dates for every asset); a column
    that is NaN on every row, ±inf anywhere, duplicate or missing column labels, or fewer than ``min_rows``
    complete rows is refused.
    """
    if not isinstance(returns, pd.DataFrame):
        raise ConfigError(
            "returns must be a pandas DataFrame (dates × symbols, simple returns per period), "
            f"got {type(returns).__name__}"
        )
    if returns.shape[1] == 0 or returns.shape[0] == 0:
        raise ConfigError(f"returns are empty (shape {returns.shape}); pass at least one symbol and two dates")
    symbols: list[Hashable] = list(returns.columns)
    if not returns.columns.is_unique:
        dup = sorted({str(s) for s in returns.columns[returns.columns.duplicated()]})
        raise ConfigError(f"returns have the column(s) {', '.join(dup)} more than once; one column per symbol")
    try:
        values = returns.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"returns must be numeric (simple returns per period): {exc}") from exc
    if np.isinf(values).any():
        row, col = (int(i) for i in np.argwhere(np.isinf(values))[0])
        raise ConfigError(
            f"returns of {symbols[col]!s} are ±inf at {returns.index[row]!s}; fix or drop that row before estimating"
        )
    nan = np.isnan(values)
    empty = nan.all(axis=0)
    if empty.any():
        names = ", ".join(str(s) for s, e in zip(symbols, empty, strict=True) if e)
        raise InfeasibleError(
            f"returns of {names} are NaN on every date: no estimate is possible; drop the symbol(s) or load their data"
        )
    complete = values[~nan.any(axis=1)]
    if complete.shape[0] < min_rows:
        raise InfeasibleError(
            f"returns have {complete.shape[0]} complete row(s) (dates where every symbol has a value) of "
            f"{values.shape[0]}; at least {min_rows} are needed — drop the symbols that start late or fill the gaps"
        )
    return np.ascontiguousarray(complete), symbols


def ewma_weights(n_rows: int, halflife: float) -> FloatArray:
    """Normalised exponential weights ``a_s = λ^(T−1−s) / Σ_u λ^(T−1−u)``, ``λ = 2^(−1/halflife)``, oldest first."""
    decay = 0.5 ** (1.0 / halflife)
    raw = decay ** np.arange(n_rows - 1, -1, -1, dtype=np.float64)
    return np.asarray(raw / raw.sum(), dtype=np.float64)


def align_series(values: Any, symbols: list[Hashable], name: str) -> FloatArray:
    """A finite float Series whose index is exactly ``symbols`` (in any order), as an array in ``symbols`` order."""
    if not isinstance(values, pd.Series):
        raise ConfigError(f"{name} must be a pandas Series indexed by symbol, got {type(values).__name__}")
    if not values.index.is_unique:
        dup = sorted({str(s) for s in values.index[values.index.duplicated()]})
        raise ConfigError(f"{name} list {', '.join(dup)} more than once; give one value per symbol")
    universe = pd.Index(symbols)
    if len(values.index) != len(universe) or not universe.isin(values.index).all():
        given, wanted = set(values.index), set(symbols)
        missing = [s for s in symbols if s not in given]
        extra = [s for s in values.index if s not in wanted]
        raise ConfigError(
            f"{name} must have one value per symbol of the universe: missing {[str(s) for s in missing]}, "
            f"unknown {[str(s) for s in extra]}; use `.reindex(returns.columns)` and fill what is missing"
        )
    try:
        arr = values.reindex(universe).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be numeric: {exc}") from exc
    if not np.isfinite(arr).all():
        bad = [str(s) for s, v in zip(symbols, arr, strict=True) if not math.isfinite(v)]
        raise ConfigError(f"{name} of {', '.join(bad)} are not finite (NaN or ±inf); give a number for every symbol")
    return np.asarray(arr, dtype=np.float64)
