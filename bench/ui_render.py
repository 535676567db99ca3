"""Time to first render of every page (AppTest, inside app.py's frame) on a production-sized store.

    python bench/ui_render.py                    # 500 symbols × 10 years, 5,000 stored runs (store built once)
    python bench/ui_render.py --symbols 100 --runs 1000 --rebuild

The store (kept in bench/out/ui_store-<symbols>-<runs>.db; built once, ~2-4 minutes):
- 500 synthetic symbols + VIX, 2015-01-02..2024-12-31 (≈1.26 M bars), as ``DataManager.fetch`` stores them;
- 5,000 runs: 200 tracked backtests with their artifacts (equity, returns, positions, trades) and 4,800 trials of
  24 optimization studies (trials keep no artifacts, as ``optimize_parameters`` stores them);
- one agent cycle on the 500 symbols (messages, clusters, regime, its orders filled), the daily mark, a monitoring
  cycle, a scheduler heartbeat row and 200 finished jobs.

First a warm-up (the server process's one-time costs — imports, the exchange calendar — reported apart). Then
each page: a fresh ``AppTest`` with every Streamlit cache cleared (a user's first visit after a restart), timed
from ``run()`` to its return (the page's script run: reads, charts, tables), then a second run of the same session
(cached reads, what a refresh costs). Target (issue 8): ≤ 1.5 s a page on this 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
NOW = "2025-01-02 12:00"


def _ini(path: Path, store: Path, symbols: int) -> None:
    universe = ", ".join([f"S{i:03d}" for i in range(1, symbols + 1)] + ["VIX"])
    path.write_text(
        f"[DATA]\nsource = synthetic\nuniverse = {universe}\nhistory_start = 2015-01-02\nsynthetic_seed = 7\n"
        f"[STORE]\nurl = sqlite:///{store}\n[UI]\ncache_ttl = 15\n"
    )


def build(store: Path, ini: Path, symbols: int, runs: int) -> None:
    import pandas as pd
    from sqlalchemy import insert, select

    from ravenshire.config import load_config
    from ravenshire.data import DataManager
    from ravenshire.orchestration import SchedulerService, run_cycle, submit_job
    from ravenshire.orchestration.jobs import claim_next_job, finish_job
    from ravenshire.research import ResearchManager
    from ravenshire.store import init_db, read, write
    from ravenshire.store import schema as s

    t0 = time.perf_counter()
    config = load_config(ini, env={})
    engine = init_db(config.store_url)
    manager = DataManager(config, engine=engine, now=pd.Timestamp(NOW, tz="UTC"))
    manager.fetch(None, "2015-01-02", "2024-12-31")
    print(f"  bars stored in {time.perf_counter() - t0:.0f} s", flush=True)
    research = ResearchManager(config, engine=engine, track=True)
    names = [f"S{i:03d}" for i in range(1, symbols + 1)]
    n_backtests = min(200, runs)
    data = manager.get_market_data(names[:50], "2015-01-02", "2024-12-31")
    for k in range(n_backtests):
        research.backtest_strategy("ma_crossover", data, {"ma_period": 10 + k % 90})
    print(f"  {n_backtests} backtests in {time.perf_counter() - t0:.0f} s", flush=True)
    with read(engine) as conn:
        template = dict(conn.execute(select(s.runs).where(s.runs.c.kind == "backtest").limit(1)).mappings().one())
    template.pop("id")
    trials = []
    for k in range(runs - n_backtests):
        row = dict(
            template, kind="trial", study=f"study-{k % 24:02d}", parameters=json.dumps({"ma_period": 5 + k % 200})
        )
        trials.append(row)
    with write(engine) as conn:
        conn.execute(insert(s.runs), trials)
    cycle = run_cycle("agent", engine, config, "2024-12-31")
    assert cycle.ok, cycle.run.error
    run_cycle("monitoring", engine, config, "2024-12-31")
    SchedulerService(config, engine).acquire()
    for _ in range(200):
        job = submit_job(engine, "ping", submitted_by="bench")
        claim_next_job(engine, "bench:1")
        finish_job(engine, job.id, "succeeded", result={"pong": True})
    print(f"  store built in {time.perf_counter() - t0:.0f} s ({store.stat().st_size / 1e6:.0f} MB)", flush=True)


def render(ini: Path, pages: list[str]) -> list[tuple[str, float, float, str]]:
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    init = PagesManager.__init__

    def v2(self: PagesManager, *args: object, **kwargs: object) -> None:  # pages run inside app.py's frame
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = v2  # type: ignore[method-assign]
    os.environ["RAVENSHIRE_CONFIG"] = str(ini)
    os.environ.pop("RAVENSHIRE_STORE_URL", None)
    out = []
    warm_up = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).switch_page("pages/drift.py")
    t0 = time.perf_counter()
    warm_up.run()  # the server process's one-time imports (pandas, altair, pydeck, the layers), paid once per start
    from ravenshire.config import load_config
    from ravenshire.data.calendar import trading_calendar

    trading_calendar(load_config(ini, env={}).data.exchange)  # built once per process (~0.3 s), then shared
    out.append(("(process warm-up)", time.perf_counter() - t0, 0.0, ""))
    for page in pages:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).switch_page(page)
        t0 = time.perf_counter()
        at.run()
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.run()
        warm = time.perf_counter() - t0
        problems = [e.value for e in at.exception] + [e.value for e in at.error]
        out.append((page, cold, warm, "; ".join(str(p)[:80] for p in problems)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--pages", help="comma-separated page files (default: every page of app.py)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    store = OUT / f"ui_store-{args.symbols}-{args.runs}.db"
    ini = OUT / f"ui_store-{args.symbols}-{args.runs}.ini"
    _ini(ini, store, args.symbols)
    if args.rebuild or not store.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        print(f"building {store.name} ({args.symbols} symbols × 10 years, {args.runs} runs) …", flush=True)
        build(store, ini, args.symbols, args.runs)
    if args.pages:
        pages = args.pages.split(",")
    else:
        import ast

        tree = ast.parse((ROOT / "app.py").read_text())
        pages = [
            elt.elts[0].value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PAGES"
            for elt in node.value.elts
        ]
    print(f"{'page':<24}{'first render':>14}{'again':>10}   problems   ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)")
    worst = 0.0
    for page, cold, warm, problems in render(ini, pages):
        if page.startswith("("):
            print(f"{page:<24}{cold:>12.2f} s")
            continue
        worst = max(worst, cold)
        flag = "" if cold <= 1.5 else "  > 1.5 s"
        print(f"{page:<24}{cold:>12.2f} s{warm:>8.2f} s   {problems or '-'}{flag}")
    print(f"slowest first render {worst:.2f} s (target ≤ 1.5 s)")


if __name__ == "__main__":
    main()
