"""Benchmark: the MA crossover fast/slow sweep users run all day, against a plain numpy loop and vectorbt.

    python bench/research_sweep.py                   # 20 assets × 8,300 trading days, 9 × 16 = 144 (fast, slow) pairs
    python bench/research_sweep.py --days 2000       # smaller
    python bench/research_sweep.py --repeat 9        # more timed runs of ours (median and best are printed)
    pip install -r bench/requirements.txt            # vectorbt (skipped, and said so, when missing)

Fast windows 10..50 step 5 × slow windows 50..200 step 10 (fast = slow = 50 is refused by the strategy: 143 sets
run, one skipped and reported), 10 bps commission, synthetic data from 1993 (SyntheticSource seed 7). Each phase
runs in a fresh subprocess on the same deterministic data (the checksum printed shows it), so its peak memory (max
RSS) is its own. Figures, not assertions: this machine is shared and noisy, so ours is timed ``--repeat`` times
(median reported, and used for the ratio; best in brackets) and vectorbt once after a numba warm-up.

Phases
  ours       ravenshire.research.sweep.run_sweep over the 144 pairs (strategy + engine + metrics): the batch path
             (each moving average once for the whole sweep, on the default number of worker threads and on one),
             the per-set path (the strategy function called once per pair, as before the batch form existed),
             and where the batch path's time goes (the weights alone); checks both paths give identical frames.
  single     one pair: ResearchManager().backtest_strategy (untracked, all metrics and trades) and engine.backtest.
  reference  a plain Python/numpy loop per pair, per day, per asset (rolling sums, positions, drift, turnover,
             costs) on a few pairs, extrapolated to 144; checks its positions equal those of the batch path and of
             the strategy function, and compares returns.
  vectorbt   vbt.MA.run for the fast and slow windows, target weights 1/N where fast > slow,
             Portfolio.from_orders(size_type="targetpercent", cash_sharing per pair, fees=0.001, call_seq="auto")
             — daily rebalancing to the same targets, filled at the close of the decision bar, which is our model
             (decide at close t, hold t → t+1), so no shift is needed; and the usual
             Portfolio.from_signals(entries, exits, fees=0.001) per column (all-in per asset: not our model).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_ASSETS = 20
EPOCH = "1993-01-04"
FAST = (10, 50, 5)
SLOW = (50, 200, 10)
COMMISSION_BPS = 10.0
REFERENCE_PAIRS = [(10, 50), (25, 120), (50, 200)]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _data(days: int):
    from ravenshire.data.frames import to_wide
    from ravenshire.data.sources.synthetic import SyntheticSource

    symbols = [f"SYM{i:02d}" for i in range(N_ASSETS)]
    bars = SyntheticSource(seed=7, epoch=EPOCH).fetch(symbols, dt.date(1993, 1, 4), dt.date(2027, 12, 31)).bars
    data = to_wide(bars, symbols)
    if len(data) < days:
        raise SystemExit(f"only {len(data)} sessions available, asked for {days}")
    return data.iloc[:days]


def _checksum(data) -> float:
    return float(data.xs("adj_close", axis=1, level=0).to_numpy().sum())


def _sets():
    from ravenshire.research.sweep import grid, parse_space

    return grid(parse_space("ma_crossover_fast_slow", {"fast": FAST, "slow": SLOW}))


def _timed(fn, repeat: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def phase_ours(days: int, repeat: int) -> dict:
    import dataclasses

    import pandas as pd

    from ravenshire.research import Costs, get_strategy
    from ravenshire.research.sweep import WORKERS, run_sweep

    data, sets = _data(days), _sets()
    spec = get_strategy("ma_crossover_fast_slow")
    per_set = dataclasses.replace(spec, batch=None)  # the same strategy without its batch form
    costs = Costs(commission_bps=COMMISSION_BPS)
    batch_s, frame = _timed(lambda: run_sweep(spec, data, sets, costs), repeat)
    one_thread_s, _ = _timed(lambda: run_sweep(spec, data, sets, costs, workers=1), repeat)
    per_set_s, slow_frame = _timed(lambda: run_sweep(per_set, data, sets, costs), 1)
    pd.testing.assert_frame_equal(frame, slow_frame, check_exact=True)  # raises if the two paths differ at all

    def weights_only() -> int:  # each set's weights built and dropped, as run_sweep does
        return sum(int(build().any()) for build in spec.batch(data, sets) if callable(build))

    weights_s, _ = _timed(weights_only, repeat)
    t0 = time.perf_counter()
    for params in sets:
        if params["fast"] < params["slow"]:
            spec.func(data, **params)
    strategy_s = time.perf_counter() - t0
    best = frame.sort_values("sharpe_ratio", ascending=False).iloc[0]
    return {
        "checksum": _checksum(data),
        "shape": list(data.xs("adj_close", axis=1, level=0).shape),
        "sets": len(sets),
        "rows": len(frame),
        "skipped": [s["params"] for s in frame.attrs["skipped"]],
        "workers": WORKERS,
        "batch_s": batch_s,
        "one_thread_s": one_thread_s,
        "per_set_s": per_set_s[0],
        "weights_s": weights_s,
        "strategy_s": strategy_s,
        "best": {"fast": int(best["fast"]), "slow": int(best["slow"]), "sharpe": float(best["sharpe_ratio"])},
        "total_return_10_50": float(frame.loc[(frame["fast"] == 10) & (frame["slow"] == 50), "total_return"].iloc[0]),
        "peak_mb": _peak_mb(),
    }


def phase_single(days: int, repeat: int) -> dict:
    from ravenshire.research import Costs, ResearchManager, backtest, get_strategy

    data = _data(days)
    costs = Costs(commission_bps=COMMISSION_BPS)
    t0 = time.perf_counter()
    ResearchManager(track=False).backtest_strategy(
        "ma_crossover_fast_slow", data, {"fast": 10, "slow": 50}, costs=costs, track=False
    )
    manager_s = time.perf_counter() - t0
    weights = get_strategy("ma_crossover_fast_slow").func(data, fast=10, slow=50)
    t0 = time.perf_counter()
    backtest(data, weights, costs)
    engine_s = time.perf_counter() - t0
    return {"checksum": _checksum(data), "manager_s": manager_s, "engine_s": engine_s, "peak_mb": _peak_mb()}


def _reference_pair(prices, fast: int, slow: int, cost_rate: float):
    """Plain loops: per day, per asset. Returns (positions (T, N), net returns (T,))."""
    import numpy as np

    t_len, n = prices.shape
    p = prices.tolist()
    pos = np.zeros((t_len, n))
    net = np.zeros(t_len)
    sum_fast, sum_slow = [0.0] * n, [0.0] * n
    prev = [0.0] * n
    prev_cost = 0.0
    for t in range(t_len):
        row = p[t]
        rets = [0.0] * n
        if t > 0:
            rets = [row[i] / p[t - 1][i] - 1.0 for i in range(n)]
        gross = 0.0
        for i in range(n):
            gross += prev[i] * rets[i]
        turnover = 0.0
        for i in range(n):
            sum_fast[i] += row[i]
            sum_slow[i] += row[i]
            if t >= fast:
                sum_fast[i] -= p[t - fast][i]
            if t >= slow:
                sum_slow[i] -= p[t - slow][i]
            held = t >= slow - 1 and sum_fast[i] / fast > sum_slow[i] / slow
            w = 1.0 / n if held else 0.0
            drifted = prev[i] * (1.0 + rets[i]) / (1.0 + gross) if t > 0 else 0.0
            turnover += abs(w - drifted)
            pos[t, i] = w
            prev[i] = w
        net[t] = gross - prev_cost if t > 0 else 0.0
        prev_cost = turnover * cost_rate
    return pos, net


def phase_reference(days: int, repeat: int) -> dict:
    import numpy as np

    from ravenshire.research import Costs, get_strategy, sweep_returns

    data = _data(days)
    prices = data.xs("adj_close", axis=1, level=0)
    values = prices.to_numpy()
    spec = get_strategy("ma_crossover_fast_slow")
    pairs = [{"fast": fast, "slow": slow} for fast, slow in REFERENCE_PAIRS]
    batch = spec.batch(data, pairs)
    identical, same_as_func, max_diff, seconds = True, True, 0.0, 0.0
    for params, build in zip(pairs, batch, strict=True):
        t0 = time.perf_counter()
        pos, net = _reference_pair(values, params["fast"], params["slow"], COMMISSION_BPS / 1e4)
        seconds += time.perf_counter() - t0
        ours = build()  # the positions run_sweep backtests
        identical = identical and bool(np.array_equal(pos, ours))
        same_as_func = same_as_func and bool(np.array_equal(spec.func(data, **params).to_numpy(), ours))
        our_net = sweep_returns(prices, ours[None], Costs(commission_bps=COMMISSION_BPS))[:, 0]
        max_diff = max(max_diff, float(np.abs(our_net - net).max()))
    return {
        "checksum": _checksum(data),
        "pairs": len(REFERENCE_PAIRS),
        "seconds_per_set": seconds / len(REFERENCE_PAIRS),
        "identical": identical,
        "same_as_func": same_as_func,
        "max_return_diff": max_diff,
        "peak_mb": _peak_mb(),
    }


def _vbt_inputs(close, pairs):
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    fast = vbt.MA.run(close, window=[f for f, _ in pairs], short_name="fast")
    slow = vbt.MA.run(close, window=[s for _, s in pairs], short_name="slow")
    state = fast.ma.to_numpy() > slow.ma.to_numpy()  # NaN compares False: flat until both MAs exist
    n = close.shape[1]
    columns = pd.MultiIndex.from_tuples(
        [(f"{f}/{s}", sym) for f, s in pairs for sym in close.columns], names=["pair", "symbol"]
    )
    tiled = pd.DataFrame(np.tile(close.to_numpy(), (1, len(pairs))), index=close.index, columns=columns)
    return state, tiled, n


def _vbt_targets(close, pairs):
    import vectorbt as vbt

    state, tiled, n = _vbt_inputs(close, pairs)
    return vbt.Portfolio.from_orders(
        tiled,
        size=state / n,
        size_type="targetpercent",
        group_by="pair",
        cash_sharing=True,
        call_seq="auto",
        fees=COMMISSION_BPS / 1e4,
        init_cash=100_000.0,
        freq="1D",
    )


def _vbt_signals(close, pairs):
    import numpy as np
    import vectorbt as vbt

    state, tiled, _ = _vbt_inputs(close, pairs)
    before = np.zeros_like(state)
    before[1:] = state[:-1]
    return vbt.Portfolio.from_signals(
        tiled, entries=state & ~before, exits=~state & before, fees=COMMISSION_BPS / 1e4, freq="1D"
    )


def phase_vectorbt(days: int, repeat: int) -> dict:
    try:
        import vectorbt as vbt
    except ImportError as exc:
        return {"missing": f"{type(exc).__name__}: {exc}"}
    data, sets = _data(days), _sets()
    close = data.xs("adj_close", axis=1, level=0)
    pairs = [(s["fast"], s["slow"]) for s in sets if s["fast"] < s["slow"]]
    t0 = time.perf_counter()  # numba compilation, on a small sample
    _vbt_targets(close.iloc[:300], pairs[:2]).total_return()
    _vbt_signals(close.iloc[:300], pairs[:2]).total_return()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pf = _vbt_targets(close, pairs)
    totals = pf.total_return()
    targets_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _vbt_signals(close, pairs).total_return()
    signals_s = time.perf_counter() - t0
    return {
        "checksum": _checksum(data),
        "version": vbt.__version__,
        "sets": len(pairs),
        "compile_s": compile_s,
        "targets_s": targets_s,
        "signals_s": signals_s,
        "total_return_10_50": float(totals.loc["10/50"]),
        "peak_mb": _peak_mb(),
    }


PHASES = {"ours": phase_ours, "single": phase_single, "reference": phase_reference, "vectorbt": phase_vectorbt}


def _run(phase: str, days: int, repeat: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--days", str(days), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=8300)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of ours (median and best reported)")
    parser.add_argument("--phase", choices=sorted(PHASES))
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.days, args.repeat)))
        return

    r = {name: _run(name, args.days, max(args.repeat, 1)) for name in PHASES}
    ours, single, ref, vb = r["ours"], r["single"], r["reference"], r["vectorbt"]
    same = len({round(x["checksum"], 6) for x in r.values() if "checksum" in x}) == 1
    t_len, n = ours["shape"]
    rows = ours["rows"]
    batch_s, one_s, weights_s = (_median(ours[k]) for k in ("batch_s", "one_thread_s", "weights_s"))
    rate = rows / batch_s
    print(f"Ravenshire sweep benchmark: MA crossover fast {FAST} × slow {SLOW}, {n} assets × {t_len:,} days "
          f"(synthetic from {EPOCH}), {COMMISSION_BPS:g} bps, Python {sys.version.split()[0]}; "
          f"ours: median of {len(ours['batch_s'])} runs [best]")  # fmt: skip
    print(f"  data identical in every phase: {'yes' if same else 'NO'}")
    print(f"  ours      run_sweep  {ours['sets']} sets ({rows} run, skipped {ours['skipped']})")
    print(f"            batch path, {ours['workers']} worker threads : {batch_s:6.3f} s [{min(ours['batch_s']):.3f}]  "
          f"{rate:7.1f} sets/s  peak {ours['peak_mb']:6.0f} MB")  # fmt: skip
    print(f"            batch path, 1 thread          : {one_s:6.3f} s [{min(ours['one_thread_s']):.3f}]  "
          f"{rows / one_s:7.1f} sets/s")  # fmt: skip
    print(f"            per-set path (no batch form)  : {ours['per_set_s']:6.3f} s            "
          f"{rows / ours['per_set_s']:7.1f} sets/s  → batch {ours['per_set_s'] / batch_s:4.1f}× faster; "
          f"frames identical")  # fmt: skip
    print(f"            where the time goes: batch weights alone (each MA once + 143 comparisons) {weights_s:.3f} s, "
          f"1 thread; per-set strategy calls alone {ours['strategy_s']:.2f} s")  # fmt: skip
    print(f"            best Sharpe {ours['best']['sharpe']:.3f} at fast={ours['best']['fast']}, "
          f"slow={ours['best']['slow']}")  # fmt: skip
    print(f"  single    one pair: backtest_strategy {single['manager_s']:.3f} s (all metrics + trades), "
          f"engine.backtest {single['engine_s']:.3f} s  peak {single['peak_mb']:6.0f} MB")  # fmt: skip
    ref_total = ref["seconds_per_set"] * rows
    print(f"  reference plain loop {ref['seconds_per_set']:6.2f} s/set on {ref['pairs']} pairs → ≈ {ref_total:,.0f} s "
          f"for {rows} (extrapolated)  → ours {ref_total / batch_s:,.0f}× faster  "
          f"peak {ref['peak_mb']:6.0f} MB")  # fmt: skip
    print(f"            positions identical to the loop's: {'yes' if ref['identical'] else 'NO'} (batch path), "
          f"batch = strategy function: {'yes' if ref['same_as_func'] else 'NO'}; "
          f"max |net return difference| {ref['max_return_diff']:.1e}")  # fmt: skip
    if "missing" in vb:
        print(f"  vectorbt  not installed here ({vb['missing']}); skipped — pip install -r bench/requirements.txt")
        return
    vrate = vb["sets"] / vb["targets_s"]
    print(f"  vectorbt {vb['version']}  from_orders targetpercent (our model)  {vb['targets_s']:6.2f} s  {vrate:7.1f} "
          f"sets/s  peak {vb['peak_mb']:6.0f} MB")  # fmt: skip
    best_rate = rows / min(ours["batch_s"])
    print(f"            → ours/vectorbt {rate / vrate:5.1f}× (target ≥ 50×; best run {best_rate / vrate:5.1f}×, "
          f"1 thread {rows / one_s / vrate:5.1f}×, per-set path {rows / ours['per_set_s'] / vrate:5.1f}×)")  # fmt: skip
    print(f"            from_signals per column, all-in (not our model) {vb['signals_s']:6.2f} s  "
          f"→ ours/vectorbt {vb['signals_s'] / batch_s:5.1f}×; numba compile (excluded) "
          f"{vb['compile_s']:.1f} s")  # fmt: skip
    print(f"            total return fast=10/slow=50: ours {ours['total_return_10_50']:.6f}, vectorbt "
          f"{vb['total_return_10_50']:.6f} (fees paid from cash at the trade bar vs our debit on the next "
          f"period; vectorbt compounds fees into share counts)")  # fmt: skip


if __name__ == "__main__":
    main()
