"""``python -m ravenshire``: the command line of the data and research layers (more arrive with later layers).

Every command exits 0 on success, 1 when the work failed (a source down, a file rejected) and 2 on bad input
(arguments, configuration), printing one line that says what was wrong and what is allowed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ravenshire.errors import RavenshireError

__all__ = ["main"]

PROG = "python -m ravenshire"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _print(obj: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=str))


def _cmd_init(args: argparse.Namespace) -> int:
    from ravenshire.config import load_config
    from ravenshire.store import current_revision, init_db

    config = load_config()
    engine = init_db(config.store_url, busy_timeout_ms=config.store.busy_timeout_ms)
    revision = current_revision(engine)
    _print({"store": engine.url.render_as_string(hide_password=True), "revision": revision}, args.json)
    if not args.json:
        print(f"store ready at {engine.url.render_as_string(hide_password=True)} (schema revision {revision})")
    return 0


def _manager() -> Any:
    from ravenshire.data import DataManager

    return DataManager(origin="cli")


def _summary_line(summary: Any) -> str:
    span = f"{summary.start}..{summary.end}" if summary.start else ""
    return (
        f"#{summary.fetch_id} {summary.kind} {summary.source} {len(summary.symbols)} symbols {span}: "
        f"{summary.status}, {summary.rows_stored} stored, {summary.rows_rejected} rejected, "
        f"{summary.rows_flagged} flagged" + (f" — {summary.message}" if summary.message else "")
    )


def _cmd_fetch(args: argparse.Namespace) -> int:
    manager = _manager()
    summaries = manager.fetch(args.symbols, args.start, args.end, refresh=args.refresh)
    _print([s.to_dict() for s in summaries], args.json)
    if not args.json:
        for summary in summaries:
            print(_summary_line(summary))
        if not summaries:
            print("nothing to fetch: the store already has every session in range")
    return 1 if any(s.status == "failed" for s in summaries) else 0


def _parse_map(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, target = item.partition("=")
        if not sep or not name or not target:
            raise argparse.ArgumentTypeError(f"--map {item!r} is not FILE_COLUMN=FIELD")
        out[name] = target
    return out


def _cmd_import(args: argparse.Namespace) -> int:
    from ravenshire.errors import ConfigError

    try:
        column_map = _parse_map(args.map or [])
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(str(exc)) from None
    summary = _manager().import_file(
        args.file, layout=args.layout, column_map=column_map or None, symbol=args.symbol, wide_field=args.field
    )
    _print(summary.to_dict(), args.json)
    if not args.json:
        print(_summary_line(summary))
    return 1 if summary.status == "failed" else 0


def _cmd_versions(args: argparse.Namespace) -> int:
    manager = _manager()
    if args.create:
        data = manager.get_market_data(args.symbols, args.start, args.end, create_version=True, label=args.label)
        version = manager.versions.get(data.attrs["data_version"])
        _print(version.to_dict(), args.json)
        if not args.json:
            print(f"version {version.id} ({len(version.symbols)} symbols, {version.n_rows} days)")
        return 0
    versions = manager.list_versions()
    _print([v.to_dict() for v in versions], args.json)
    if not args.json:
        if not versions:
            print("no data versions yet; create one with: python -m ravenshire versions --create")
        for v in versions:
            demo = " DEMO" if v.is_demo else ""
            print(
                f"{v.short_id}  {v.created_at:%Y-%m-%d %H:%M}  {v.start}..{v.end}  {len(v.symbols):>4} symbols  "
                f"{v.n_rows:>6} days  {','.join(v.sources)}{demo}  {v.label or ''}".rstrip()
            )
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    summary, report = _manager().validate_stored(args.symbols, args.start, args.end)
    out = {"summary": summary.to_dict(), "issues": report.issues.astype({"date": str}).to_dict("records")}
    _print(out, args.json)
    if not args.json:
        print(_summary_line(summary))
        for row in report.issues.head(args.limit).itertuples():
            print(f"  {row.symbol:<8} {str(row.date)[:10]:<10} {row.rule:<20} {row.action:<8} {row.detail}")
        if len(report.issues) > args.limit:
            print(f"  … {len(report.issues) - args.limit} more (use --limit or --json)")
    return 1 if (args.strict and not report.issues.empty) else 0


def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _parse_params(items: Sequence[str]) -> dict[str, Any]:
    from ravenshire.errors import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"--param {item!r} is not NAME=VALUE (e.g. --param ma_period=20)")
        out[name.strip()] = _parse_value(value)
    return out


def _cmd_backtest(args: argparse.Namespace) -> int:
    from ravenshire.research.strategies import check_parameters, get_strategy

    # Everything the user typed is checked before any data is fetched or anything is written.
    spec = get_strategy(args.strategy)
    params = check_parameters(spec, _parse_params(args.param or []))
    costs = _costs(args)
    if args.queue:
        return _queue("backtest", {**_job_data(args), "strategy": spec.name, "parameters": params,
                                   "costs": costs.to_dict()}, args)  # fmt: skip
    research, data = _research_on(args)
    result = research.backtest_strategy(
        spec.name, data, params, costs=costs, initial_capital=args.capital, risk_free=args.risk_free
    )
    _print(result.to_dict(), args.json)
    if not args.json:
        _print_result(result)
    return 0


def _parse_space(items: Sequence[str]) -> dict[str, Any]:
    """``NAME=START:STOP:STEP`` (a range, stop included when on the grid) or ``NAME=A,B,...`` (choices)."""
    from ravenshire.errors import ConfigError

    space: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise ConfigError(
                f"--space {item!r} is not NAME=START:STOP:STEP or NAME=A,B,... (e.g. --space fast=10:50:5)"
            )
        if name.strip() in space:
            raise ConfigError(f"--space {name.strip()} is given twice; give each parameter once")
        if ":" in text:
            parts = [_parse_value(p) for p in text.split(":")]
            if len(parts) != 3 or any(isinstance(p, str | bool) for p in parts):
                raise ConfigError(f"--space {item!r}: a range is START:STOP:STEP, three numbers (e.g. 10:50:5)")
            space[name.strip()] = tuple(parts)
        else:
            space[name.strip()] = [_parse_value(v) for v in text.split(",") if v.strip()]
    if not space:
        raise ConfigError("give the search space with --space NAME=START:STOP:STEP (repeatable)")
    return space


def _costs(args: argparse.Namespace) -> Any:
    from ravenshire.research import Costs

    return Costs(
        commission_bps=args.commission_bps,
        slippage_bps=args.slippage_bps,
        fixed_per_trade=args.fixed_cost,
        cash_rate=args.cash_rate,
    )


def _cmd_optimize(args: argparse.Namespace) -> int:
    from ravenshire.errors import ConfigError
    from ravenshire.research.strategies import get_strategy
    from ravenshire.research.sweep import parse_space

    # Everything the user typed is checked before any data is fetched or anything is written.
    spec = get_strategy(args.strategy)
    space = _parse_space(args.space or [])
    parse_space(spec, space)
    costs = _costs(args)
    if args.trials is not None and args.trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {args.trials}")
    if args.test_fraction is not None and not 0.0 <= args.test_fraction < 1.0:
        raise ConfigError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if args.walk_forward is not None and args.walk_forward < 0:
        raise ConfigError(f"--walk-forward must be >= 0 folds, got {args.walk_forward}")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise ConfigError(f"--seed must be in [0, 2**32), got {args.seed}")
    if not args.capital > 0:
        raise ConfigError(f"--capital must be > 0, got {args.capital:g}")
    from ravenshire.research.metrics import per_period_rate

    per_period_rate(args.risk_free)
    if args.queue:
        settings = {"trials": args.trials, "method": args.method, "objective": args.objective,
                    "test_fraction": args.test_fraction, "walk_forward": args.walk_forward, "seed": args.seed,
                    "study": args.study}  # fmt: skip
        job = {**_job_data(args), "strategy": spec.name, "space": space, "costs": costs.to_dict()}
        return _queue("optimize", {**job, **{k: v for k, v in settings.items() if v is not None}}, args)
    research, data = _research_on(args)
    if not args.json and not args.verbose:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = research.optimize_parameters(
        spec.name,
        data,
        space,
        n_trials=args.trials,
        method=args.method,
        objective=args.objective,
        costs=costs,
        risk_free=args.risk_free,
        test_fraction=args.test_fraction,
        walk_forward_folds=args.walk_forward,
        seed=args.seed,
        study_name=args.study,
        initial_capital=args.capital,
    )
    _print(result.to_dict(), args.json)
    if not args.json:
        _print_optimization(result)
    return 0


def _print_optimization(result: Any) -> None:
    demo = "  [DEMO DATA]" if result.is_demo else ""
    print(f"{result.strategy_name}: {result.method} search for the {result.direction[:3]}imum {result.objective}{demo}")
    print(
        f"study {result.study_name} · {result.n_trials} trials, {result.n_distinct} distinct sets · data version "
        f"{(result.data_version or 'none')[:12]}" + (f" · best run #{result.best_run_id}" if result.best_run_id else "")
    )
    params = ", ".join(f"{k}={v}" for k, v in result.best_params.items())
    print(f"best: {params}")
    test = f"{result.test[0]}..{result.test[1]}" if result.test else "none"
    print(f"train {result.train[0]}..{result.train[1]} · test {test}")
    print(f"  {'':<20}{'in sample':>14}{'out of sample':>16}")
    labels = {
        "total_return": "Total return [%]", "cagr": "CAGR [%]", "volatility": "Volatility [%/yr]",
        "sharpe_ratio": "Sharpe ratio", "sortino_ratio": "Sortino ratio", "max_drawdown": "Max drawdown [%]",
        "calmar_ratio": "Calmar ratio",
    }  # fmt: skip
    for key, label in labels.items():
        scale = 100.0 if "[%" in label else 1.0
        oos = result.out_of_sample[key] * scale if result.out_of_sample else float("nan")
        print(f"  {label:<20}{result.in_sample[key] * scale:>14.4g}{oos:>16.4g}")
    sig = result.significance
    verdict = "LIKELY LUCK" if result.likely_luck else "unlikely to be luck"
    print(
        f"deflated Sharpe ratio {sig.deflated_sharpe:.3f} (best of {sig.n_trials}: expected max Sharpe of "
        f"skill-less sets {sig.expected_max_sharpe:.2f}) → {verdict}"
    )
    if result.walk_forward is not None:
        wf = result.walk_forward
        print(
            f"walk-forward, {len(wf.folds)} folds over {wf.n_sets} sets: out-of-sample {result.objective} "
            f"{wf.out_of_sample[result.objective]:.4g} · efficiency {wf.efficiency:.2f}"
        )
        for row in wf.folds.to_dict("records"):
            chosen = ", ".join(f"{k}={row[k]}" for k in result.best_params)
            print(
                f"  fold {row['fold']}: test {row['test_start']}..{row['test_end']}  {chosen}  "
                f"in {row['in_sample']:.4g} → out {row['out_of_sample']:.4g}"
            )


def _research_on(args: argparse.Namespace) -> tuple[Any, Any]:
    """The research manager on the CLI's store and the market data ``--version`` or ``--symbols/--start/--end``
    name (fetched if missing)."""
    from ravenshire.research import ResearchManager

    manager = _manager()
    if args.version:
        data = manager.version_slice(args.version, args.start, args.end)
    else:
        data = manager.get_market_data(args.symbols, args.start, args.end)
    return ResearchManager(manager.config, engine=manager.engine, track=not args.no_track), data


def _print_result(result: Any) -> None:
    demo = "  [DEMO DATA]" if result.is_demo else ""
    params = ", ".join(f"{k}={v}" for k, v in result.parameters.items()) or "defaults"
    print(f"{result.strategy_name} ({params}) {result.start}..{result.end}{demo}")
    version = (result.data_version or "none")[:12]
    print(f"data version {version}" + (f" · run #{result.run_id}" if result.run_id else " · not tracked"))
    rows = [
        ("Total return [%]", 100 * result.total_return), ("CAGR [%]", 100 * result.cagr),
        ("Volatility [%/yr]", 100 * result.volatility), ("Sharpe ratio", result.sharpe_ratio),
        ("Sortino ratio", result.sortino_ratio), ("Max drawdown [%]", 100 * result.max_drawdown),
        ("Calmar ratio", result.calmar_ratio), ("VaR 95 [%/day]", 100 * result.var_95),
        ("CVaR 95 [%/day]", 100 * result.cvar_95), ("Win rate, days [%]", 100 * result.win_rate_daily),
        ("Profit factor, days", result.profit_factor_daily), ("Win rate, trades [%]", 100 * result.win_rate_trades),
        ("Profit factor, trades", result.profit_factor_trades), ("Trades", result.n_trades),
        ("Turnover [x/yr]", result.turnover), ("Exposure [gross]", result.exposure),
    ]  # fmt: skip
    for label, value in rows:
        print(f"  {label:<24}{value:>12.4g}" if isinstance(value, float) else f"  {label:<24}{value:>12}")


def _cmd_config(args: argparse.Namespace) -> int:
    from ravenshire.config import load_config

    config = load_config()
    values = config.to_dict()
    _print(values, args.json)
    if not args.json:
        print(f"; from {config.source} and RAVENSHIRE_<SECTION>_<KEY> environment variables")
        for section, keys in values.items():
            print(f"[{section}]")
            for key, value in keys.items():
                shown = ", ".join(value) if isinstance(value, tuple | list) else value
                print(f"{key} = {shown}")
    return 0


# ---------------------------------------------------------------------------------------------- execution
# The commands below only parse, call the ExecutionManager and print; every decision is the manager's, but for
# the CLI's own input checks (a mark date must be a session with stored bars; a drift check is dated by default).

_OPEN = ("new", "accepted", "partially_filled")
_STATUSES = ("open", *_OPEN, "filled", "rejected", "cancelled")
_RETURNS_FILE = (
    "a CSV with a header row, a date column and one column of daily returns as fractions, "
    "e.g. date,return / 2024-01-02,0.0031"
)


def _number(*, positive: bool) -> Callable[[str], float]:
    """An argparse type: a finite number (> 0 when ``positive``); argparse names the argument."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or (positive and value <= 0):
            kind = "a positive number" if positive else "a finite number"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
        return value

    return parse


def _count(text: str) -> int:
    """An argparse type: a positive integer."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _side(text: str) -> str:
    if text.strip().upper() not in ("BUY", "SELL"):
        raise argparse.ArgumentTypeError(f"must be BUY or SELL, got {text!r}")
    return text.strip().upper()


def _day(text: str) -> str:
    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date YYYY-MM-DD, got {text!r}") from None


def _execution() -> Any:
    from ravenshire.execution import ExecutionManager

    return ExecutionManager(origin="cli")


def _qty(x: float) -> str:
    """A quantity as written, without an exponent: 10, 10.0000005, 0.0000005 (15 significant digits, every digit a
    decimal input can carry in a float, so the noise of a sum such as 0.1 + 0.2 is not shown)."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x.is_integer():
        return str(int(x))
    return format(decimal.Decimal(f"{x:.15g}"), "f")


def _money(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:,.2f}"


def _records(frame: Any) -> list[dict[str, Any]]:
    """A DataFrame as JSON-safe records: NaN → null, times → ISO text."""
    return list(json.loads(frame.to_json(orient="records", date_format="iso", date_unit="s")))


def _order_state(order: Any) -> str:
    filled = f"{_qty(order.filled_quantity)} @ {order.avg_fill_price:.2f}" if order.filled_quantity else ""
    status = str(order.status)
    if status == "filled":
        return f"filled {filled}"
    if status == "partially_filled":
        return f"partially filled {filled}, {_qty(order.remaining)} working"
    if status == "accepted":
        return "accepted, working (nothing filled yet)"
    if status == "new":
        return "sent, waiting for the broker"
    text = f"{status} after filling {filled}" if filled else status
    return f"{text}: {order.reason}" if order.reason else text


def _order_line(order: Any) -> str:
    kind = "market" if order.limit_price is None else f"limit {order.limit_price:.2f}"
    return f"order {order.id} {order.side} {_qty(order.quantity)} {order.symbol} {kind}: {_order_state(order)}"


def _cmd_order(args: argparse.Namespace) -> int:
    from ravenshire.errors import ConfigError

    manager = _execution()
    before = None
    if args.client_order_id is not None:
        try:
            before = manager.get_order(args.client_order_id)
        except ConfigError:
            before = None
    order = manager.execute_trade(
        args.symbol, args.side, args.quantity, price=args.limit, client_order_id=args.client_order_id
    )
    _print({**order.to_dict(), "already_sent": before is not None}, args.json)
    if not args.json:
        again = f" (client order id {order.client_order_id} was sent before; nothing new sent)" if before else ""
        print(_order_line(order) + again)
    return 0 if str(order.status) in _OPEN or str(order.status) == "filled" else 1


def _cmd_orders(args: argparse.Namespace) -> int:
    status = _OPEN if args.status == "open" else args.status
    frame = _execution().orders(status=status, limit=args.limit)
    _print(_records(frame), args.json)
    if args.json:
        return 0
    if frame.empty:
        print("no orders" + (f" with status {args.status}" if args.status else ""))
        return 0
    shown = frame.assign(
        created_at=frame["created_at"].astype(str).str[:16].str.replace("T", " "),
        quantity=frame["quantity"].map(_qty),
        filled_quantity=frame["filled_quantity"].map(_qty),
        order_type=["market" if p is None or p != p else f"limit {p:.2f}" for p in frame["limit_price"].astype(object)],
        avg_fill_price=frame["avg_fill_price"].map(lambda x: "" if x is None or x != x else f"{x:.2f}"),
        reason=frame["reason"].map(lambda r: "" if not isinstance(r, str) else r if len(r) <= 50 else r[:49] + "…"),
    )
    columns = {
        "id": "id", "created_at": "created (UTC)", "client_order_id": "client id", "side": "side",
        "quantity": "qty", "symbol": "symbol", "order_type": "type", "status": "status",
        "filled_quantity": "filled", "avg_fill_price": "avg price", "reason": "reason",
    }  # fmt: skip
    print(shown[list(columns)].rename(columns=columns).to_string(index=False))
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    from ravenshire.errors import ConfigError

    if (args.order is None) == (args.client_order_id is None):
        raise ConfigError(
            "give the order to cancel once: its id (cancel 12) or its client order id (cancel --client-order-id ID)"
        )
    target: int | str
    if args.client_order_id is not None:
        target = args.client_order_id  # always a client order id, all digits included
    else:
        target = int(args.order) if args.order.isdigit() else args.order
    manager = _execution()
    order = manager.cancel_order(target) if args.reason is None else manager.cancel_order(target, reason=args.reason)
    _print(order.to_dict(), args.json)
    if not args.json:
        print(_order_line(order))
    return 0


def _cmd_positions(args: argparse.Namespace) -> int:
    frame = _execution().positions()
    _print(_records(frame.reset_index()), args.json)
    if args.json:
        return 0
    if frame.empty:
        print("no open positions")
        return 0
    shown = frame.assign(quantity=frame["quantity"].map(_qty))
    labels = {
        "quantity": "quantity", "avg_cost": "avg cost", "mark": "mark", "market_value": "market value",
        "unrealized_pnl": "unrealized P&L", "realized_pnl": "realized P&L",
    }  # fmt: skip
    print(shown[list(labels)].rename(columns=labels).to_string(float_format=_money))
    print(
        f"{len(frame)} positions · market value {_money(frame['market_value'].sum())} · unrealized P&L "
        f"{_money(frame['unrealized_pnl'].sum())}"
    )
    return 0


def _metric_rows(m: Any) -> list[tuple[str, str]]:
    def pct(x: float) -> str:
        return "n/a" if not math.isfinite(x) else f"{100 * x:.2f}"

    pf = "n/a" if math.isnan(m.profit_factor) else "inf" if math.isinf(m.profit_factor) else f"{m.profit_factor:.2f}"
    return [
        ("Equity", _money(m.equity)), ("Cash", _money(m.cash)), ("Long value", _money(m.long_value)),
        ("Short value", _money(m.short_value)), ("Gross exposure [%]", pct(m.gross_exposure)),
        ("Net exposure [%]", pct(m.net_exposure)), ("Realized P&L", _money(m.realized_pnl)),
        ("Unrealized P&L", _money(m.unrealized_pnl)), ("Total P&L", _money(m.total_pnl)),
        ("Daily P&L", _money(m.daily_pnl)), ("Win rate [%]", pct(m.win_rate)), ("Profit factor", pf),
        ("Trades (fills)", str(m.n_trades)), ("Closed trades", str(m.n_closed_trades)),
        ("Turnover today [%]", pct(m.turnover)), ("Traded value", _money(m.traded_value)),
        ("Commissions", _money(m.commissions)), ("Peak equity", _money(m.peak_equity)),
        ("Drawdown [%]", pct(m.current_drawdown)), ("Positions", str(m.n_positions)),
    ]  # fmt: skip


def _cmd_performance(args: argparse.Namespace) -> int:
    manager = _execution()
    metrics = manager.get_performance_metrics()
    demo = bool(manager.config.is_demo)
    _print({**metrics.to_dict(), "account": manager.account_id, "is_demo": demo}, args.json)
    if not args.json:
        print(f"account {manager.account_id} as of {metrics.as_of:%Y-%m-%d}" + ("  [DEMO DATA]" if demo else ""))
        for label, value in _metric_rows(metrics):
            print(f"  {label:<22}{value:>16}")
    return 0


def _check_mark_date(manager: Any, day: str) -> None:
    """Refuse a ``mark --date`` that is not a session of ``[DATA] exchange`` or is before the oldest stored bar."""
    import pandas as pd
    from sqlalchemy import func, select

    from ravenshire.data.calendar import sessions
    from ravenshire.errors import ConfigError
    from ravenshire.store import read
    from ravenshire.store import schema as s
    from ravenshire.store.dates import from_date_keys

    stamp = pd.Timestamp(day)
    exchange = manager.config.data.exchange
    if sessions(stamp, stamp, exchange).empty:
        before = sessions(stamp - pd.Timedelta(days=10), stamp, exchange)
        hint = f"; the session before it is {before[-1]:%Y-%m-%d}" if len(before) else ""
        raise ConfigError(f"--date {day} ({stamp:%A}) is not a trading session of {exchange} ([DATA] exchange){hint}")
    with read(manager.engine) as conn:
        first = conn.execute(select(func.min(s.series.c.first_date))).scalar()
    if first is None:
        raise ConfigError(f"--date {day}: the store holds no bars yet; fetch or import them first")
    oldest = from_date_keys([int(first)])[0]
    if stamp < oldest:
        raise ConfigError(f"--date {day} is before the oldest stored bar ({oldest:%Y-%m-%d}); give a later session")


def _cmd_mark(args: argparse.Namespace) -> int:
    manager = _execution()
    if args.date is not None:
        _check_mark_date(manager, args.date)
    before = manager.kill_switch()
    m = manager.mark_to_market(args.date)
    after = manager.kill_switch()
    tripped = after.active and not before.active
    _print({**m.to_dict(), "kill_switch": after.to_dict(), "kill_switch_set": tripped}, args.json)
    if not args.json:
        demo = "  [DEMO DATA]" if manager.config.is_demo else ""
        print(
            f"snapshot {m.as_of:%Y-%m-%d}: equity {_money(m.equity)}, cash {_money(m.cash)}, gross "
            f"{100 * m.gross_exposure:.1f} %, net {100 * m.net_exposure:.1f} %, daily P&L {_money(m.daily_pnl)}, "
            f"drawdown {100 * m.current_drawdown:.1f} %, {m.n_positions} positions{demo}"
        )
        if tripped:
            print(f"this snapshot SET the kill switch: {after.message}")
    return 0


def _cmd_process_orders(args: argparse.Namespace) -> int:
    changed = _execution().process_open_orders()
    _print([o.to_dict() for o in changed], args.json)
    if not args.json:
        for order in changed:
            print(_order_line(order))
        if not changed:
            print("no working order changed")
    return 0


def _cmd_reconcile(args: argparse.Namespace) -> int:
    report = _execution().reconcile()
    _print(report.to_dict(), args.json)
    if not args.json:
        print(report.message)
        for title, frame in (("position breaks", report.position_breaks), ("order breaks", report.order_breaks)):
            if not frame.empty:
                print(f"{title}:")
                print(frame.to_string(index=False))
    return 0 if report.ok else 1


def _cmd_cycle(args: argparse.Namespace) -> int:
    from ravenshire.agents import AgentCoordinator

    if args.queue:
        return _queue("agent_cycle", {"date": args.date} if args.date else {}, args)
    result = AgentCoordinator().run_cycle(args.date)
    _print(result.to_dict(), args.json)
    if not args.json:
        demo = "  [DEMO DATA]" if result.is_demo else ""
        again = " (done before: the stored decision; nothing was sent again)" if result.reused else ""
        if result.status == "expired":
            again = " (EXPIRED: decided for its session but never sent; a later session's bars are stored)"
        confidence = "?" if result.confidence is None else f"{result.confidence:.0%}"
        print(
            f"{result.cycle_id}: {result.recommendation} at confidence {confidence}, regime {result.regime}{again}"
            f"{demo}"
        )
        for veto in result.vetoes:
            where = "book" if veto.get("scope") == "book" else veto.get("symbol")
            print(f"  veto ({where}, {veto.get('reason')}): {veto.get('detail')}")
        for order in result.orders:
            outcome = order.get("status", "planned")
            fill = (
                f" {_qty(order['filled_quantity'])} @ {order['avg_fill_price']:.2f}"
                if order.get("avg_fill_price")
                else ""
            )
            reason = f": {order['reason']}" if order.get("reason") else ""
            print(f"  order {order['side']} {_qty(order['quantity'])} {order['symbol']}: {outcome}{fill}{reason}")
        if not result.orders:
            print("  no order")
    return 0


def _job_data(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {"start": args.start, "end": args.end, "capital": args.capital, "risk_free": args.risk_free}
    if args.version:
        data["version"] = args.version
    elif args.symbols:
        data["symbols"] = args.symbols
    return data


def _queue(kind: str, params: dict[str, Any], args: argparse.Namespace) -> int:
    """Submit a job to the scheduler's queue instead of running it here."""
    from ravenshire.config import load_config
    from ravenshire.orchestration import scheduler_heartbeat, submit_job
    from ravenshire.store import init_db

    config = load_config()
    engine = init_db(config.store_url, busy_timeout_ms=config.store.busy_timeout_ms)
    job = submit_job(engine, kind, params, submitted_by=_operator(None), config=config)
    beat = scheduler_heartbeat(engine, config.schedule.heartbeat_seconds)
    _print(job.to_dict(), args.json)
    if not args.json:
        print(f"job #{job.id} ({kind}) queued; follow it with: {PROG} jobs show {job.id}")
        if beat is None or not beat.alive:
            print("the scheduler is not running: the job waits until `python scheduler.py` runs")
    return 0


def _job_line(job: Any) -> str:
    waited = f", waited {job.wait_s:.2f} s" if job.wait_s is not None else ""
    progress = f" {100 * job.progress:.0f} %" if job.progress is not None and job.status == "running" else ""
    tail = f" — {job.error}" if job.error else (f" — {job.message}" if job.message else "")
    return f"#{job.id} {job.kind} {job.status}{progress} (by {job.submitted_by}{waited}){tail}"


def _cmd_jobs(args: argparse.Namespace) -> int:
    from ravenshire.config import load_config
    from ravenshire.orchestration import Job, cancel_job, get_job, list_jobs, submit_job
    from ravenshire.store import init_db

    config = load_config()
    engine = init_db(config.store_url, busy_timeout_ms=config.store.busy_timeout_ms)
    if args.jobs_command == "list":
        frame = list_jobs(engine, status=args.status, kind=args.kind, limit=args.limit)
        jobs = [get_job(engine, int(i)) for i in frame["id"]]
        _print([j.to_dict() for j in jobs], args.json)
        if not args.json:
            for listed in jobs:
                print(_job_line(listed))
            if not jobs:
                print(f"no job; queue one with --queue on backtest/optimize/cycle, or: {PROG} jobs submit ping")
        return 0
    if args.jobs_command == "submit":
        params = _parse_params(args.param or [])
        job: Job = submit_job(engine, args.kind, params, submitted_by=_operator(args.by), config=config)
    elif args.jobs_command == "cancel":
        job = cancel_job(engine, args.id)
    else:
        job = get_job(engine, args.id)
    _print(job.to_dict(), args.json)
    if not args.json:
        print(_job_line(job))
        if job.result:
            print("result: " + json.dumps(job.result, default=str))
    return 1 if args.jobs_command == "show" and job.status in ("failed", "interrupted") else 0


def _cmd_hash_password(args: argparse.Namespace) -> int:
    import getpass

    from ravenshire.errors import ConfigError
    from ravenshire.security import hash_password

    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ConfigError("the two passwords differ; nothing was printed")
    if len(password) < 8:
        raise ConfigError("use a password of at least 8 characters")
    print(hash_password(password))
    return 0


def _operator(by: str | None) -> str:
    if by is not None:
        return by
    import getpass

    try:
        return getpass.getuser() or "cli"
    except (ImportError, KeyError, OSError):  # no user name here (a container without one)
        return "cli"


def _cmd_killswitch(args: argparse.Namespace) -> int:
    from ravenshire.errors import ConfigError

    if args.action != "status" and not (args.reason or "").strip():
        why = "trading is halted" if args.action == "on" else "trading may resume"
        raise ConfigError(f"killswitch {args.action} needs --reason TEXT (why {why}; it is kept in the audit trail)")
    if args.by is not None and not 1 <= len(args.by.strip()) <= 64:
        raise ConfigError(f"--by must be a name of 1–64 characters, got {args.by!r}")
    manager = _execution()
    before = manager.kill_switch()
    working = 0
    if args.action == "on":
        working = len(manager.orders(status=_OPEN, limit=1_000_000)) if not before.active else 0
        state = manager.set_kill_switch(actor=_operator(args.by), reason=args.reason)
    elif args.action == "off":
        state = manager.clear_kill_switch(actor=_operator(args.by), reason=args.reason)
    else:
        state = before
    changed = state.active != before.active
    _print({**state.to_dict(), "changed": changed, "cancelled_orders": working}, args.json)
    if not args.json:
        if args.action == "status":
            print(state.message)
        elif not changed:
            print(f"kill switch already {args.action}: {state.message}")
        elif args.action == "on":
            print(f"{state.message}; {working} working order(s) cancelled")
        else:
            print(f"kill switch cleared by {state.actor}: {state.reason}; trading is on")
    return 0


def _read_returns(path: str) -> Any:
    """The reference returns of ``drift start --returns``: a Series indexed by date."""
    import pandas as pd

    from ravenshire.errors import ConfigError

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ConfigError(f"--returns {path}: no such file; expected {_RETURNS_FILE}") from None
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"--returns {path}: cannot read it as CSV ({first}); expected {_RETURNS_FILE}") from None
    columns = [str(c).strip() for c in frame.columns]
    if len(columns) != 2:
        raise ConfigError(
            f"--returns {path} has {len(columns)} column(s) ({', '.join(columns)}); expected {_RETURNS_FILE}"
        )
    d = [c.lower() for c in columns].index("date") if "date" in [c.lower() for c in columns] else 0
    raw_dates, raw_values = frame.iloc[:, d], frame.iloc[:, 1 - d]
    dates = pd.to_datetime(raw_dates.astype(str), errors="coerce", format="ISO8601")
    values = pd.to_numeric(raw_values, errors="coerce")
    for what, raw, bad in (
        ("date", raw_dates, dates.isna()),
        ("number", raw_values, values.isna() & raw_values.notna()),
    ):
        if bad.any():
            k = int(bad.to_numpy().nonzero()[0][0])
            raise ConfigError(
                f"--returns {path}: data row {k + 1} has {raw.iloc[k]!r} in column {raw.name!r}, not a {what}; "
                f"expected {_RETURNS_FILE}"
            )
    return pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(dates), name="return").sort_index()


def _cmd_drift_start(args: argparse.Namespace) -> int:
    from ravenshire.errors import ConfigError

    returns, source = None, f"run #{args.run}"
    if args.returns is not None:
        returns = _read_returns(args.returns)
        source = f"{args.returns} ({int(returns.notna().sum())} returns)"
    manager = _execution()
    if not args.replace and manager.drift_monitor(args.subject).is_started():
        raise ConfigError(
            f"drift detection of {args.subject!r} is already started; add --replace to start again from this "
            "reference (its observations are deleted, its events kept)"
        )
    detector = manager.start_drift_monitor(returns, run_id=args.run, subject=args.subject, replace=args.replace)
    out = {
        "subject": args.subject, "reference": source, "detectors": list(detector.detectors),
        "reference_mean": detector.reference_mean, "reference_sigma": detector.reference_sigma,
    }  # fmt: skip
    _print(out, args.json)
    if not args.json:
        print(
            f"drift detection of {args.subject!r} started from {source}: {', '.join(detector.detectors)}; "
            f"reference mean {detector.reference_mean:.4g}, σ {detector.reference_sigma:.4g}"
        )
    return 0


def _cmd_drift_check(args: argparse.Namespace) -> int:
    from ravenshire.errors import ConfigError

    manager = _execution()
    monitor = manager.drift_monitor(args.subject)
    if not monitor.is_started():
        raise ConfigError(
            f"drift detection of {args.subject!r} is not started; start it with: {PROG} drift start "
            f"--returns FILE.csv (or --run ID)" + (f" --subject {args.subject}" if args.subject != "strategy" else "")
        )
    day, source = args.date, ""
    if day is None:  # dated, so that a retried call is the same step, not a second return
        latest = manager.bars.latest_date()
        if latest is None:
            raise ConfigError(
                "the store holds no bars to date the return by: give its business date with --date YYYY-MM-DD"
            )
        day, source = f"{latest:%Y-%m-%d}", " (the newest stored bar's date; --date to give another)"
    checked_before = monitor.stored_return(day) is not None
    result = manager.check_for_drift(args.value, day, subject=args.subject)
    stored = monitor.stored_return(day)
    value = args.value if stored is None else stored
    out = {"subject": args.subject, "value": value, "already_checked": checked_before, **result.to_dict()}
    _print(out, args.json)
    if not args.json:
        when = f" {result.when:%Y-%m-%d}{source}" if result.when is not None else ""
        verdict = f"DRIFT ({len(result.events)} detection(s))" if result.drift_detected else "no drift"
        again = " (checked before: the stored result, nothing fed)" if checked_before else ""
        print(f"drift check of {args.subject!r} step {result.step}{when}, return {value:g}: {verdict}{again}")
        for event in result.events:
            print(f"  {event.detector} {event.direction}: {event.message}")
    return 1 if result.drift_detected else 0


def _cmd_drift_events(args: argparse.Namespace) -> int:
    from ravenshire.execution import drift_events

    events = _records(drift_events(_execution().engine, subject=args.subject, limit=args.limit))
    _print(events, args.json)
    if not args.json:
        if not events:
            print("no drift events" + (f" for {args.subject!r}" if args.subject else ""))
        for e in events:
            day = (e["date"] or "no date")[:10]
            print(f"#{e['id']} {day} {e['subject']} {e['detector']} {e['direction']} {e['severity']}: {e['message']}")
    return 0


def _add_execution_commands(sub: Any) -> None:
    def json_flag(p: argparse.ArgumentParser) -> None:
        # SUPPRESS: when not given here, the global --json (before the command) still counts
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print results as JSON")

    p = sub.add_parser(
        "order",
        help="send one paper order through the pre-trade checks",
        description="Send one order. Exit 0 when it filled or is working, 1 when it was rejected or is cancelled "
        "(the line says why), 2 for bad input.",
    )
    p.add_argument("side", type=_side, metavar="SIDE", help="BUY or SELL")
    p.add_argument("symbol", metavar="SYMBOL", help="ticker with stored prices, e.g. AAPL")
    p.add_argument("quantity", type=_number(positive=True), metavar="QUANTITY", help="shares, > 0")
    p.add_argument("--limit", type=_number(positive=True), metavar="PRICE", help="limit price")
    p.add_argument("--client-order-id", metavar="ID", help="idempotency key: the same id again sends nothing new")
    json_flag(p)
    p.set_defaults(func=_cmd_order)
    p = sub.add_parser("orders", help="list orders, newest first")
    p.add_argument("--status", choices=_STATUSES, help="only this status (open = new, accepted, partially_filled)")
    p.add_argument("--limit", type=_count, default=50, metavar="N", help="orders to list (default 50)")
    json_flag(p)
    p.set_defaults(func=_cmd_orders)
    p = sub.add_parser("cancel", help="cancel a working order")
    p.add_argument(
        "order", nargs="?", metavar="ORDER",
        help="order id (all digits), or a client order id (anything else; an all-digit one needs --client-order-id)",
    )  # fmt: skip
    p.add_argument("--client-order-id", metavar="ID", help="cancel the order of this client order id (any form)")
    p.add_argument("--reason", metavar="TEXT", help="why (stored with the order)")
    json_flag(p)
    p.set_defaults(func=_cmd_cancel)
    p = sub.add_parser("positions", help="open positions with cost, mark and P&L")
    json_flag(p)
    p.set_defaults(func=_cmd_positions)
    p = sub.add_parser("performance", help="live performance of the paper account")
    json_flag(p)
    p.set_defaults(func=_cmd_performance)
    p = sub.add_parser("mark", help="store the daily mark-to-market snapshot")
    p.add_argument(
        "--date", type=_day,
        help="business date YYYY-MM-DD, a session of [DATA] exchange (default: the latest stored bar)",
    )  # fmt: skip
    json_flag(p)
    p.set_defaults(func=_cmd_mark)
    p = sub.add_parser("process-orders", help="advance working orders against newer bars")
    json_flag(p)
    p.set_defaults(func=_cmd_process_orders)
    p = sub.add_parser(
        "cycle",
        help="run the five agents' decision cycle for a date",
        description="Run the agent cycle (Oracle, Analyst, Strategist, Sentinel, Sovereign) for a business date on "
        "the stored data, send the approved orders to the paper account and print the decision and the vetoes. A date "
        "already done returns its stored decision and sends nothing again.",
    )
    p.add_argument("--date", help="business date YYYY-MM-DD (default: the newest stored session)")
    p.add_argument("--queue", action="store_true", help="queue it for the scheduler instead of running it here")
    json_flag(p)
    p.set_defaults(func=_cmd_cycle)
    p = sub.add_parser(
        "reconcile",
        help="check the ledger against its fills",
        description="Recompute positions, cash and filled quantities from the fills. Exit 0 when they match, 1 "
        "when they do not (the breaks are listed).",
    )
    json_flag(p)
    p.set_defaults(func=_cmd_reconcile)
    p = sub.add_parser(
        "killswitch",
        help="show, set or clear the trading halt",
        description="While the kill switch is on every order is rejected; setting it cancels the working orders. "
        "on and off need --reason (kept in the audit trail).",
    )
    p.add_argument("action", choices=("status", "on", "off"), help="status, on (halt trading) or off (resume)")
    p.add_argument("--reason", metavar="TEXT", help="why; required by on and off")
    p.add_argument("--by", metavar="NAME", help="who (default: the OS user name)")
    json_flag(p)
    p.set_defaults(func=_cmd_killswitch)
    _add_drift_commands(sub, json_flag)


def _add_drift_commands(sub: Any, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    drift = sub.add_parser("drift", help="drift detection of live returns against the backtest")
    actions = drift.add_subparsers(dest="drift_command", required=True, parser_class=_Parser, metavar="ACTION")
    p = actions.add_parser("start", help="start the detectors from a backtest run or a returns file")
    ref = p.add_mutually_exclusive_group(required=True)
    ref.add_argument("--run", type=_count, metavar="ID", help="a stored backtest run (see backtest)")
    ref.add_argument("--returns", metavar="FILE.csv", help="CSV of date and daily return columns")
    p.add_argument("--subject", default="strategy", help="what is watched (default strategy)")
    p.add_argument("--replace", action="store_true", help="start again if already started (keeps the events)")
    json_flag(p)
    p.set_defaults(func=_cmd_drift_start)
    p = actions.add_parser("check", help="feed one live return (exit 1 when drift is detected)")
    p.add_argument("value", type=_number(positive=False), metavar="RETURN", help="e.g. 0.004 for +0.4 %%")
    p.add_argument(
        "--date", type=_day,
        help="its business date YYYY-MM-DD (default: the newest stored bar's date); a date is fed once, so a retried "
        "call feeds nothing new",
    )  # fmt: skip
    p.add_argument("--subject", default="strategy", help="what is watched (default strategy)")
    json_flag(p)
    p.set_defaults(func=_cmd_drift_check)
    p = actions.add_parser("events", help="the newest drift detections")
    p.add_argument("--subject", help="only this subject")
    p.add_argument("--limit", type=_count, default=50, metavar="N", help="events to list (default 50)")
    json_flag(p)
    p.set_defaults(func=_cmd_drift_events)


def _build_parser() -> argparse.ArgumentParser:
    from ravenshire.config import OBJECTIVES, OPTIMIZERS

    parser = _Parser(prog=PROG, description="Ravenshire: operations system of a systematic fund.")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    def span(p: argparse.ArgumentParser) -> None:
        p.add_argument("--symbols", help="comma-separated symbols (default: [DATA] universe)")
        p.add_argument("--start", help="first day, YYYY-MM-DD (default: [DATA] history_start)")
        p.add_argument("--end", help="last day, YYYY-MM-DD (default: the latest closed session)")

    def costs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--commission-bps", type=float, default=0.0, help="commission, bps of traded value")
        p.add_argument("--slippage-bps", type=float, default=0.0, help="slippage, bps of traded value")
        p.add_argument("--fixed-cost", type=float, default=0.0, help="fixed cost per order, in currency")
        p.add_argument("--cash-rate", type=float, default=0.0, help="yearly rate earned on cash (0.03 = 3 %%)")
        p.add_argument("--capital", type=float, default=100_000.0, help="initial capital (default 100000)")
        p.add_argument("--risk-free", type=float, default=0.0, help="yearly risk-free rate for Sharpe/Sortino")

    sub.add_parser("init", help="create or upgrade the state store").set_defaults(func=_cmd_init)
    p = sub.add_parser("fetch", help="fetch, validate and store missing market data")
    span(p)
    p.add_argument("--refresh", action="store_true", help="fetch the whole range again, not only the gaps")
    p.set_defaults(func=_cmd_fetch)
    p = sub.add_parser("import", help="import a CSV or Parquet file of daily bars")
    p.add_argument("file", help="path of a .csv or .parquet file")
    p.add_argument("--layout", choices=("auto", "long", "wide"), default="auto")
    p.add_argument("--symbol", help="symbol of a single-symbol file without a symbol column")
    p.add_argument("--field", default="close", help="field held by a wide file's columns (default close)")
    p.add_argument("--map", action="append", metavar="COLUMN=FIELD", help="map a file column to a field")
    p.set_defaults(func=_cmd_import)
    p = sub.add_parser("versions", help="list data versions, or create one with --create")
    span(p)
    p.add_argument("--create", action="store_true", help="snapshot the market data of --symbols/--start/--end")
    p.add_argument("--label", help="a note stored with a created version")
    p.set_defaults(func=_cmd_versions)
    p = sub.add_parser("validate", help="check stored market data and log the report")
    span(p)
    p.add_argument("--limit", type=int, default=50, help="issues to print (default 50)")
    p.add_argument("--strict", action="store_true", help="exit 1 when any issue is found")
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("backtest", help="backtest a built-in strategy and track the run")
    p.add_argument("strategy", help="built-in strategy, e.g. ma_crossover, xs_momentum, equal_weight")
    span(p)
    p.add_argument("--version", help="run on a stored data version instead of fetching (id or prefix)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="a strategy parameter (repeatable)")
    costs(p)
    p.add_argument("--no-track", action="store_true", help="do not record the run in the store")
    p.add_argument("--queue", action="store_true", help="queue it for the scheduler instead of running it here")
    p.set_defaults(func=_cmd_backtest)
    p = sub.add_parser("optimize", help="search a built-in strategy's parameters, judged out of sample")
    p.add_argument("strategy", help="built-in strategy, e.g. ma_crossover_fast_slow")
    span(p)
    p.add_argument("--version", help="run on a stored data version instead of fetching (id or prefix)")
    p.add_argument(
        "--space", action="append", metavar="NAME=RANGE",
        help="a searched parameter: NAME=START:STOP:STEP (stop included) or NAME=A,B,... (repeatable)",
    )  # fmt: skip
    p.add_argument("--method", choices=OPTIMIZERS, help="grid, tpe or random (default: [RESEARCH] optimizer)")
    p.add_argument("--objective", choices=OBJECTIVES, help="metric to optimise (default: [RESEARCH] objective)")
    p.add_argument("--trials", type=int, help="Optuna trials (default: [RESEARCH] n_trials)")
    p.add_argument("--test-fraction", type=float, help="share of the dates held out (default: [RESEARCH])")
    p.add_argument("--walk-forward", type=int, metavar="FOLDS", help="walk-forward folds, 0 = off")
    p.add_argument("--seed", type=int, help="sampler seed (default: [RESEARCH] seed)")
    p.add_argument("--study", help="Optuna study name: run again to resume, or share it between workers")
    p.add_argument("--verbose", action="store_true", help="print Optuna's log of every trial")
    costs(p)
    p.add_argument("--no-track", action="store_true", help="keep the study in memory and record no runs")
    p.add_argument("--queue", action="store_true", help="queue the study for the scheduler instead of running it")
    p.set_defaults(func=_cmd_optimize)
    jobs = sub.add_parser("jobs", help="the scheduler's job queue: list, submit, show, cancel")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True, parser_class=_Parser, metavar="ACTION")
    p = jsub.add_parser("list", help="jobs, newest first")
    p.add_argument("--status", choices=("queued", "running", "succeeded", "failed", "cancelled", "interrupted"))
    p.add_argument("--kind", help="only this kind (backtest, optimize, data_cycle, ...)")
    p.add_argument("--limit", type=int, default=50)
    p = jsub.add_parser("submit", help="queue a job: ping, data_cycle, monitoring_cycle, agent_cycle, ...")
    p.add_argument("kind", help="the job kind")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="a job setting, e.g. date=2024-06-28")
    p.add_argument("--by", help="your name in the queue (default: the OS user)")
    for action in ("show", "cancel"):
        p = jsub.add_parser(action, help=f"{action} one job" + (" (only a queued one)" if action == "cancel" else ""))
        p.add_argument("id", type=int, help="the job id")
    jobs.set_defaults(func=_cmd_jobs)
    p = sub.add_parser("hash-password", help="print a password hash for the UI login (never store the password)")
    p.add_argument("--stdin", action="store_true", help="read the password from the first line of stdin")
    p.set_defaults(func=_cmd_hash_password)
    sub.add_parser("config", help="show the effective configuration").set_defaults(func=_cmd_config)
    _add_execution_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _build_parser().parse_args(argv)
    for nested in ("drift_command", "jobs_command"):
        if getattr(args, nested, None):
            args.command = f"{args.command} {getattr(args, nested)}"
    try:
        return int(args.func(args))
    except RavenshireError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2 if exc.action == "refuse" else 1
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unforeseen failure: still one line; the traceback on request
        if os.environ.get("RAVENSHIRE_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        print(
            f"{PROG} {args.command}: unexpected error ({type(exc).__name__}): {first} "
            "(set RAVENSHIRE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
