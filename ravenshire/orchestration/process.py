"""``python scheduler.py``: the command line of the scheduler process.

::

    python scheduler.py                          # run the daily cycles and the job queue until SIGTERM/SIGINT
    python scheduler.py --list                   # the jobs, their next run times, the heartbeat; then exit
    python scheduler.py --once agent [--date D]  # one cycle now (data, monitoring or agent); then exit
    python scheduler.py --backfill FROM TO       # the data and monitoring cycles of every session in FROM..TO

Exit codes: 0 done (or stopped cleanly), 1 a cycle failed or another scheduler is running, 2 bad input
(arguments, configuration), with one line on stderr saying what was wrong and what is allowed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from ravenshire.errors import ConfigError, RavenshireError

__all__ = ["main"]

PROG = "python scheduler.py"
BACKFILL_KINDS = ("data", "monitoring")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Ravenshire's scheduler: the daily cycles and the job queue.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", metavar="CYCLE", choices=("data", "monitoring", "agent"),
                      help="run one cycle now and exit: data, monitoring or agent")  # fmt: skip
    mode.add_argument("--backfill", nargs=2, metavar=("FROM", "TO"),
                      help="run the data and monitoring cycles of each session FROM..TO (YYYY-MM-DD)")  # fmt: skip
    mode.add_argument("--list", action="store_true", help="print the jobs and their next run times, then exit")
    p.add_argument("--date", help="with --once: the business date (default: the cycle's date now)")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return p


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))


def _outcome_line(outcome: Any) -> str:
    run = outcome.run
    steps = ", ".join(
        f"{name} {r.status}" + (f" ×{r.attempts}" if r.attempts > 1 else "") for name, r in run.steps.items()
    )
    error = f" — {run.error}" if run.error else ""
    return f"{outcome.cycle_id or outcome.kind}: {outcome.status} in {run.duration_s:.1f} s ({steps}){error}"


def _list(config: Any, engine: Any, as_json: bool) -> int:
    from ravenshire.orchestration.schedule import SchedulerService, scheduler_heartbeat

    service = SchedulerService(config, engine)
    entries = service.schedule.entries()
    beat = scheduler_heartbeat(engine, config.schedule.heartbeat_seconds)
    due = service.plan()
    if as_json:
        print(json.dumps({"jobs": [e.to_dict() for e in entries], "heartbeat": beat.to_dict() if beat else None,
                          "due": [{"cycle": k, "date": str(d.date())} for k, d in due]}, indent=2))  # fmt: skip
        return 0
    print(f"schedule ({config.schedule.timezone}, on {config.schedule.days}):")
    for e in entries:
        nxt = "-" if e.next_run is None else f"{e.next_run:%Y-%m-%d %H:%M:%S} UTC"
        print(f"  {e.id:<18} next run {nxt}   {e.trigger}")
    if beat is None:
        print("scheduler: never ran on this store")
    else:
        state = "ALIVE" if beat.alive else "DOWN"
        print(
            f"scheduler: {state} ({beat.status}, pid {beat.pid} on {beat.host}, last heartbeat {beat.age_s:.0f} s ago)"
        )
    print("due now: " + (", ".join(f"{k} {d.date()}" for k, d in due) if due else "nothing"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.date and not args.once:
        _parser().error("--date goes with --once")
    _setup_logging(args.log_level)
    try:
        from ravenshire.config import load_config
        from ravenshire.store import init_db

        config = load_config()
        engine = init_db(config.store_url, busy_timeout_ms=config.store.busy_timeout_ms)
        if args.list:
            return _list(config, engine, args.json)
        if args.once or args.backfill:
            return _run_cycles(args, config, engine)
        from ravenshire.orchestration.schedule import SchedulerService

        return SchedulerService(config, engine).run()
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except RavenshireError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unforeseen failure: one line; the traceback on request
        if os.environ.get("RAVENSHIRE_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"{PROG}: unexpected error ({type(exc).__name__}): {first} (set RAVENSHIRE_DEBUG=1 for the traceback)",
              file=sys.stderr)  # fmt: skip
        return 1


def _plan(args: argparse.Namespace, config: Any) -> tuple[list[tuple[str, Any]], str]:
    """The (cycle, date) pairs ``--once`` or ``--backfill`` asks for, and the trigger to record."""
    import pandas as pd

    from ravenshire.data.calendar import sessions

    if args.once:
        return [(args.once, args.date)], "once"
    try:
        first, last = (pd.Timestamp(x) for x in args.backfill)
    except ValueError:
        raise ConfigError(f"--backfill {args.backfill[0]} {args.backfill[1]}: dates must be YYYY-MM-DD") from None
    if first > last:
        raise ConfigError(f"--backfill {first.date()} {last.date()}: FROM must not be after TO")
    days = sessions(first, last, config.data.exchange)
    if len(days) == 0:
        raise ConfigError(f"--backfill {first.date()}..{last.date()} holds no session of {config.data.exchange}")
    return [(kind, day) for day in days for kind in BACKFILL_KINDS], "backfill"


def _run_cycles(args: argparse.Namespace, config: Any, engine: Any) -> int:
    from ravenshire.orchestration.cycles import recover_interrupted, run_cycle
    from ravenshire.orchestration.workflow import WorkflowExecutor

    recover_interrupted(engine)
    stop = threading.Event()
    executor = WorkflowExecutor(engine, stop=stop)

    def on_signal(signum: int, _frame: Any) -> None:  # the step in flight finishes; a second signal exits now
        if stop.is_set():
            os._exit(128 + signum)
        print(f"{PROG}: stopping after the step in flight ({signal.Signals(signum).name} again to exit now)",
              file=sys.stderr)  # fmt: skip
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    plan, trigger = _plan(args, config)
    failed = 0
    results = []
    for kind, date in plan:
        if stop.is_set():
            break
        outcome = run_cycle(kind, engine, config, date, trigger=trigger, executor=executor)
        results.append(outcome.to_dict())
        if not args.json:
            print(_outcome_line(outcome))
        if not outcome.ok:
            failed += 1
            if args.backfill:  # later dates build on this one: stop here
                print(f"backfill stopped at {outcome.cycle_id}: fix the cause and run it again", file=sys.stderr)
                break
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 1 if failed or stop.is_set() else 0
