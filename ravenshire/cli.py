"""``python -m ravenshire``: the command line of the data layer (more commands arrive with later layers).

Every command exits 0 on success, 1 when the work failed (a source down, a file rejected) and 2 on bad input
(arguments, configuration), printing one line that says what was wrong and what is allowed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
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


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Ravenshire: operations system of a systematic fund.")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def span(p: argparse.ArgumentParser) -> None:
        p.add_argument("--symbols", help="comma-separated symbols (default: [DATA] universe)")
        p.add_argument("--start", help="first day, YYYY-MM-DD (default: [DATA] history_start)")
        p.add_argument("--end", help="last day, YYYY-MM-DD (default: the latest closed session)")

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
    sub.add_parser("config", help="show the effective configuration").set_defaults(func=_cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _build_parser().parse_args(argv)
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
