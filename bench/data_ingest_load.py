"""Benchmark: ingest 500 symbols × 10 years of synthetic daily bars into SQLite, then load the adjusted-close matrix.

    python bench/data_ingest_load.py                 # 500 symbols, 2015-01-02..2024-12-31 (≈1.26 M rows)
    python bench/data_ingest_load.py --symbols 100   # smaller

Each phase runs in a fresh subprocess so its peak memory (max RSS) is its own. Figures, not assertions:
this machine is shared and noisy. Targets (issue 2, 2-core machine): ingest ≤ 10 s, load ≤ 1 s.

Phases
  ingest        DataManager.fetch: synthetic generation + validation + one write transaction (bars, series,
                ranges, log) — the whole production path, broken down.
  load          DataCache.load of the (dates × 500) adj_close matrix from the store, cold (new process).
  load_warm     the same call again in the same process (in-memory layer).
  peer_read_sql pandas.read_sql of the long bars table + pivot (what a straightforward store would do).
  peer_sqlite3  raw sqlite3 cursor of the long bars table + numpy scatter (the fastest row-based read).
  peer_to_sql   pandas.DataFrame.to_sql of the same long bars into a fresh SQLite table (write only).
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START, END = "2015-01-02", "2024-12-31"
NOW = "2025-01-02 12:00"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _symbols(n: int) -> list[str]:
    return [f"SYM{i:03d}" for i in range(n)]


def _manager(db: Path):
    import pandas as pd

    from ravenshire.config import load_config
    from ravenshire.data import DataManager

    ini = db.parent / "bench.ini"
    ini.write_text(f"[DATA]\nhistory_start = {START}\n[STORE]\nurl = sqlite:///{db}\n")
    return DataManager(load_config(ini, env={}), now=pd.Timestamp(NOW, tz="UTC"))


def phase_ingest(db: Path, n: int) -> dict:
    manager = _manager(db)
    timings = {"generate": 0.0, "validate": 0.0}
    source = manager.fetcher.source("synthetic")
    fetch, validate = source.fetch, manager.validator.validate

    def timed(name, func):
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                timings[name] += time.perf_counter() - t0

        return call

    source.fetch = timed("generate", fetch)  # type: ignore[method-assign]
    manager.validator.validate = timed("validate", validate)  # type: ignore[method-assign]
    t0 = time.perf_counter()
    [summary] = manager.fetch(_symbols(n), START, END)
    total = time.perf_counter() - t0
    return {
        "rows": summary.rows_stored,
        "seconds": total,
        "generate_s": timings["generate"],
        "validate_s": timings["validate"],
        "write_s": total - timings["generate"] - timings["validate"],
        "peak_mb": _peak_mb(),
    }


def phase_load(db: Path, n: int) -> dict:
    manager = _manager(db)
    pairs = [(s, "synthetic") for s in _symbols(n)]
    t0 = time.perf_counter()
    frame = manager.cache.load(pairs, fields=["adj_close"])
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    manager.cache.load(pairs, fields=["adj_close"])
    warm = time.perf_counter() - t0
    return {"shape": list(frame.shape), "seconds": cold, "warm_seconds": warm, "peak_mb": _peak_mb()}


def phase_peer_read_sql(db: Path, n: int) -> dict:
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{db}")
    t0 = time.perf_counter()
    long = pd.read_sql(
        "SELECT i.symbol, b.date, b.adj_close FROM bars b JOIN instruments i ON i.id = b.instrument_id", engine
    )
    wide = long.pivot(index="date", columns="symbol", values="adj_close")
    wide.index = pd.to_datetime(wide.index.astype(str), format="%Y%m%d")
    return {"shape": list(wide.shape), "seconds": time.perf_counter() - t0, "peak_mb": _peak_mb()}


def phase_peer_sqlite3(db: Path, n: int) -> dict:
    import numpy as np

    con = sqlite3.connect(db)
    t0 = time.perf_counter()
    rows = con.execute("SELECT instrument_id, date, adj_close FROM bars").fetchall()
    arr = np.array(rows)
    ids, id_codes = np.unique(arr[:, 0], return_inverse=True)
    dates, date_codes = np.unique(arr[:, 1], return_inverse=True)
    out = np.full((len(dates), len(ids)), np.nan)
    out[date_codes, id_codes] = arr[:, 2]
    return {"shape": list(out.shape), "seconds": time.perf_counter() - t0, "peak_mb": _peak_mb()}


def phase_peer_to_sql(db: Path, n: int) -> dict:
    import pandas as pd
    from sqlalchemy import create_engine

    from ravenshire.data.sources.synthetic import SyntheticSource

    bars = SyntheticSource(seed=7).fetch(_symbols(n), pd.Timestamp(START).date(), pd.Timestamp(END).date()).bars
    engine = create_engine(f"sqlite:///{db.parent / 'peer.db'}")
    t0 = time.perf_counter()
    bars.to_sql("bars", engine, index=False, chunksize=50_000)
    return {"rows": len(bars), "seconds": time.perf_counter() - t0, "peak_mb": _peak_mb()}


PHASES = {
    "ingest": phase_ingest,
    "load": phase_load,
    "peer_read_sql": phase_peer_read_sql,
    "peer_sqlite3": phase_peer_sqlite3,
    "peer_to_sql": phase_peer_to_sql,
}


def _run(phase: str, db: Path, n: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--db", str(db), "--symbols", str(n)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--phase", choices=sorted(PHASES))
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.db, args.symbols)))
        return

    with tempfile.TemporaryDirectory(prefix="ravenshire-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        r = {name: _run(name, db, args.symbols) for name in PHASES}
        size_mb = db.stat().st_size / 1e6 + sum(p.stat().st_size for p in Path(tmp).glob("bench.db-*")) / 1e6
    ing, load = r["ingest"], r["load"]
    print(f"Ravenshire data benchmark: {args.symbols} symbols × {START}..{END}, SQLite (WAL), "
          f"Python {sys.version.split()[0]}")  # fmt: skip
    print(f"  ingest  {ing['rows']:>9,} rows  {ing['seconds']:6.2f} s  (target ≤ 10 s)  peak {ing['peak_mb']:6.0f} MB")
    print(f"          generate {ing['generate_s']:.2f} s · validate {ing['validate_s']:.2f} s · "
          f"write {ing['write_s']:.2f} s  ({ing['rows'] / ing['write_s'] / 1e3:,.0f} k rows/s written)")  # fmt: skip
    print(f"  load    {load['shape'][0]} × {load['shape'][1]} adj_close  {load['seconds']:6.3f} s cold "
          f"(target ≤ 1 s), {load['warm_seconds']:.3f} s warm  peak {load['peak_mb']:6.0f} MB")  # fmt: skip
    print(f"  store file {size_mb:,.0f} MB")
    print("  peers, same data, same machine, same run:")
    for name, label, base in (
        ("peer_read_sql", "pandas.read_sql + pivot (load)", load["seconds"]),
        ("peer_sqlite3", "raw sqlite3 rows + numpy (load)", load["seconds"]),
        ("peer_to_sql", "DataFrame.to_sql (write only)", ing["write_s"]),
    ):
        peer = r[name]
        print(f"    {label:<34} {peer['seconds']:6.2f} s  peak {peer['peak_mb']:6.0f} MB  "
              f"→ Ravenshire is {peer['seconds'] / base:5.1f}× faster")  # fmt: skip


if __name__ == "__main__":
    main()
