"""The execution commands of ``python -m ravenshire``: orders, the ledger, the kill switch and drift checks.

Bars are hand-made CSV files imported through the ``import`` command (``[DATA] source = import``), so prices and
fills are exact. Most commands run in process through :func:`ravenshire.cli.main` (a subprocess costs ~2 s);
``test_the_wiring_in_a_real_subprocess`` runs ``python -m ravenshire`` itself.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ravenshire.cli import main
from tests.conftest import PROJECT, write_ini

#: XNYS sessions of early January 2024.
DAYS = ("2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09", "2024-01-10")

#: Slippage 5 bps, no commission: a market buy of AAA at 100 fills at exactly 100.05.
INI = """
[DATA]
source = import
universe = AAA, BBB
history_start = 2024-01-02
[RISK]
max_position_weight = 1.0
max_leverage = 1.5
max_drawdown = 0.05
[EXECUTION]
commission_bps = 0
min_commission = 0
slippage_bps = 5
[STORE]
url = sqlite:///{db}
"""


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


class Cli:
    """``main([...])`` in process on a store in tmp_path, and a way to add bars to it."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.folder = folder
        self.capsys = capsys
        self.db = folder / "cli.db"
        self.ini = write_ini(folder / "cli.ini", INI.format(db=self.db))
        self.n_files = 0

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse refuses bad arguments by exiting
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def json(self, *args: str) -> object:
        result = self(*args, "--json")
        assert result.code == 0, result.err
        return json.loads(result.out)

    def bars(self, rows: Sequence[tuple[str, str, float, float, float, float]]) -> None:
        """``rows``: (date, symbol, open, high, low, close), imported with the ``import`` command."""
        self.n_files += 1
        path = self.folder / f"bars{self.n_files}.csv"
        lines = ["date,symbol,open,high,low,close,adj_close,volume"]
        lines += [f"{d},{sym},{o},{h},{lo},{c},{c},1000000" for d, sym, o, h, lo, c in rows]
        path.write_text("\n".join(lines) + "\n")
        result = self("import", str(path))
        assert result.code == 0, result.err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name in [k for k in os.environ if k.startswith("RAVENSHIRE_")]:
        monkeypatch.delenv(name)
    runner = Cli(tmp_path, capsys)
    monkeypatch.setenv("RAVENSHIRE_CONFIG", str(runner.ini))
    monkeypatch.setattr("getpass.getuser", lambda: "tester")
    return runner


@pytest.fixture
def market(cli: Cli) -> None:
    """Flat bars of AAA at 100 and BBB at 50 over :data:`DAYS` in ``cli``'s store."""
    cli.bars([(d, sym, p, p, p, p) for d in DAYS for sym, p in (("AAA", 100.0), ("BBB", 50.0))])


def _one_line_error(result: Result, code: int, *needles: str) -> None:
    assert result.code == code, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.usefixtures("market")
def test_the_wiring_in_a_real_subprocess(cli: Cli) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVENSHIRE_")}
    env["RAVENSHIRE_CONFIG"] = str(cli.ini)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ravenshire", *args], cwd=PROJECT, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip

    proc = run("order", "buy", "aaa", "10")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "order 1 BUY 10 AAA market: filled 10 @ 100.05\n"
    for args, needle in (
        (("order", "hold", "AAA", "10"), "argument SIDE: must be BUY or SELL, got 'hold'"),
        (("killswitch", "on"), "killswitch on needs --reason"),
    ):
        proc = run(*args)
        _one_line_error(Result(proc.returncode, proc.stdout, proc.stderr), 2, needle)
    assert cli("--json", "orders").out.count('"client_order_id"') == 1  # the refusals stored nothing


@pytest.mark.usefixtures("market")
def test_an_order_that_fills_and_its_json(cli: Cli) -> None:
    result = cli("order", "BUY", "AAA", "10")
    assert (result.code, result.out) == (0, "order 1 BUY 10 AAA market: filled 10 @ 100.05\n")
    order = cli.json("order", "SELL", "AAA", "4")
    assert order["status"] == "filled" and order["filled_quantity"] == 4 and order["origin"] == "cli"
    assert math.isclose(order["avg_fill_price"], 99.95)
    assert order["already_sent"] is False


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("order", "BUY", "AAA", "1000000"), "rejected: insufficient cash"),
        (("order", "BUY", "ZZZ", "1"), "rejected: unknown symbol ZZZ"),
        (("order", "SELL", "BBB", "5"), "rejected: insufficient position"),
    ],
)
@pytest.mark.usefixtures("market")
def test_a_rejection_exits_1_with_the_reason(cli: Cli, args: tuple[str, ...], needle: str) -> None:
    result = cli(*args)
    assert result.code == 1 and result.err == ""
    assert result.out.startswith("order 1 ") and needle in result.out and result.out.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("order", "HOLD", "AAA", "10"), ("argument SIDE", "BUY or SELL")),
        (("order", "BUY", "AAA", "-5"), ("argument QUANTITY", "positive number", "'-5'")),
        (("order", "BUY", "AAA", "0"), ("argument QUANTITY", "positive number")),
        (("order", "BUY", "AAA", "lots"), ("argument QUANTITY", "'lots'")),
        (("order", "BUY", "AAA", "nan"), ("argument QUANTITY",)),
        (("order", "BUY", "AAA", "1", "--limit", "-1"), ("argument --limit", "positive number")),
        (("order", "BUY", "A A", "1"), ("symbol must be a ticker",)),
        (("order", "BUY", "AAA", "1", "--client-order-id", "no spaces"), ("client_order_id must be",)),
        (("orders", "--status", "done"), ("argument --status", "invalid choice", "open")),
        (("orders", "--limit", "0"), ("argument --limit", "positive integer")),
        (("cancel", "999"), ("no order 999",)),
        (("cancel", "--client-order-id", "999"), ("no order '999'",)),
        (("cancel",), ("give the order to cancel once", "--client-order-id ID")),
        (("cancel", "1", "--client-order-id", "x"), ("give the order to cancel once",)),
        (("mark", "--date", "2024-13-01"), ("argument --date", "YYYY-MM-DD")),
        (("mark", "--date", "2024-01-06"), ("--date 2024-01-06 (Saturday) is not a trading session of XNYS",)),
        (("killswitch", "pause"), ("invalid choice: 'pause'",)),
        (("killswitch", "off"), ("killswitch off needs --reason",)),
        (("killswitch", "on", "--reason", "x", "--by", ""), ("--by must be a name",)),
        (("drift", "check", "abc"), ("argument RETURN", "finite number")),
        (("drift", "check", "0.01"), ("drift check: error", "not started", "drift start --returns")),
        (("drift", "start"), ("one of the arguments --run --returns is required",)),
        (("drift", "start", "--returns", "/no/such.csv"), ("no such file", "a date column")),
        (("drift", "events", "--limit", "x"), ("argument --limit",)),
    ],
)
def test_bad_input_exits_2_with_one_line_and_stores_nothing(
    cli: Cli, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    _one_line_error(cli(*args), 2, *needles)
    assert cli("orders").out == "no orders\n"


@pytest.mark.usefixtures("market")
def test_the_same_client_order_id_is_one_order(cli: Cli) -> None:
    first = cli("order", "BUY", "AAA", "10", "--client-order-id", "rebalance-1")
    again = cli("order", "buy", "aaa", "10", "--client-order-id", "rebalance-1")
    assert first.code == again.code == 0
    assert first.out == "order 1 BUY 10 AAA market: filled 10 @ 100.05\n"
    assert again.out.startswith("order 1 BUY 10 AAA market: filled") and "was sent before; nothing new" in again.out
    orders = cli.json("orders")
    assert isinstance(orders, list) and [o["client_order_id"] for o in orders] == ["rebalance-1"]
    _one_line_error(
        cli("order", "BUY", "AAA", "11", "--client-order-id", "rebalance-1"), 2, "is order 1 already", "new id"
    )


@pytest.mark.usefixtures("market")
def test_a_limit_order_works_fills_on_a_later_bar_or_is_cancelled(cli: Cli) -> None:
    result = cli("order", "BUY", "AAA", "5", "--limit", "95", "--client-order-id", "dip")
    assert (result.code, result.out) == (0, "order 1 BUY 5 AAA limit 95.00: accepted, working (nothing filled yet)\n")
    assert cli("order", "BUY", "AAA", "5", "--limit", "90", "--client-order-id", "deep").code == 0
    assert cli("process-orders").out == "no working order changed\n"
    table = cli("orders", "--status", "open").out
    assert "limit 95.00" in table and "limit 90.00" in table and "accepted" in table

    cli.bars([("2024-01-11", "AAA", 99.0, 99.0, 94.0, 96.0), ("2024-01-11", "BBB", 50.0, 50.0, 50.0, 50.0)])
    assert cli("process-orders").out.splitlines() == [  # both saw the new bar; only one changed: it filled
        "order 1 BUY 5 AAA limit 95.00: filled 5 @ 95.00",
    ]
    result = cli("cancel", "deep", "--reason", "changed my mind")
    assert (result.code, result.out) == (0, "order 2 BUY 5 AAA limit 90.00: cancelled: changed my mind\n")
    _one_line_error(cli("cancel", "2"), 2, "order 2 is cancelled and cannot become cancelled")
    assert [o["status"] for o in cli.json("orders", "--status", "open")] == []  # type: ignore[union-attr]
    assert len(cli.json("orders", "--limit", "1")) == 1  # type: ignore[arg-type]


@pytest.mark.usefixtures("market")
def test_an_all_digit_client_order_id_is_cancelled_with_its_flag(cli: Cli) -> None:
    assert cli("order", "BUY", "AAA", "5", "--limit", "90", "--client-order-id", "2").code == 0  # order 1
    assert cli("order", "BUY", "BBB", "5", "--limit", "40", "--client-order-id", "dip").code == 0  # order 2
    result = cli("cancel", "--client-order-id", "2")
    assert (result.code, result.out) == (0, "order 1 BUY 5 AAA limit 90.00: cancelled: cancelled by the user\n")
    assert cli("cancel", "dip").out.startswith("order 2 BUY 5 BBB")  # a positional non-digit is a client id
    assert [o["status"] for o in cli.json("orders")] == ["cancelled", "cancelled"]  # type: ignore[union-attr]


@pytest.mark.usefixtures("market")
def test_cancel_by_the_positional_id_is_the_order_id(cli: Cli) -> None:
    assert cli("order", "BUY", "AAA", "5", "--limit", "90", "--client-order-id", "2").code == 0  # order 1
    assert cli("order", "BUY", "BBB", "5", "--limit", "40").code == 0  # order 2
    assert cli("cancel", "2").out.startswith("order 2 BUY 5 BBB limit 40.00: cancelled")
    assert cli.json("orders", "--status", "open")[0]["client_order_id"] == "2"  # type: ignore[index]


@pytest.mark.usefixtures("market")
def test_mark_refuses_a_date_that_is_not_a_session_with_stored_bars(cli: Cli) -> None:
    for day, needle in (
        ("2024-01-06", "--date 2024-01-06 (Saturday) is not a trading session of XNYS ([DATA] exchange); the "
                       "session before it is 2024-01-05"),
        ("2024-01-01", "(Monday) is not a trading session of XNYS"),  # New Year's Day
        ("2023-12-29", "--date 2023-12-29 is before the oldest stored bar (2024-01-02)"),
    ):  # fmt: skip
        _one_line_error(cli("mark", "--date", day), 2, needle)
    with sqlite3.connect(cli.db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM equity_snapshots").fetchone() == (0,)
    assert cli.json("mark", "--date", "2024-01-02")["as_of"] == "2024-01-02"  # type: ignore[index]


def test_mark_a_date_with_no_bars_stored(cli: Cli) -> None:
    _one_line_error(cli("mark", "--date", "2024-01-02"), 2, "the store holds no bars yet")


@pytest.mark.parametrize(
    ("quantity", "shown"),
    [
        (5e-7, "0.0000005"),
        (10.0000005, "10.0000005"),
        (0.1 + 0.2, "0.3"),
        (10.0, "10"),
        (2.5, "2.5"),
        (1e20, "1" + "0" * 20),
    ],
)
def test_quantities_are_shown_as_they_are(quantity: float, shown: str) -> None:
    from ravenshire.cli import _qty

    assert _qty(quantity) == shown


@pytest.mark.usefixtures("market")
def test_a_fractional_order_is_printed_faithfully(cli: Cli) -> None:
    result = cli("order", "BUY", "AAA", "10.0000005")
    assert (result.code, result.out) == (0, "order 1 BUY 10.0000005 AAA market: filled 10.0000005 @ 100.05\n")


@pytest.mark.usefixtures("market")
def test_the_kill_switch_blocks_orders_until_cleared(cli: Cli) -> None:
    assert cli("killswitch", "status").out == "trading is on\n"
    _one_line_error(cli("killswitch", "on"), 2, "needs --reason")
    assert cli("order", "BUY", "AAA", "5", "--limit", "90").code == 0  # a working order

    result = cli("killswitch", "on", "--reason", "broker outage")
    assert result.code == 0
    assert "set by tester: broker outage; 1 working order(s) cancelled" in result.out
    status = cli("killswitch", "status")
    assert status.code == 0 and "kill switch on since" in status.out and "by tester: broker outage" in status.out
    assert cli("killswitch", "on", "--reason", "again").out.startswith("kill switch already on")

    result = cli("order", "BUY", "AAA", "1")
    assert result.code == 1 and "rejected: kill switch on since" in result.out

    result = cli("killswitch", "off", "--reason", "outage over", "--by", "alice")
    assert (result.code, result.out) == (0, "kill switch cleared by alice: outage over; trading is on\n")
    state = cli.json("killswitch", "status")
    assert state == {**state, "active": False, "actor": "alice", "message": "trading is on"}  # type: ignore[dict-item]
    assert cli("order", "BUY", "AAA", "1").code == 0


def test_the_operator_falls_back_to_cli_without_a_user_name(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user() -> str:
        raise OSError("no user name")

    monkeypatch.setattr("getpass.getuser", no_user)
    assert "set by cli: drill" in cli("killswitch", "on", "--reason", "drill").out


@pytest.mark.usefixtures("market")
def test_a_fresh_account_shows_flat_performance(cli: Cli) -> None:
    result = cli("performance")
    assert result.code == 0, result.err
    assert cli("mark").code == 0


@pytest.mark.usefixtures("market")
def test_positions_when_nothing_is_held(cli: Cli) -> None:
    assert cli("order", "BUY", "AAA", "10").code == 0
    assert cli("order", "SELL", "AAA", "10").code == 0
    result = cli("positions")
    assert (result.code, result.out) == (0, "no open positions\n"), result.err


@pytest.mark.usefixtures("market")
def test_positions_performance_mark_and_reconcile(cli: Cli) -> None:
    assert cli("order", "BUY", "AAA", "10").code == 0
    assert cli("order", "BUY", "BBB", "20").code == 0
    assert cli("order", "SELL", "BBB", "20").code == 0

    table = cli("positions").out
    assert "avg cost" in table and "unrealized P&L" in table and "AAA" in table and "BBB" not in table
    assert "1 positions · market value 1,000.00 · unrealized P&L -0.50" in table
    (row,) = cli.json("positions")  # type: ignore[misc]
    assert row["symbol"] == "AAA" and math.isclose(row["avg_cost"], 100.05) and row["mark"] == 100.0

    metrics = cli.json("performance")
    assert isinstance(metrics, dict)
    assert {"win_rate", "profit_factor", "daily_pnl", "equity", "current_drawdown"} <= set(metrics)
    assert metrics["win_rate"] == 0.0 and metrics["n_closed_trades"] == 1 and metrics["is_demo"] is False
    text = cli("performance").out
    assert text.startswith("account PAPER-001 as of 2024-01-10\n") and "DEMO DATA" not in text
    for label in ("Equity", "Win rate [%]", "Profit factor", "Daily P&L", "Drawdown [%]", "Turnover today [%]"):
        assert label in text

    result = cli("mark")
    assert result.code == 0 and result.out.startswith("snapshot 2024-01-10: equity 99,998.50, cash 98,998.50")
    assert "kill switch" not in result.out
    snapshot = cli.json("mark", "--date", "2024-01-09")
    assert isinstance(snapshot, dict) and snapshot["as_of"] == "2024-01-09" and snapshot["kill_switch_set"] is False

    result = cli("reconcile")
    assert (result.code, result.out) == (0, "ledger reconciles: 3 fills, 1 positions, cash 98,998.50\n")
    with sqlite3.connect(cli.db) as conn:  # a break the ledger cannot explain
        conn.execute("UPDATE positions SET quantity = 11 WHERE symbol = 'AAA'")
    result = cli("reconcile")
    assert result.code == 1 and "ledger does NOT reconcile: positions differ for AAA" in result.out
    assert "position breaks:" in result.out


@pytest.mark.usefixtures("market")
def test_a_mark_past_the_drawdown_limit_sets_the_kill_switch(cli: Cli) -> None:
    assert cli("order", "BUY", "AAA", "900").code == 0
    cli.bars([("2024-01-11", "AAA", 90.0, 90.0, 90.0, 90.0), ("2024-01-11", "BBB", 50.0, 50.0, 50.0, 50.0)])
    result = cli("mark")
    assert result.code == 0 and result.out.startswith("snapshot 2024-01-11:")
    assert "this snapshot SET the kill switch" in result.out and "max_drawdown" in result.out
    assert "automatically (risk limit)" in cli("killswitch", "status").out
    assert "kill switch" in cli("order", "BUY", "BBB", "1").out


def test_drift_start_check_and_events(cli: Cli) -> None:
    returns = cli.folder / "backtest.csv"
    rows = [f"2023-{1 + k // 28:02d}-{1 + k % 28:02d},{0.01 * math.sin(1.7 * k):.6f}" for k in range(150)]
    returns.write_text("date,return\n" + "\n".join(rows) + "\n")
    result = cli("drift", "start", "--returns", str(returns))
    assert result.code == 0, result.err
    assert result.out.startswith(f"drift detection of 'strategy' started from {returns} (150 returns): ")
    _one_line_error(cli("drift", "start", "--returns", str(returns)), 2, "already started", "--replace")
    assert cli("drift", "start", "--returns", str(returns), "--replace").code == 0

    result = cli("drift", "check", "0.01", "--date", "2024-01-10")
    assert (result.code, result.out) == (0, "drift check of 'strategy' step 1 2024-01-10, return 0.01: no drift\n")
    assert cli("drift", "events").out == "no drift events\n"
    result = cli("drift", "check", "-0.1", "--date", "2024-01-11")  # 14 σ below the backtest's mean
    assert result.code == 1 and "DRIFT (1 detection(s))" in result.out and "cusum down: CUSUM" in result.out
    _one_line_error(cli("drift", "check", "0.0", "--date", "2024-01-09"), 2, "feed each date once and in order")

    events = cli("drift", "events", "--subject", "strategy")
    assert events.out.startswith("#1 2024-01-11 strategy cusum down alarm: CUSUM") and events.out.count("\n") == 1
    (event,) = cli.json("drift", "events", "--limit", "5")  # type: ignore[misc]
    assert event["detector"] == "cusum" and event["date"].startswith("2024-01-11")


def _drift_started(cli: Cli) -> None:
    returns = cli.folder / "backtest.csv"
    rows = [f"2023-{1 + k // 28:02d}-{1 + k % 28:02d},{0.01 * math.sin(1.7 * k):.6f}" for k in range(150)]
    returns.write_text("date,return\n" + "\n".join(rows) + "\n")
    assert cli("drift", "start", "--returns", str(returns)).code == 0


def _observations(cli: Cli) -> list[tuple[int, int, float]]:
    with sqlite3.connect(cli.db) as conn:
        return conn.execute("SELECT step, date, value FROM drift_observations ORDER BY step").fetchall()


def test_a_date_checked_again_with_another_return_is_refused(cli: Cli) -> None:
    _drift_started(cli)
    assert cli("drift", "check", "0.01", "--date", "2024-01-10").code == 0
    _one_line_error(
        cli("drift", "check", "-0.5", "--date", "2024-01-10"),
        2,
        "drift check: error: 2024-01-10 was already checked with return 0.01; a date is fed once",
    )
    result = cli("drift", "check", "0.01", "--date", "2024-01-10")  # a retry: the stored check
    assert (result.code, result.out) == (
        0,
        "drift check of 'strategy' step 1 2024-01-10, return 0.01: no drift (checked before: the stored result, "
        "nothing fed)\n",
    )
    assert _observations(cli) == [(1, 20240110, 0.01)]
    out = cli.json("drift", "check", "0.01", "--date", "2024-01-10")
    assert isinstance(out, dict) and (out["value"], out["already_checked"], out["step"]) == (0.01, True, 1)


@pytest.mark.usefixtures("market")
def test_drift_check_without_a_date_is_dated_by_the_newest_bar(cli: Cli) -> None:
    _drift_started(cli)
    for again in ("", " (checked before: the stored result, nothing fed)"):  # a retried call feeds nothing new
        result = cli("drift", "check", "0.002")
        assert (result.code, result.out) == (
            0,
            "drift check of 'strategy' step 1 2024-01-10 (the newest stored bar's date; --date to give another), "
            f"return 0.002: no drift{again}\n",
        )
    assert _observations(cli) == [(1, 20240110, 0.002)]
    _one_line_error(cli("drift", "check", "0.003"), 2, "2024-01-10 was already checked with return 0.002")
    assert "default: the newest stored bar's date" in " ".join(cli("drift", "check", "--help").out.split())


def test_drift_check_without_a_date_or_bars_asks_for_the_date(cli: Cli) -> None:
    _drift_started(cli)
    _one_line_error(cli("drift", "check", "0.002"), 2, "no bars to date the return by", "--date YYYY-MM-DD")
    assert _observations(cli) == []


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("date,symbol,return\n2024-01-02,AAA,0.1\n", "has 3 column(s) (date, symbol, return)"),
        ("date,return\nyesterday,0.1\n", "data row 1 has 'yesterday' in column 'date', not a date"),
        ("day,return\n2024-01-02,0.1\n2024-01-03,lots\n", "data row 2 has 'lots' in column 'return', not a number"),
        ("", "cannot read it as CSV"),
    ],
)
def test_a_returns_file_that_does_not_fit_says_what_is_expected(cli: Cli, content: str, needle: str) -> None:
    path = cli.folder / "returns.csv"
    path.write_text(content)
    _one_line_error(cli("drift", "start", "--returns", str(path)), 2, needle, "a date column and one column")


def test_every_command_has_one_help_line(cli: Cli) -> None:
    text = cli("--help").out
    commands: Callable[[str], bool] = lambda line: line.startswith("    ") and not line.startswith("     ")  # noqa: E731
    shown = [line.split()[0] for line in text.splitlines() if commands(line)]
    for name in ("order", "orders", "cancel", "positions", "performance", "mark", "process-orders", "reconcile",
                 "killswitch", "drift"):  # fmt: skip
        assert name in shown, text
