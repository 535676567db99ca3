"""read_bars_file: a user's own CSV / Parquet files → canonical long bars, or one clear ImportFileError."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ravenshire.data.frames import BAR_COLUMNS
from ravenshire.data.sources.files import COLUMN_TARGETS, read_bars_file
from ravenshire.errors import ConfigError, ImportFileError

LONG_CSV = """symbol,date,open,high,low,close,adj_close,volume
MSFT,2024-01-03,369.0,373.0,367.0,370.6,368.1,25000000
AAPL,2024-01-02,187.2,188.4,183.9,185.6,184.9,82488700
AAPL,2024-01-03,184.2,185.9,183.4,184.3,183.6,58414500
MSFT,2024-01-02,373.9,375.9,366.8,370.9,368.4,25258600
"""

YAHOO_CSV = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,187.149994,188.440002,183.889999,185.639999,184.532089,82488700
2024-01-03,184.220001,185.880005,183.429993,184.250000,183.150391,58414500
2024-01-04,182.149994,183.089996,180.880005,181.910004,180.824356,71983600
"""

WIDE_CSV = """Date,AAPL,MSFT,SPY
2024-01-02,185.64,370.87,472.65
2024-01-03,184.25,,468.79
2024-01-04,181.91,367.94,467.28
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check_canonical(bars: pd.DataFrame) -> None:
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert bars["date"].dtype == "datetime64[ns]"
    for column in BAR_COLUMNS[2:]:
        assert bars[column].dtype == "float64"
    ordered = bars.sort_values(["symbol", "date"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(bars, ordered)


def import_error(source: object, **kwargs: object) -> str:
    with pytest.raises(ImportFileError) as info:
        read_bars_file(source, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# -- good files ------------------------------------------------------------------------------------------


def test_long_csv(tmp_path: Path) -> None:
    bars = read_bars_file(write(tmp_path, "bars.csv", LONG_CSV))
    check_canonical(bars)
    assert list(bars["symbol"]) == ["AAPL", "AAPL", "MSFT", "MSFT"]
    assert list(bars["date"]) == list(pd.to_datetime(["2024-01-02", "2024-01-03"] * 2))
    aapl = bars.iloc[0]
    assert (aapl["open"], aapl["close"], aapl["adj_close"], aapl["volume"]) == (187.2, 185.6, 184.9, 82488700.0)


def test_wide_csv(tmp_path: Path) -> None:
    bars = read_bars_file(write(tmp_path, "closes.csv", WIDE_CSV))
    check_canonical(bars)
    assert bars.groupby("symbol").size().to_dict() == {"AAPL": 3, "MSFT": 2, "SPY": 3}  # empty cell → no row
    np.testing.assert_allclose(bars["adj_close"], bars["close"])  # close fills adj_close
    assert bars[["open", "high", "low", "volume"]].isna().all().all()
    msft = bars[bars["symbol"] == "MSFT"]
    assert list(msft["close"]) == [370.87, 367.94]


def test_wide_adj_close_fills_close(tmp_path: Path) -> None:
    bars = read_bars_file(write(tmp_path, "adj.csv", WIDE_CSV), wide_field="adj_close")
    np.testing.assert_allclose(bars["close"], bars["adj_close"])
    assert bars["adj_close"].iloc[0] == 185.64


def test_wide_volume_field(tmp_path: Path) -> None:
    bars = read_bars_file(write(tmp_path, "vol.csv", "Date,AAPL\n2024-01-02,100\n"), wide_field="volume")
    assert bars["volume"].tolist() == [100.0]
    assert bars["close"].isna().all()


def test_parquet_long(tmp_path: Path) -> None:
    source = pd.read_csv(io.StringIO(LONG_CSV), parse_dates=["date"])
    path = tmp_path / "bars.parquet"
    source.to_parquet(path)
    bars = read_bars_file(path)
    check_canonical(bars)
    expected = read_bars_file(write(tmp_path, "bars.csv", LONG_CSV))
    pd.testing.assert_frame_equal(bars, expected)


def test_parquet_wide_with_date_index(tmp_path: Path) -> None:
    wide = pd.read_csv(io.StringIO(WIDE_CSV), parse_dates=["Date"]).set_index("Date")
    path = tmp_path / "closes.pq"
    wide.to_parquet(path)  # the dates are the index: read back as a column
    bars = read_bars_file(path)
    check_canonical(bars)
    assert bars.groupby("symbol").size().to_dict() == {"AAPL": 3, "MSFT": 2, "SPY": 3}


def test_parquet_with_python_dates_and_int_volume(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "Ticker": ["AAPL", "AAPL"],
            "Date": [pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-01-03").date()],
            "Close": [185.6, 184.3],
            "Volume": np.array([10, 20], dtype="int64"),
        }
    )
    path = tmp_path / "typed.parquet"
    frame.to_parquet(path)
    bars = read_bars_file(path)
    assert list(bars["date"]) == list(pd.to_datetime(["2024-01-02", "2024-01-03"]))
    assert bars["volume"].tolist() == [10.0, 20.0]


def test_yahoo_style_single_symbol_csv(tmp_path: Path) -> None:
    bars = read_bars_file(write(tmp_path, "AAPL.csv", YAHOO_CSV), symbol="AAPL")
    check_canonical(bars)
    assert set(bars["symbol"]) == {"AAPL"}
    assert len(bars) == 3
    assert bars["adj_close"].iloc[0] == pytest.approx(184.532089)  # "Adj Close" → adj_close
    assert bars["close"].iloc[0] == pytest.approx(185.639999)


def test_yahoo_export_with_offsets_and_nulls(tmp_path: Path) -> None:
    """yfinance's ``history().to_csv()`` writes tz offsets; old Yahoo CSVs wrote "null" for missing values."""
    text = (
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-02 00:00:00-05:00,187.1,188.4,183.8,185.6,82488700\n"
        "2024-01-03 00:00:00-05:00,null,null,null,184.2,null\n"
    )
    bars = read_bars_file(write(tmp_path, "aapl.csv", text), symbol="AAPL")
    assert list(bars["date"]) == list(pd.to_datetime(["2024-01-02", "2024-01-03"]))
    assert np.isnan(bars["open"].iloc[1]) and bars["close"].iloc[1] == 184.2
    np.testing.assert_allclose(bars["adj_close"], bars["close"])  # no Adj Close column: close fills it


def test_column_map(tmp_path: Path) -> None:
    text = "Ticker,AsOf,Px_Last,Px_Volume,Comment\nAAPL,2024-01-02,185.6,100,x\nAAPL,2024-01-03,184.3,200,y\n"
    bars = read_bars_file(
        write(tmp_path, "bbg.csv", text), column_map={"Px_Last": "close", "AsOf": "date", "Px_Volume": "volume"}
    )
    check_canonical(bars)
    assert list(bars["close"]) == [185.6, 184.3]
    assert list(bars["volume"]) == [100.0, 200.0]
    assert set(bars["symbol"]) == {"AAPL"}  # "Ticker" matched by name


def test_column_map_resolves_two_close_like_columns(tmp_path: Path) -> None:
    text = "Date,Symbol,Close,Price\n2024-01-02,AAPL,185.6,999\n"
    assert "both mean 'close'" in import_error(write(tmp_path, "two.csv", text))
    bars = read_bars_file(tmp_path / "two.csv", column_map={"Close": "close"})
    assert bars["close"].tolist() == [185.6]


def test_headers_match_case_and_punctuation(tmp_path: Path) -> None:
    text = " TICKER ;DATETIME;adj_close;CLOSE\nAAPL;2024-01-02;184.9;185.6\n"  # semicolons, odd case
    bars = read_bars_file(write(tmp_path, "odd.csv", text))
    assert (bars["adj_close"].iloc[0], bars["close"].iloc[0]) == (184.9, 185.6)


def test_buffer_with_name() -> None:
    upload = io.BytesIO(LONG_CSV.encode("utf-8"))
    bars = read_bars_file(upload, name="my upload.csv")
    check_canonical(bars)
    assert len(bars) == 4


def test_parquet_buffer_with_name() -> None:
    buffer = io.BytesIO()
    pd.read_csv(io.StringIO(LONG_CSV)).to_parquet(buffer)
    bars = read_bars_file(io.BytesIO(buffer.getvalue()), name="bars.parquet")
    assert len(bars) == 4


def test_fmt_overrides_suffix(tmp_path: Path) -> None:
    bars = read_bars_file(write(tmp_path, "bars.txt", LONG_CSV), fmt="csv")
    assert len(bars) == 4


def test_bom_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + b"Date,AAPL\r\n2024-01-02,185.6\r\n\r\n2024-01-03,184.3\r\n")
    bars = read_bars_file(path)
    assert list(bars["close"]) == [185.6, 184.3]


def test_us_dates_are_inferred_from_the_first_value(tmp_path: Path) -> None:
    bars = read_bars_file(write(tmp_path, "us.csv", "Date,AAPL\n01/02/2024,1\n01/31/2024,2\n"))
    assert list(bars["date"]) == list(pd.to_datetime(["2024-01-02", "2024-01-31"]))


def test_symbol_named_like_a_field_in_wide_layout(tmp_path: Path) -> None:
    """Lowe's trades as LOW: in an auto-detected wide file it is a symbol, not the low field."""
    bars = read_bars_file(write(tmp_path, "w.csv", "Date,LOW,AAPL\n2024-01-02,250.1,185.6\n"))
    assert sorted(bars["symbol"]) == ["AAPL", "LOW"]


# -- broken files ----------------------------------------------------------------------------------------


def test_error_is_a_refusal() -> None:
    assert issubclass(ImportFileError, ConfigError)


def test_missing_file(tmp_path: Path) -> None:
    message = import_error(tmp_path / "nope.csv")
    assert "nope.csv" in message and "does not exist" in message


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    assert "folder" in import_error(tmp_path / "dir.csv")


def test_unknown_extension(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "bars.xlsx", LONG_CSV))
    assert "bars.xlsx" in message and "'.xlsx'" in message and ".csv" in message and ".parquet" in message


def test_buffer_without_name_needs_fmt() -> None:
    message = import_error(io.BytesIO(LONG_CSV.encode()))
    assert "the uploaded file" in message and "fmt=" in message


def test_empty_file(tmp_path: Path) -> None:
    assert "is empty" in import_error(write(tmp_path, "empty.csv", ""))


def test_header_only(tmp_path: Path) -> None:
    assert "no data rows" in import_error(write(tmp_path, "header.csv", "Date,Close\n"))


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    message = import_error(path)
    assert "bad.parquet" in message and "not a readable Parquet file" in message


def test_binary_file_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "really.csv"
    pd.read_csv(io.StringIO(LONG_CSV)).to_parquet(path)
    assert "not a text CSV file" in import_error(path)


def test_ragged_csv(tmp_path: Path) -> None:
    text = "Date,AAPL\n2024-01-02,1\n2024-01-03,2,3,4\n"
    assert "not a readable CSV file" in import_error(write(tmp_path, "ragged.csv", text))


def test_no_date_column_lists_columns(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "nodate.csv", "When,AAPL\n2024-01-02,1\n"))
    assert "no date column" in message and "'When', 'AAPL'" in message


def test_bad_date_names_value_and_row(tmp_path: Path) -> None:
    text = "Date,AAPL\n2024-01-02,1\n2024-01-03,2\n2024-13-45,3\n"
    message = import_error(write(tmp_path, "dates.csv", text))
    assert "'2024-13-45'" in message and "row 4" in message and "'Date'" in message


def test_empty_date_names_row(tmp_path: Path) -> None:
    text = "Symbol,Date,Close\nAAPL,2024-01-02,1\nAAPL,,2\n"
    message = import_error(write(tmp_path, "dates.csv", text))
    assert "empty date" in message and "row 3" in message


def test_row_numbers_count_blank_lines(tmp_path: Path) -> None:
    text = "Date,AAPL\n2024-01-02,1\n\n2024-01-04,abc\n"
    assert "row 4" in import_error(write(tmp_path, "blank.csv", text))


def test_non_numeric_value_names_column_row_value(tmp_path: Path) -> None:
    text = "Symbol,Date,Close,Volume\nAAPL,2024-01-02,185.6,1000\nAAPL,2024-01-03,184.3,1,234\n"
    # the last line has a thousands separator: one field too many → unreadable; quote it instead
    text = text.replace("1,234", '"1,234"')
    message = import_error(write(tmp_path, "nums.csv", text))
    assert "'Volume'" in message and "row 3" in message and "'1,234'" in message and "not a number" in message


def test_non_numeric_in_wide(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "w.csv", "Date,AAPL,MSFT\n2024-01-02,1,n.a.\n"))
    assert "'MSFT'" in message and "'n.a.'" in message and "row 2" in message


def test_parquet_row_numbers_start_at_one(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pd.DataFrame({"date": ["2024-01-02", "oops"], "AAPL": [1.0, 2.0]}).to_parquet(path)
    message = import_error(path)
    assert "'oops'" in message and "row 2" in message


def test_no_price_column(tmp_path: Path) -> None:
    text = "Symbol,Date,Open,Volume\nAAPL,2024-01-02,1,2\n"
    message = import_error(write(tmp_path, "noprice.csv", text))
    assert "no price column" in message and "'Open'" in message


def test_wide_without_symbol_columns(tmp_path: Path) -> None:
    assert "no price columns" in import_error(write(tmp_path, "d.csv", "Date\n2024-01-02\n"))


def test_single_symbol_file_without_symbol(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "AAPL.csv", YAHOO_CSV))
    assert "no symbol column" in message and "symbol=" in message


def test_ohlc_file_without_close_or_symbol(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "ohl.csv", "Date,Open,High,Volume\n2024-01-02,1,2,3\n"))
    assert "no symbol column" in message and "'Open', 'High', 'Volume'" in message


def test_long_layout_without_symbols(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "w.csv", WIDE_CSV), layout="long")
    assert "symbol column" in message and "symbol=" in message and "'AAPL'" in message


def test_symbol_given_for_a_file_with_symbols(tmp_path: Path) -> None:
    assert "only for a file without one" in import_error(write(tmp_path, "l.csv", LONG_CSV), symbol="AAPL")


def test_symbol_given_for_a_wide_file(tmp_path: Path) -> None:
    assert "leave symbol out" in import_error(write(tmp_path, "w.csv", WIDE_CSV), symbol="AAPL")


def test_empty_symbol_cell(tmp_path: Path) -> None:
    text = "Symbol,Date,Close\nAAPL,2024-01-02,1\n,2024-01-03,2\n"
    message = import_error(write(tmp_path, "s.csv", text))
    assert "empty symbol" in message and "row 3" in message


def test_unknown_column_map_target_lists_allowed(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "l.csv", LONG_CSV), column_map={"close": "last_price"})
    assert "'last_price'" in message
    assert all(target in message for target in COLUMN_TARGETS)


def test_column_map_typo_suggests(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "l.csv", LONG_CSV), column_map={"close": "clsoe"})
    assert "did you mean 'close'" in message


def test_column_map_source_not_in_file(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "l.csv", LONG_CSV), column_map={"Px_Last": "close"})
    assert "'Px_Last'" in message and "not in the file" in message and "'symbol'" in message


def test_duplicate_targets_after_mapping(tmp_path: Path) -> None:
    text = "Symbol,Date,Last,Mid\nAAPL,2024-01-02,1,2\n"
    message = import_error(write(tmp_path, "dup.csv", text), column_map={"Last": "close", "Mid": "close"})
    assert "'Last'" in message and "'Mid'" in message and "'close'" in message


def test_duplicate_date_columns(tmp_path: Path) -> None:
    text = "Date,Timestamp,AAPL\n2024-01-02,2024-01-02,1\n"
    assert "both mean 'date'" in import_error(write(tmp_path, "dd.csv", text))


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"layout": "tall"}, "layout must be one of"),
        ({"wide_field": "closing"}, "did you mean 'close'"),
        ({"fmt": "xlsx"}, "fmt must be 'csv' or 'parquet'"),
        ({"symbol": "  "}, "symbol must be a non-empty text"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, str], expected: str) -> None:
    assert expected in import_error(write(tmp_path, "l.csv", LONG_CSV), **kwargs)


def test_messages_are_one_sentence(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, "nodate.csv", "When,AAPL\n2024-01-02,1\n"))
    assert message.startswith("Cannot import '") and message.endswith(".") and "\n" not in message
