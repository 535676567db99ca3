"""Import a user's own daily bars from CSV or Parquet files.

:func:`read_bars_file` turns a file into canonical long bars (see :mod:`ravenshire.data.frames`) or raises
:class:`~ravenshire.errors.ImportFileError` with one sentence that names the file, what was wrong and what is
allowed. It returns all of the file or nothing. It does not judge the prices (positive, high ≥ low, gaps,
duplicate dates): the validator does that, the same way for every source.

Layouts
-------
**long**: one row per (symbol, date) with some of open, high, low, close, adj_close, volume; a file of one
symbol's bars without a symbol column (a Yahoo download: ``Date,Open,High,Low,Close,Adj Close,Volume``) needs
``symbol=``. **wide**: a date column plus one column per symbol, each holding one price field
(``wide_field``). **auto** picks long when there is a symbol column, or when ``symbol=`` is given and there
are OHLCV-named columns; a file with a close column, or two OHLCV-named columns, but neither is refused (pass
``symbol=``); anything else is wide. A wide file whose tickers look like field names ("CLOSE", or both "OPEN" and
"LOW") needs ``layout="wide"``.

Conventions
-----------
- Headers match ignoring case, spaces and punctuation: Date/Datetime/Timestamp, Symbol/Ticker, Open, High, Low,
  Close/Price, Adj Close/AdjClose/adj_close/Adjusted Close, Volume. ``column_map`` maps the file's own names to
  these targets and takes precedence: a target it names is not also matched automatically. Other columns of a
  long file are ignored.
- Dates: ISO 8601 (``2024-01-02``, ``2024-01-02 16:00``, ``20240102``) are read as such; other formats are
  inferred from the first value (``01/02/2024`` is then month first) and every value must follow it. A time of
  day or a UTC offset is dropped: the bar belongs to the calendar date written in the file.
- Numbers: plain decimals with a ``.`` point; empty, NA, N/A, NaN, null and None are missing values.
- When the file has ``close`` but no ``adj_close`` column (or the reverse), the one fills the other, the way
  a source without corporate actions reports them.
- Row numbers in messages count like a spreadsheet: for a CSV the header is row 1, so the first data row is
  row 2; a Parquet file has no header row, so its first row is row 1.
- Symbols are kept as written (stripped of surrounding spaces).
"""

from __future__ import annotations

import difflib
import io
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pandas as pd

from ravenshire.data.frames import FIELDS, normalize_bars
from ravenshire.errors import ImportFileError

__all__ = ["COLUMN_TARGETS", "read_bars_file"]

#: The names ``column_map`` may map a file's columns to.
COLUMN_TARGETS: tuple[str, ...] = ("date", "symbol", *FIELDS)

#: Header (lower case, letters and digits only) → target.
_ALIASES: Mapping[str, str] = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "symbol": "symbol",
    "ticker": "symbol",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "price": "close",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "volume": "volume",
}

_SUFFIXES: Mapping[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_FORMATS = ("csv", "parquet")
_LAYOUTS = ("auto", "long", "wide")
#: Cell texts read as a missing number (compared in lower case).
_MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "#n/a", "<na>", "nat"})
#: A time of day followed by a UTC offset: the offset is dropped, the wall-clock date kept.
_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|[+-]\d{2}:?\d{2})$")


@dataclass(frozen=True)
class _Table:
    """A file read into strings (CSV) or typed columns (Parquet), with how to number its rows."""

    label: str
    frame: pd.DataFrame
    first_row: int  # spreadsheet row number of the frame's row 0

    def fail(self, problem: str) -> ImportFileError:
        return ImportFileError(f"Cannot import {self.label}: {problem}")

    def row(self, position: int) -> int:
        """Spreadsheet row number of the frame's ``position``-th row (blank rows dropped keep their number)."""
        return int(self.frame.index[position]) + self.first_row


def read_bars_file(
    source: str | Path | IO[bytes],
    *,
    fmt: Literal["csv", "parquet"] | None = None,
    layout: Literal["auto", "long", "wide"] = "auto",
    column_map: Mapping[str, str] | None = None,
    symbol: str | None = None,
    wide_field: str = "close",
    name: str | None = None,
) -> pd.DataFrame:
    """Read a CSV or Parquet file of daily bars into canonical long bars.

    Parameters
    ----------
    source:
        A path, or a binary file-like object (an open file, ``io.BytesIO``, a Streamlit upload).
    fmt:
        ``"csv"`` or ``"parquet"``; by default from the file name's suffix (.csv, .parquet, .pq).
    layout:
        ``"long"``, ``"wide"`` or ``"auto"`` (see the module docstring).
    column_map:
        The file's column name → target (one of :data:`COLUMN_TARGETS`), e.g.
        ``{"Px_Last": "close", "Ticker": "symbol"}``.
    symbol:
        The symbol of a long file of one symbol's bars that has no symbol column.
    wide_field:
        The field a wide file's columns hold (default ``"close"``; close and adj_close fill each other).
    name:
        The file name of a buffer (for the format and for messages), e.g. an upload's ``.name``.

    Returns
    -------
    pandas.DataFrame
        Long bars: symbol, date (datetime64[ns], midnight), open, high, low, close, adj_close, volume
        (float64, NaN where the file has no value), sorted by (symbol, date).

    Raises
    ------
    ImportFileError
        Missing, unreadable, corrupt or empty file; unknown extension; no or duplicate date/price columns;
        unparseable dates or numbers (with column, row and value); a long file without symbols; bad arguments.
    """
    label = _label(source, name)
    _check_arguments(label, layout, wide_field, symbol)
    kind = _format(source, fmt, name, label)
    raw = _read_bytes(source, label)
    table = _read_csv(raw, label) if kind == "csv" else _read_parquet(raw, label)
    columns = _match_columns(table, column_map)
    chosen = _layout(table, columns, layout, symbol)
    bars = _long_bars(table, columns, symbol) if chosen == "long" else _wide_bars(table, columns, symbol, wide_field)
    return normalize_bars(_fill_close_pair(bars))


# -- arguments and the raw file --------------------------------------------------------------------------


def _label(source: object, name: str | None) -> str:
    """How messages name the file: 'prices.csv' (quoted)."""
    if name:
        return f"'{name}'"
    if isinstance(source, str | Path):
        return f"'{source}'"
    attr = getattr(source, "name", None)
    return f"'{attr}'" if isinstance(attr, str) and attr else "the uploaded file"


def _check_arguments(label: str, layout: str, wide_field: str, symbol: str | None) -> None:
    """Refuse a bad layout, wide_field or symbol before touching the file."""
    if layout not in _LAYOUTS:
        raise ImportFileError(f"Cannot import {label}: layout must be one of {_LAYOUTS}, was {layout!r}.")
    if wide_field not in FIELDS:
        hint = _did_you_mean(wide_field, FIELDS)
        raise ImportFileError(f"Cannot import {label}: wide_field must be one of {FIELDS}, was {wide_field!r}{hint}.")
    if symbol is not None and (not isinstance(symbol, str) or not symbol.strip()):
        raise ImportFileError(f"Cannot import {label}: symbol must be a non-empty text, was {symbol!r}.")


def _format(source: object, fmt: str | None, name: str | None, label: str) -> str:
    """``fmt`` if given, else from the suffix of ``name``, the path or the buffer's ``.name``."""
    if fmt is not None:
        if fmt not in _FORMATS:
            raise ImportFileError(f"Cannot import {label}: fmt must be 'csv' or 'parquet', was {fmt!r}.")
        return fmt
    file_name = name or (str(source) if isinstance(source, str | Path) else getattr(source, "name", None))
    suffix = Path(str(file_name)).suffix.lower() if file_name else ""
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    found = f"unknown file type {suffix!r}" if suffix else "no file extension to tell its type"
    raise ImportFileError(
        f"Cannot import {label}: {found}; allowed: {', '.join(_SUFFIXES)} (or pass fmt='csv' or fmt='parquet')."
    )


def _read_bytes(source: str | Path | IO[bytes], label: str) -> bytes:
    """All bytes of the file or buffer; refuses a missing, unreadable or empty one."""
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise ImportFileError(f"Cannot import {label}: the file does not exist.")
        if path.is_dir():
            raise ImportFileError(f"Cannot import {label}: it is a folder, not a file.")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ImportFileError(f"Cannot import {label}: the file cannot be read ({exc}).") from exc
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read()
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    else:
        raise ImportFileError(
            f"Cannot import {label}: expected a path or a binary file object, was {type(source).__name__}."
        )
    if not raw.strip():
        raise ImportFileError(f"Cannot import {label}: the file is empty.")
    return raw


def _read_csv(raw: bytes, label: str) -> _Table:
    """Every cell as text, header names stripped, blank lines dropped (row numbers kept)."""
    if b"\x00" in raw[:4096]:
        raise ImportFileError(
            f"Cannot import {label}: it is not a text CSV file (binary content); save it as CSV or read it with "
            "fmt='parquet' if it is a Parquet file."
        )
    text = _decode(raw, label)
    header = text.lstrip("\r\n").split("\n", 1)[0]
    sep = max((",", ";", "\t"), key=header.count)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False, skipinitialspace=True
        )
    except pd.errors.EmptyDataError as exc:
        raise ImportFileError(f"Cannot import {label}: the file is empty.") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise ImportFileError(f"Cannot import {label}: it is not a readable CSV file ({_first_line(exc)}).") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return _Table(label, _drop_blank(frame, label), first_row=2)


def _decode(raw: bytes, label: str) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 (Excel's export on Windows)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(f"Cannot import {label}: it is not UTF-8 or Windows-1252 text; save it as UTF-8 CSV.")


def _read_parquet(raw: bytes, label: str) -> _Table:
    """The Parquet table; a named or datetime index becomes a column."""
    try:
        frame = pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises its own classes (ArrowInvalid, OSError, ...) for a bad file
        raise ImportFileError(
            f"Cannot import {label}: it is not a readable Parquet file ({_first_line(exc)})."
        ) from exc
    if isinstance(frame.columns, pd.MultiIndex):
        raise ImportFileError(
            f"Cannot import {label}: it has multi-level column headers; save it with one header level "
            "(long: symbol, date, close, ...; wide: date plus one column per symbol)."
        )
    if frame.index.name is not None or isinstance(frame.index, pd.DatetimeIndex | pd.MultiIndex):
        frame = frame.reset_index()
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    return _Table(label, _drop_blank(frame, label), first_row=1)


def _drop_blank(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Drop entirely empty rows and header-less empty columns; refuse a file without data rows."""
    blank = frame.isna()
    for column in frame.columns:
        if pd.api.types.is_string_dtype(frame[column]):
            blank[column] = blank[column] | (frame[column] == "")
    frame = frame.loc[~blank.all(axis=1)]
    unnamed = [c for c in frame.columns if c.startswith("Unnamed: ") and blank.loc[frame.index, c].all()]
    frame = frame.drop(columns=unnamed)
    if frame.empty or frame.shape[1] == 0:
        raise ImportFileError(f"Cannot import {label}: the file has no data rows.")
    return frame


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- columns ---------------------------------------------------------------------------------------------


def _key(name: object) -> str:
    """Header as compared: lower case, letters and digits only ("Adj Close" → "adjclose")."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _did_you_mean(value: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(str(value), list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass
class _Columns:
    """The file's columns per target: chosen by ``column_map``, or matched by name (possibly twice)."""

    table: _Table
    explicit: dict[str, str] = field(default_factory=dict)
    matched: dict[str, list[str]] = field(default_factory=dict)

    def has(self, target: str) -> bool:
        return target in self.explicit or target in self.matched

    def get(self, target: str) -> str | None:
        """The column for ``target``; refuses two columns that both look like it."""
        if target in self.explicit:
            return self.explicit[target]
        found = self.matched.get(target, [])
        if len(found) > 1:
            names = " and ".join(repr(c) for c in found)
            raise self.table.fail(
                f"columns {names} both mean {target!r}; keep one, or say which with "
                f"column_map={{{found[0]!r}: {target!r}}}."
            )
        return found[0] if found else None

    def found(self) -> str:
        return ", ".join(repr(c) for c in self.table.frame.columns)


def _match_columns(table: _Table, column_map: Mapping[str, str] | None) -> _Columns:
    """Apply ``column_map``, then match the remaining headers by their usual names."""
    columns = _Columns(table)
    for source_name, target_name in (column_map or {}).items():
        column = _find_column(table, columns, source_name)
        target = _target(table, target_name)
        if target in columns.explicit:
            raise table.fail(
                f"column_map maps both {columns.explicit[target]!r} and {column!r} to {target!r}; map one column "
                "to each target."
            )
        columns.explicit[target] = column
    used = set(columns.explicit.values())
    for column in table.frame.columns:
        alias = _ALIASES.get(_key(column))
        if column not in used and alias is not None and alias not in columns.explicit:
            columns.matched.setdefault(alias, []).append(column)
    return columns


def _find_column(table: _Table, columns: _Columns, source_name: str) -> str:
    """The file's column named ``source_name`` (exactly, else ignoring case and punctuation)."""
    names = list(table.frame.columns)
    if source_name in names:
        return source_name
    loose = [c for c in names if _key(c) == _key(source_name)]
    if len(loose) == 1:
        return loose[0]
    raise table.fail(
        f"column_map names column {source_name!r}, which is not in the file{_did_you_mean(source_name, names)}; "
        f"columns found: {columns.found()}."
    )


def _target(table: _Table, target_name: str) -> str:
    """A column_map target: one of COLUMN_TARGETS, or a usual header for one ("Adj Close", "Ticker")."""
    if target_name in COLUMN_TARGETS:
        return target_name
    target = _ALIASES.get(_key(target_name))
    if target is None:
        raise table.fail(
            f"column_map target {target_name!r} is unknown{_did_you_mean(target_name, COLUMN_TARGETS)}; allowed "
            f"targets: {', '.join(COLUMN_TARGETS)}."
        )
    return target


def _layout(table: _Table, columns: _Columns, layout: str, symbol: str | None) -> str:
    """Resolve ``"auto"`` to long or wide (see the module docstring)."""
    if layout != "auto":
        return layout
    if columns.has("symbol") or (symbol is not None and any(columns.has(f) for f in FIELDS)):
        return "long"
    named = [f for f in FIELDS if columns.has(f)]
    # One column named like a field can be a ticker in a wide file (Lowe's is LOW); a close column, or two
    # field-named columns, make it one symbol's bars.
    if "close" in named or "adj_close" in named or len(named) >= 2:
        found = ", ".join(repr(columns.get(f)) for f in named)
        raise table.fail(
            f"it has bar columns ({found}) but no symbol column, so it reads as one symbol's bars; pass "
            "symbol='...' or add a Symbol column (or pass layout='wide' if each column is a symbol)."
        )
    return "wide"


# -- long and wide ---------------------------------------------------------------------------------------


def _long_bars(table: _Table, columns: _Columns, symbol: str | None) -> pd.DataFrame:
    """One row per (symbol, date) row of the file."""
    symbol_column = columns.get("symbol")
    if symbol_column is not None and symbol is not None:
        raise table.fail(
            f"it has a symbol column ({symbol_column!r}) and symbol={symbol!r} was also given; symbol= is only "
            "for a file without one."
        )
    if symbol_column is None and symbol is None:
        raise table.fail(
            f"a long file needs a symbol column (Symbol or Ticker) or symbol='...' for one symbol's bars; "
            f"columns found: {columns.found()}."
        )
    dates = _dates(table, _date_column(table, columns))
    out = pd.DataFrame({"date": dates}, index=table.frame.index)
    out["symbol"] = _symbols(table, symbol_column) if symbol_column is not None else str(symbol).strip()
    for name in FIELDS:
        column = columns.get(name)
        if column is not None:
            out[name] = _numbers(table, column)
    if "close" not in out.columns and "adj_close" not in out.columns:
        raise table.fail(
            f"it has no price column (Close, Price or Adj Close); columns found: {columns.found()}; map yours "
            "with column_map={'YourName': 'close'}."
        )
    return out.reset_index(drop=True)


def _wide_bars(table: _Table, columns: _Columns, symbol: str | None, wide_field: str) -> pd.DataFrame:
    """Date × symbol columns of one field → long rows, cells without a value dropped."""
    if symbol is not None:
        raise table.fail(
            f"symbol={symbol!r} is for a long file of one symbol's bars (Date, Open, High, Low, Close, Volume), "
            f"but this file reads as wide (one column per symbol: {columns.found()}); leave symbol out."
        )
    if columns.has("symbol"):
        raise table.fail(
            f"it has a symbol column ({columns.get('symbol')!r}) but layout='wide' was asked for; a wide file has "
            "a date column and one column per symbol; use layout='long'."
        )
    date_column = _date_column(table, columns)
    symbols = [c for c in table.frame.columns if c != date_column]
    if not symbols:
        raise table.fail(f"it has no price columns besides {date_column!r}; add one column per symbol.")
    headless = [c for c in symbols if c.startswith("Unnamed: ")]
    if headless:
        raise table.fail(f"a column holding values has no header ({headless[0]}); name it after its symbol.")
    values = pd.DataFrame({s: _numbers(table, s) for s in symbols}, index=table.frame.index)
    values.insert(0, "date", _dates(table, date_column))
    long = values.melt(id_vars="date", var_name="symbol", value_name=wide_field).dropna(subset=[wide_field])
    if long.empty:
        raise table.fail(f"its columns {', '.join(repr(s) for s in symbols)} hold no values.")
    return long.reset_index(drop=True)


def _fill_close_pair(bars: pd.DataFrame) -> pd.DataFrame:
    """close fills a missing adj_close column and vice versa (no corporate actions known)."""
    if "close" in bars.columns and "adj_close" not in bars.columns:
        bars["adj_close"] = bars["close"]
    elif "adj_close" in bars.columns and "close" not in bars.columns:
        bars["close"] = bars["adj_close"]
    return bars


# -- cells -----------------------------------------------------------------------------------------------


def _date_column(table: _Table, columns: _Columns) -> str:
    column = columns.get("date")
    if column is None:
        raise table.fail(
            f"it has no date column; columns found: {columns.found()}; name it Date, Datetime or Timestamp, or "
            "map it with column_map={'YourName': 'date'}."
        )
    return column


def _as_text(values: pd.Series) -> pd.Series:
    """Cells as stripped text ("" when missing); whole floats written without ".0" (20240102.0)."""
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if (finite == np.floor(finite)).all():
            values = values.astype("Int64")
    return values.astype(object).where(values.notna(), "").astype(str).str.strip()


def _dates(table: _Table, column: str) -> pd.Series:
    """The date column parsed; refuses an empty or unparseable cell, naming its row and value."""
    values = table.frame[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        text = _as_text(values)
        if text.str.contains(":", regex=False).any():
            text = text.str.replace(_OFFSET.pattern, r"\1", regex=True)
        parsed = _parse_dates(text)
    bad = parsed.isna().to_numpy()
    if bad.any():
        position = int(np.argmax(bad))
        raw = _as_text(values).iloc[position]
        problem = "an empty date" if raw == "" else f"a date that cannot be read, {raw!r}"
        raise table.fail(
            f"column {column!r} has {problem} in row {table.row(position)}; use dates like 2024-01-31 (every "
            "row in one format)."
        )
    return parsed


def _parse_dates(text: pd.Series) -> pd.Series:
    """ISO 8601 first; else the format pandas infers from the first value, whichever reads more cells."""
    iso = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if iso.notna().all():
        return iso
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": we report bad cells ourselves
        try:
            inferred = pd.to_datetime(text, errors="coerce")
        except (ValueError, TypeError):
            return iso
    return inferred if inferred.notna().sum() > iso.notna().sum() else iso


def _numbers(table: _Table, column: str) -> pd.Series:
    """A price or volume column as float64; refuses a cell that is not a number, naming row and value."""
    values = table.frame[column]
    if pd.api.types.is_bool_dtype(values):
        raise table.fail(f"column {column!r} holds true/false values, not numbers.")
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    try:  # fast path: plain numbers and empty cells
        return pd.to_numeric(values, errors="raise").astype("float64")
    except (ValueError, TypeError):
        pass
    text = _as_text(values)
    missing = text.str.lower().isin(_MISSING)
    parsed = pd.to_numeric(text.where(~missing, None), errors="coerce")
    bad = (parsed.isna() & ~missing).to_numpy()
    if bad.any():
        position = int(np.argmax(bad))
        raise table.fail(
            f"column {column!r} has {text.iloc[position]!r} in row {table.row(position)}, which is not a number; "
            "use plain numbers like 1234.5 (empty for a missing value)."
        )
    return parsed.astype("float64")


def _symbols(table: _Table, column: str) -> pd.Series:
    """The symbol column as stripped text; refuses an empty cell."""
    text = _as_text(table.frame[column])
    empty = (text == "").to_numpy()
    if empty.any():
        raise table.fail(f"column {column!r} has an empty symbol in row {table.row(int(np.argmax(empty)))}.")
    return text
