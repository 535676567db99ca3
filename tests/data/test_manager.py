"""DataManager end to end on a real SQLite store: shape, incremental fetch, versions, validation, no fallback."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from ravenshire.config import Config
from ravenshire.data import DataManager, queries
from ravenshire.data.calendar import sessions
from ravenshire.data.frames import FIELDS
from ravenshire.data.versioning import canonical_bytes
from ravenshire.errors import ConfigError, DataSourceError, DataUnavailableError, VersionNotFoundError
from ravenshire.store import init_db, read
from ravenshire.store import schema as s
from tests.conftest import NOW
from tests.data.sources import CraftedSource, RecordingSource, clean_bars


def _count(manager: DataManager, table) -> int:
    with read(manager.engine) as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_market_data_shape_and_wide_closes(manager: DataManager) -> None:
    data = manager.get_market_data(["CCC", "AAA"], "2024-01-01", "2024-03-31")
    assert isinstance(data.columns, pd.MultiIndex)
    assert list(data.columns.names) == ["field", "symbol"]
    assert list(data.columns.get_level_values("field").unique()) == list(FIELDS)
    assert list(data["adj_close"].columns) == ["AAA", "CCC"]  # sorted
    expected_days = sessions("2024-01-01", "2024-03-31")
    assert data.index.equals(pd.DatetimeIndex(expected_days, name="date"))
    assert data.index.tz is None
    assert data.attrs["is_demo"] is True
    assert data.attrs["sources"] == ["synthetic"]
    closes = manager.close_prices(["AAA", "CCC"], "2024-01-01", "2024-03-31")
    pd.testing.assert_frame_equal(closes, data["adj_close"])
    assert not closes.isna().any().any()


def test_default_request_is_the_universe_from_history_start_to_last_closed_session(manager: DataManager) -> None:
    data = manager.get_market_data()
    assert list(data["close"].columns) == ["AAA", "BBB", "CCC"]
    assert data.index[0] == pd.Timestamp("2023-01-03")
    assert data.index[-1] == pd.Timestamp("2024-06-28")  # NOW is Saturday 2024-06-29


def test_end_in_the_future_is_capped_at_the_latest_closed_session(manager: DataManager) -> None:
    data = manager.get_market_data(["AAA"], "2024-06-01", "2030-01-01")
    assert data.index[-1] == pd.Timestamp("2024-06-28")


@pytest.mark.parametrize(
    ("symbols", "start", "end", "message"),
    [
        (["AAA"], "2024-05-01", "2024-04-01", "start_date 2024-05-01 is after end_date 2024-04-01"),
        (["AAA"], "2024-02-30", None, "start_date '2024-02-30' is not a date"),
        (["AA A"], None, None, "not valid symbols"),
        ([], None, None, "no symbols given"),
    ],
)
def test_bad_requests_are_refused(manager: DataManager, symbols, start, end, message) -> None:
    with pytest.raises(ConfigError, match=message):
        manager.get_market_data(symbols, start, end)


def test_incremental_fetch_asks_only_for_the_gaps(config: Config) -> None:
    source = RecordingSource(seed=config.data.synthetic_seed)
    manager = DataManager(config, sources={"synthetic": source}, now=NOW)
    manager.get_market_data(["AAA", "BBB"], "2024-01-02", "2024-03-28")
    assert source.calls == [(("AAA", "BBB"), pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-03-28").date())]

    source.calls.clear()
    manager.get_market_data(["AAA", "BBB"], "2023-12-01", "2024-06-28")
    asked = sorted((c[1].isoformat(), c[2].isoformat(), c[0]) for c in source.calls)
    assert asked == [
        ("2023-12-01", "2023-12-29", ("AAA", "BBB")),  # the head
        ("2024-04-01", "2024-06-28", ("AAA", "BBB")),  # the tail (2024-03-29 is Good Friday)
    ]

    source.calls.clear()
    manager.get_market_data(["AAA", "BBB", "CCC"], "2024-01-02", "2024-06-28")
    assert source.calls == [(("CCC",), pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-06-28").date())]

    source.calls.clear()
    incremental = manager.get_market_data(["AAA", "BBB", "CCC"], "2024-01-02", "2024-06-28")
    assert source.calls == []

    # the pieces fetched in three goes equal one fetch of everything into a fresh store, bit for bit
    other = DataManager(config, engine=init_db(config.store_url.replace("store.db", "other.db")), now=NOW)
    whole = other.get_market_data(["AAA", "BBB", "CCC"], "2024-01-02", "2024-06-28")
    assert canonical_bytes(incremental) == canonical_bytes(whole)


def test_refresh_fetches_the_whole_range_again(config: Config) -> None:
    source = RecordingSource(seed=config.data.synthetic_seed)
    manager = DataManager(config, sources={"synthetic": source}, now=NOW)
    manager.fetch(["AAA"], "2024-01-02", "2024-02-29")
    source.calls.clear()
    manager.fetch(["AAA"], "2024-01-02", "2024-02-29", refresh=True)
    assert len(source.calls) == 1
    assert _count(manager, s.bars) == len(sessions("2024-01-02", "2024-02-29"))  # replaced, not duplicated


def test_loaded_frames_are_the_callers_to_change(manager: DataManager) -> None:
    first = manager.get_market_data(["AAA"], "2024-01-02", "2024-01-31")
    first.iloc[:, :] = -1.0
    second = manager.get_market_data(["AAA"], "2024-01-02", "2024-01-31")
    assert (second["close"] > 0).all().all()


def test_versions_are_content_addressed_idempotent_and_bit_identical(manager: DataManager) -> None:
    data = manager.get_market_data(["AAA", "BBB"], "2024-01-02", "2024-04-30", create_version=True, label="q1")
    version_id = data.attrs["data_version"]
    assert len(version_id) == 64
    again = manager.get_market_data(["BBB", "AAA"], "2024-01-02", "2024-04-30", create_version=True)
    assert again.attrs["data_version"] == version_id
    assert _count(manager, s.data_versions) == 1

    loaded = manager.load_version(version_id[:10])
    pd.testing.assert_frame_equal(loaded, data, check_exact=True)
    assert canonical_bytes(loaded) == canonical_bytes(data)
    assert loaded.attrs["data_version"] == version_id
    assert loaded.attrs["is_demo"] is True

    other = manager.get_market_data(["AAA"], "2024-01-02", "2024-04-30", create_version=True)
    assert other.attrs["data_version"] != version_id

    info = manager.versions.get(version_id)
    assert info.symbols == ("AAA", "BBB")
    assert info.n_rows == len(data)
    assert info.label == "q1"
    assert [v.id for v in manager.list_versions()] == [other.attrs["data_version"], version_id]


def test_a_version_does_not_change_when_more_data_arrives(manager: DataManager) -> None:
    data = manager.get_market_data(["AAA"], "2024-01-02", "2024-02-29", create_version=True)
    manager.get_market_data(["AAA", "BBB"], "2023-06-01", "2024-06-28")
    pd.testing.assert_frame_equal(manager.load_version(data.attrs["data_version"]), data, check_exact=True)


def test_version_lookup_errors_are_clear(manager: DataManager) -> None:
    with pytest.raises(VersionNotFoundError, match="no data version 'abcdef12'"):
        manager.load_version("abcdef12")
    with pytest.raises(VersionNotFoundError, match="at least 6 hex digits"):
        manager.load_version("xyz")


def test_true_regimes_of_the_demo_source_are_stored(manager: DataManager) -> None:
    manager.get_market_data(["AAA"], "2023-01-03", "2024-06-28")
    labels = queries.regimes(manager.engine, manager.config.data.synthetic_seed)
    assert labels.index.equals(pd.DatetimeIndex(sessions("2023-01-03", "2024-06-28"), name="date"))
    assert set(labels.unique()) <= {"bull", "bear", "sideways", "crisis"}


def test_bad_rows_are_quarantined_with_reasons_and_never_stored(make_config) -> None:
    config = make_config("[DATA]\nsource = yfinance\nuniverse = GOOD, BAD\nhistory_start = 2024-01-02\n")
    days = sessions("2024-01-02", "2024-03-28")
    good, bad = clean_bars("GOOD", days), clean_bars("BAD", days)
    bad.loc[10, "high"] = bad.loc[10, "low"] * 0.5  # high below low
    bad.loc[20, "close"] = float("nan")  # missing close
    source = CraftedSource(pd.concat([good, bad]))
    manager = DataManager(config, sources={"yfinance": source}, now=NOW)
    data = manager.get_market_data(["GOOD", "BAD"], "2024-01-02", "2024-03-28")

    assert data.attrs["is_demo"] is False
    assert pd.isna(data.loc[days[10], ("close", "BAD")]) and pd.isna(data.loc[days[20], ("close", "BAD")])
    log = queries.fetch_log(manager.engine)
    assert log.iloc[0]["status"] == "partial" and log.iloc[0]["rows_rejected"] == 2
    found = queries.issues(manager.engine, int(log.iloc[0]["id"]))
    rejected = found[found["action"] == "rejected"]
    assert rejected[["symbol", "date"]].drop_duplicates().shape[0] == 2  # two bars, maybe several rules each
    rejected = rejected.set_index("rule")
    assert {"high_below_low", "missing_value"} <= set(rejected.index)
    assert rejected.loc["high_below_low", "date"] == days[10]
    assert rejected.loc["high_below_low", "high"] == pytest.approx(bad.loc[10, "high"])  # values quarantined
    assert _count(manager, s.bars) == 2 * len(days) - 2


def test_a_failing_real_source_raises_is_logged_and_never_falls_back_to_demo(make_config) -> None:
    config = make_config("[DATA]\nsource = yfinance\nuniverse = AAPL\nhistory_start = 2024-01-02\n")

    class Down:
        name, is_demo = "yfinance", False

        def fetch(self, symbols, start, end):
            raise DataSourceError("Yahoo Finance request failed after 3 tries: connection refused")

    manager = DataManager(config, sources={"yfinance": Down()}, now=NOW)
    with pytest.raises(DataSourceError, match="connection refused"):
        manager.get_market_data(["AAPL"])
    assert _count(manager, s.bars) == 0
    assert _count(manager, s.instruments) == 0  # no demo AAPL either
    log = queries.fetch_log(manager.engine)
    assert list(log["status"]) == ["failed"]
    assert "connection refused" in log.iloc[0]["message"]


def test_symbols_a_source_cannot_deliver_are_named(make_config) -> None:
    config = make_config("[DATA]\nsource = yfinance\nuniverse = GOOD\nhistory_start = 2024-01-02\n")
    days = sessions("2024-01-02", "2024-01-31")
    source = CraftedSource(clean_bars("GOOD", days), failed={"NOPE": "no data found, symbol may be delisted"})
    manager = DataManager(config, sources={"yfinance": source}, now=NOW)
    with pytest.raises(DataUnavailableError, match="NOPE: no data found, symbol may be delisted"):
        manager.get_market_data(["GOOD", "NOPE"], "2024-01-02", "2024-01-31")
    assert manager.get_market_data(["GOOD"], "2024-01-02", "2024-01-31", fetch=False)["close"].notna().all().all()


def test_sources_combine_per_symbol(make_config) -> None:
    config = make_config(
        "[DATA]\nsource = synthetic\nsymbol_sources = REAL:yfinance\nuniverse = AAA, REAL\nhistory_start = 2024-01-02\n"
    )
    days = sessions("2024-01-02", "2024-02-29")
    manager = DataManager(config, sources={"yfinance": CraftedSource(clean_bars("REAL", days))}, now=NOW)
    data = manager.get_market_data(end_date="2024-02-29")
    assert data.attrs["sources"] == ["synthetic", "yfinance"]
    assert data.attrs["is_demo"] is True  # any demo symbol makes the frame demo data
    cov = queries.coverage(manager.engine).set_index("symbol")
    assert cov.loc["AAA", "source"] == "synthetic" and bool(cov.loc["AAA", "demo"])
    assert cov.loc["REAL", "source"] == "yfinance" and not bool(cov.loc["REAL", "demo"])


def test_import_stores_a_users_file_and_serves_it(make_config, tmp_path) -> None:
    config = make_config("[DATA]\nsymbol_sources = HOUSE:import\nuniverse = HOUSE\nhistory_start = 2024-01-02\n")
    manager = DataManager(config, now=NOW)
    days = sessions("2024-01-02", "2024-03-28")
    path = tmp_path / "house.csv"
    clean_bars("HOUSE", days).to_csv(path, index=False)
    summary = manager.import_file(path)
    assert summary.status == "ok" and summary.rows_stored == len(days)
    data = manager.get_market_data(["HOUSE"], "2024-01-02", "2024-03-28")
    assert data.attrs["sources"] == ["import"] and data.attrs["is_demo"] is False
    assert data["close"]["HOUSE"].iloc[0] == pytest.approx(clean_bars("HOUSE", days)["close"].iloc[0])


def test_a_broken_file_stores_nothing(manager: DataManager, tmp_path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text("symbol,date,close\nAAA,2024-01-02,10\nAAA,not-a-date,11\n")
    from ravenshire.errors import ImportFileError

    with pytest.raises(ImportFileError, match="not-a-date"):
        manager.import_file(path)
    assert _count(manager, s.fetches) == 0
    assert _count(manager, s.bars) == 0


def test_validate_stored_logs_a_report(manager: DataManager) -> None:
    manager.get_market_data(["AAA"], "2024-01-02", "2024-06-28")
    summary, report = manager.validate_stored(["AAA"], "2024-01-02", "2024-06-28")
    assert summary.kind == "validate"
    assert report.n_rows == len(sessions("2024-01-02", "2024-06-28"))
    assert report.n_rejected == 0
    assert queries.fetch_log(manager.engine).iloc[0]["kind"] == "validate"


# --- regressions from the first review --------------------------------------------------------------------


def test_a_rejected_newest_bar_is_asked_for_again(make_config) -> None:
    config = make_config("[DATA]\nsource = yfinance\nuniverse = AAA\nhistory_start = 2024-01-02\n")
    days = sessions("2024-01-02", "2024-03-28")
    bad = clean_bars("AAA", days)
    bad.loc[len(days) - 1, "close"] = float("nan")
    manager = DataManager(config, sources={"yfinance": CraftedSource(bad)}, now=NOW)
    manager.fetch(["AAA"], "2024-01-02", "2024-03-28")
    assert manager.cache.missing_ranges(["AAA"], "yfinance", days[0].date(), days[-1].date()) == {
        "AAA": [(days[-1], days[-1])]
    }
    manager.fetcher._sources["yfinance"] = CraftedSource(clean_bars("AAA", days))  # the source is fixed
    [summary] = manager.fetch(["AAA"], "2024-01-02", "2024-03-28")
    assert (summary.start, summary.end) == (days[-1].date(), days[-1].date())
    assert manager.get_market_data(["AAA"], "2024-01-02", "2024-03-28", fetch=False)["close"].notna().all().all()


def test_days_before_a_listing_are_not_asked_for_on_every_call(make_config) -> None:
    config = make_config("[DATA]\nsource = yfinance\nuniverse = NEW\nhistory_start = 2024-01-02\n")
    listed = sessions("2024-02-01", "2024-03-28")
    source = CraftedSource(clean_bars("NEW", listed))
    manager = DataManager(config, sources={"yfinance": source}, now=NOW)
    manager.fetch(["NEW"], "2024-02-01", "2024-03-28")
    source.failed = {"NEW": "possibly delisted; no price data found"}  # what Yahoo says before a listing
    [summary] = manager.fetch(["NEW"], "2024-01-02", "2024-03-28")
    assert summary.status == "empty" and "no rows before the first stored bar of NEW" in summary.message
    assert manager.fetch(["NEW"], "2024-01-02", "2024-03-28") == []


def test_a_fetch_or_import_whose_every_row_is_rejected_has_failed(manager: DataManager, tmp_path) -> None:
    path = tmp_path / "allbad.csv"
    path.write_text("symbol,date,close\nXYZ,2024-01-02,-1\nXYZ,2024-01-03,-2\n")
    summary = manager.import_file(path)
    assert summary.status == "failed" and summary.rows_stored == 0 and summary.rows_rejected == 2


def test_fetched_ranges_are_merged_into_one_row_per_instrument(manager: DataManager) -> None:
    for end in ("2024-01-31", "2024-02-29", "2024-03-28", "2024-06-28"):
        manager.fetch(["AAA"], "2024-01-02", end)
    with read(manager.engine) as conn:
        rows = conn.execute(select(s.fetched_ranges.c.start_date, s.fetched_ranges.c.end_date)).all()
    assert [tuple(r) for r in rows] == [(20240102, 20240628)]


def test_an_imported_symbol_is_never_replaced_by_demo_data_of_the_same_name(manager: DataManager, tmp_path) -> None:
    days = sessions("2024-01-02", "2024-03-28")
    path = tmp_path / "house.csv"
    clean_bars("HOUSE", days, start_price=50.0).to_csv(path, index=False)
    manager.import_file(path)
    assert manager.sources_for(["HOUSE", "AAA"]) == {"HOUSE": "import", "AAA": "synthetic"}
    data = manager.get_market_data(["HOUSE"], "2024-01-02", "2024-03-28")
    assert data.attrs["sources"] == ["import"] and data.attrs["is_demo"] is False
    assert data["close"]["HOUSE"].iloc[0] == pytest.approx(50.0 * 0.99)
    with read(manager.engine) as conn:
        assert conn.execute(
            select(s.instruments.c.source).where(s.instruments.c.symbol == "HOUSE")
        ).scalars().all() == ["import"]


def test_a_frame_without_attrs_is_versioned_as_demo_and_a_version_is_never_relabelled_real(
    manager: DataManager,
) -> None:
    data = manager.get_market_data(["AAA"], "2024-01-02", "2024-02-29")
    stripped = data.copy()
    stripped.attrs = {}
    assert manager.create_version(stripped).is_demo is True
    other = manager.get_market_data(["BBB"], "2024-01-02", "2024-02-29")
    real = manager.versions.create(other, sources=["yfinance"], is_demo=False)
    again = manager.versions.create(other, sources=["synthetic"], is_demo=True, label="demo after all")
    assert again.id == real.id and again.is_demo is True and again.label == "demo after all"


def test_a_version_id_does_not_depend_on_column_order_and_odd_indexes_are_refused(manager: DataManager) -> None:
    data = manager.get_market_data(["AAA", "BBB"], "2024-01-02", "2024-02-29")
    shuffled = data[list(reversed(data.columns))]
    assert canonical_bytes(shuffled) == canonical_bytes(data)
    aware = data.tz_localize("America/New_York")
    with pytest.raises(ConfigError, match="tz-naive"):
        canonical_bytes(aware)
    with pytest.raises(ConfigError, match="unique midnights"):
        canonical_bytes(pd.concat([data.iloc[:2], data.iloc[:1]]))
