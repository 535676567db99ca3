"""Benchmark: parameter searches as users run them — a 50-trial Optuna study, the grid, walk-forward.

    python bench/research_optimize.py                 # 20 assets × 8,300 trading days (as bench/research_sweep.py)
    python bench/research_optimize.py --days 2000     # smaller

MA crossover (fast/slow), fast 10..50 step 5 × slow 50..200 step 10, 10 bps commission, synthetic data from 1993
(SyntheticSource seed 7), 30 % held out. Figures, not assertions: this machine is shared and noisy.

  tpe-memory   optimize_parameters(method="tpe", n_trials=50), study in memory
  tpe-store    the same through ResearchManager: study in a fresh SQLite state store, every trial a tracked run,
               the data version stored, the best run with its artifacts; then the same call again (a resume with
               nothing left to run)
  grid         method="grid": the 144 sets in one vectorised sweep
  walk-forward 4 anchored folds over the 144 sets (4 sweeps on growing windows + 4 out-of-sample backtests)
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPACE = {"fast": (10, 50, 5), "slow": (50, 200, 10)}


def _data(days: int):
    from ravenshire.data.frames import to_wide
    from ravenshire.data.sources.synthetic import SyntheticSource

    symbols = [f"SYM{i:02d}" for i in range(20)]
    bars = SyntheticSource(seed=7, epoch="1993-01-04").fetch(symbols, dt.date(1993, 1, 4), dt.date(2027, 12, 31)).bars
    data = to_wide(bars, symbols).iloc[:days]
    data.attrs.update(is_demo=True, sources=["synthetic"])
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=8300)
    parser.add_argument("--trials", type=int, default=50)
    args = parser.parse_args()

    import optuna

    from ravenshire.config import load_config
    from ravenshire.research import Costs, ResearchManager, get_strategy
    from ravenshire.research.optimize import optimize_parameters

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = _data(args.days)
    spec = get_strategy("ma_crossover_fast_slow")
    costs = Costs(commission_bps=10)
    print(f"data: {data.shape[0]} days × {data.xs('adj_close', axis=1, level=0).shape[1]} assets")

    t0 = time.perf_counter()
    result = optimize_parameters(spec, data, SPACE, n_trials=args.trials, method="tpe", costs=costs)
    tpe_s = time.perf_counter() - t0
    print(
        f"tpe-memory    {tpe_s:7.2f} s  {args.trials} trials ({result.n_distinct} distinct) → "
        f"{args.trials / tpe_s:5.1f} trials/s; best {result.best_params} "
        f"Sharpe IS {result.in_sample['sharpe_ratio']:.3f} OOS {result.out_of_sample['sharpe_ratio']:.3f}; "
        f"DSR {result.significance.deflated_sharpe:.3f}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["RAVENSHIRE_STORE_URL"] = f"sqlite:///{tmp}/bench.db"
        config = load_config()
        manager = ResearchManager(config)
        t0 = time.perf_counter()
        stored = manager.optimize_parameters(spec.name, data, SPACE, n_trials=args.trials, method="tpe", costs=costs,
                                             walk_forward_folds=0)  # fmt: skip
        store_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        manager.optimize_parameters(spec.name, data, SPACE, n_trials=args.trials, method="tpe", costs=costs,
                                    walk_forward_folds=0)  # fmt: skip
        resume_s = time.perf_counter() - t0
        runs = len(manager.list_runs(limit=10_000))
        print(
            f"tpe-store     {store_s:7.2f} s  {args.trials} trials, {runs} runs stored, best run #{stored.best_run_id};"
            f" resume with nothing to run {resume_s:.2f} s"
        )

    t0 = time.perf_counter()
    g = optimize_parameters(spec, data, SPACE, method="grid", costs=costs)
    grid_s = time.perf_counter() - t0
    dsr = g.significance.deflated_sharpe
    print(f"grid          {grid_s:7.2f} s  {g.n_trials} sets; best {g.best_params}; DSR {dsr:.3f}")

    from ravenshire.research.optimize import walk_forward
    from ravenshire.research.sweep import grid, parse_space

    sets = grid(parse_space(spec, SPACE))
    t0 = time.perf_counter()
    wf = walk_forward(spec, data, sets, folds=4, costs=costs)
    wf_s = time.perf_counter() - t0
    print(
        f"walk-forward  {wf_s:7.2f} s  4 folds × {len(sets)} sets; OOS Sharpe {wf.out_of_sample['sharpe_ratio']:.3f},"
        f" efficiency {wf.efficiency:.2f}"
    )


if __name__ == "__main__":
    main()
