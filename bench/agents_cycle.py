"""Benchmark: one full agent cycle — data from the store → regime, clusters, the five agents → messages → paper
orders filled — for 50 and 500 symbols. Target (issue 6): ≤ 5 s for 500 symbols on this machine.

    python bench/agents_cycle.py                  # 50 and 500 symbols, 504 sessions of lookback
    python bench/agents_cycle.py --symbols 50     # one size

Set-up: a fresh SQLite store per size, filled with the synthetic source (demo data) from 2021-06-01 to
2024-06-28 plus a VIX stand-in; default [AGENTS] (ts_momentum signals, risk-parity weights) with [RISK]
max_position_weight 0.1 and var_limit 0.05 so the book trades. The cycle is timed from the call to its return
(the data is read from the store, not fetched), then again for the same date (a re-run: the stored decision).
Each phase's own share is read from the agents' status rows. Figures, not assertions: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATE = "2024-06-28"


def run(n_symbols: int, folder: Path) -> dict[str, float | int | str]:
    import pandas as pd
    from sqlalchemy import select

    from ravenshire.agents import AgentCoordinator
    from ravenshire.config import load_config
    from ravenshire.data import DataManager
    from ravenshire.store import init_db, read
    from ravenshire.store import schema as s

    symbols = [f"A{i:03d}" for i in range(n_symbols)] + ["VIX"]
    ini = folder / f"bench{n_symbols}.ini"
    ini.write_text(
        "[DATA]\nsource = synthetic\nuniverse = " + ", ".join(symbols) + "\nhistory_start = 2021-06-01\n"
        "[RISK]\nmax_position_weight = 0.1\nvar_limit = 0.05\n"
    )
    env = {**os.environ, "RAVENSHIRE_STORE_URL": f"sqlite:///{folder / f'bench{n_symbols}.db'}"}
    config = load_config(ini, env=env)
    t0 = time.perf_counter()
    DataManager(
        config, engine=init_db(config.store_url), now=pd.Timestamp("2024-06-29 12:00", tz="UTC")
    ).get_market_data()
    fill_s = time.perf_counter() - t0
    coordinator = AgentCoordinator(config)
    t0 = time.perf_counter()
    result = coordinator.run_cycle(DATE)
    cycle_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = coordinator.run_cycle(DATE)
    rerun_s = time.perf_counter() - t0
    assert again.reused
    with read(coordinator.engine) as conn:
        phases = {r.agent: r.duration_s for r in conn.execute(select(s.agent_status))}
    filled = sum(1 for o in result.orders if o.get("status") == "filled")
    return {
        "symbols": n_symbols,
        "fill store [s]": fill_s,
        "cycle [s]": cycle_s,
        "re-run [s]": rerun_s,
        **{f"{k} [s]": v for k, v in phases.items()},
        "decision": f"{result.recommendation} ({result.regime})",
        "orders filled": filled,
        "orders": len(result.orders),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, action="append", help="universe size (repeatable); default 50 and 500")
    args = parser.parse_args()
    sizes = args.symbols or [50, 500]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rows.append(run(n, Path(tmp)))
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    for key in keys:
        cells = [f"{r[key]:.2f}" if isinstance(r[key], float) else str(r[key]) for r in rows]
        print(f"{key:<{width}}  " + "  ".join(f"{c:>22}" for c in cells))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
