"""Regime detection and asset clustering: accuracy against the synthetic source's true regimes, and timings.

    python bench/ml_regime.py                      # 20 seeds, 20 stocks + VIX, 2006-2024, split 2015; ~2 min
    python bench/ml_regime.py --seeds 7,14 --confusion
    python bench/ml_regime.py --skip-accuracy      # timings only

Set-up. For each seed, SyntheticSource(seed) bars for 20 symbols + VIX from 2006-01-03 to 2024-06-28 (the same
bars the store would hold), ``market_features`` of the adjusted closes, and the source's true regime per day. Every
method is trained on the days before 2015-01-01 and labels every day causally; the OUT-OF-SAMPLE figure is the
accuracy from 2015 on (about 2,400 days), the IN-SAMPLE one is the same method fitted on the whole window.

Methods (all causal — the label of day t uses data up to t — except hindsight):
  majority     always the most frequent true regime of the scored days — the floor (it peeks at the truth)
  vol/ret      thresholds on the market's trailing features: crisis if 21-day volatility ≥ 40 %, bear if ≥ 25 %,
               sideways if the 126-day return is negative, else bull
  vix          the Oracle's kind of rule: crisis if VIX ≥ 40, bear if VIX ≥ 25, else bull (levels picked knowing the
               synthetic regimes' volatilities, 50 % and 25 %)
  gmm raw      RegimeDetector(stickiness=0): the mixture's per-day posterior, no filter
  gmm          RegimeDetector() with its defaults (8 states on vix + dispersion, causal sticky filter 0.97)
  supervised   a REFERENCE, not a method: one Gaussian per TRUE regime on the same two features, fitted on the
               true labels of the training days, per-day Bayes rule — roughly what these features allow
  oracle hmm   a REFERENCE that knows the simulator: the causal forward filter (``markov_filter``) of a hidden Markov
               chain whose daily transition matrix comes from the TRUE spell parameters (leave regime s with
               probability 1 / mean_spell(s) a day, to the next regime drawn from TRANSITIONS: a geometric
               approximation that drops min_spell), emissions one Gaussian per TRUE regime on log vix, log
               dispersion and breadth fitted on the training days' true labels, densities tempered by 1/40;
               the features and the tempering were picked on these 20 seeds' out-of-sample scores, so the
               figure is, if anything, optimistic
  hindsight    the same chain and emissions, forward-backward smoothed: day t uses LATER days, not usable live

Results, ``python bench/ml_regime.py`` (seeds 1-20, 131 s on the shared, noisy 2-core machine):

  seed sideways    majority    vol/ret        vix    gmm raw        gmm supervised oracle hmm  hindsight
     1     0.31       0.389      0.595      0.549      0.545      0.576      0.596      0.592      0.705
     2     0.27       0.695      0.732      0.713      0.709      0.706      0.714      0.730      0.740
     3     0.15       0.804      0.633      0.823      0.804      0.779      0.826      0.812      0.835
     4     0.07       0.845      0.623      0.887      0.879      0.883      0.858      0.861      0.930
     5     0.11       0.620      0.540      0.763      0.777      0.765      0.758      0.729      0.783
     6     0.20       0.688      0.598      0.768      0.724      0.732      0.715      0.745      0.804
     7     0.03       0.854      0.599      0.947      0.915      0.907      0.841      0.901      0.978
     8     0.02       0.959      0.756      0.959      0.966      0.959      0.960      0.905      0.916
     9     0.16       0.667      0.568      0.745      0.667      0.667      0.737      0.678      0.690
    10     0.16       0.697      0.587      0.775      0.784      0.771      0.786      0.734      0.853
    11     0.30       0.604      0.645      0.594      0.627      0.599      0.628      0.692      0.635
    12     0.15       0.757      0.609      0.735      0.790      0.732      0.815      0.765      0.757
    13     0.23       0.694      0.524      0.729      0.723      0.746      0.743      0.631      0.752
    14     0.00       0.884      0.529      0.953      0.963      0.960      0.972      0.918      0.938
    15     0.12       0.746      0.633      0.807      0.786      0.784      0.816      0.806      0.866
    16     0.07       0.814      0.666      0.874      0.899      0.882      0.889      0.861      0.877
    17     0.22       0.738      0.684      0.759      0.762      0.734      0.759      0.738      0.738
    18     0.04       0.962      0.712      0.895      0.929      0.917      0.897      0.962      0.962
    19     0.28       0.534      0.510      0.619      0.558      0.548      0.695      0.613      0.720
    20     0.16       0.613      0.548      0.727      0.655      0.652      0.774      0.722      0.701
  mean out of sample  majority 0.728 | vol/ret 0.615 | vix 0.781 | gmm raw 0.773 | gmm 0.765 |
                      supervised 0.789 | oracle hmm 0.770 | hindsight 0.809
  mean in sample      majority 0.736 | vol/ret 0.625 | vix 0.789 | gmm raw 0.796 | gmm 0.795 |
                      supervised 0.827 | oracle hmm 0.798 | hindsight 0.857
  seeds ≥ 0.80 out of sample: vol/ret 0/20, vix 8/20, gmm raw 7/20, gmm 6/20,
                              supervised 9/20, oracle hmm 8/20, hindsight 10/20
  label changes per year out of sample: truth 1.3 | vol/ret 10.2 | vix 4.2 | gmm raw 2.8 | gmm 1.8 |
                      supervised 6.7 | oracle hmm 1.0 | hindsight 0.6

  gmm, out of sample, the 20 seeds' days pooled (rows truth, columns predicted):
                bull   bear  sideways  crisis
      bull     33596    956         0     227
      bear      1554   2226         0     622
      sideways  7081    130         0      26
      crisis     247    385         0     710

Readings.
- 0.80 out of sample is NOT reachable on this data by any causal labeller measured here, supervised or not. The best
  causal figure is the per-day supervised reference, 0.789, which knows the true labels of the training years; the
  oracle HMM, which also knows the true transition law, reaches 0.770 (0.798 in sample). Only the smoothed
  hindsight labels pass 0.80 (0.809), and they use the future. The 80 % target is met on the seeds whose scored
  years hold few sideways days (4, 7, 8, 14, 16, 18 …), by no method on the others.
- Why. Synthetic bull (drift 15 %, vol 14 %) and sideways (0 %, 12 %) differ by little more than their drift, which
  trailing windows cannot resolve while the volatility itself wanders ±25 % (the log-volatility AR(1)): sideways days
  (up to 31 % of a window) are called bull by every causal method. Over a mean 120-day sideways spell the drift gap
  is under one standard deviation of the market's return, and the causal filter has only the days seen so far.
- The oracle HMM variants tried (20 seeds, out of sample): more features hurt out of sample while helping in sample
  (adding the 63/126/252-day returns, drawdown or 63-day volatility: −1 to −4 points for the per-day Bayes rule),
  since the training years hold only a few bull/sideways spells to learn the difference from; untempered emissions
  score 0.64 (the autocorrelated trailing features count the same evidence day after day, and the sticky true chain
  then holds wrong sideways calls for months); tempering 1/10, 1/20, 1/40, 1/80 gives 0.74, 0.76, 0.77, 0.76; the
  exact spell law (an expanded chain with min_spell counting states) adds 0.1 to 1 point (0.3 typical);
  near-independent daily inputs (the VIX's innovation, the day's cross-sectional spread and |market return|) give
  0.776 at best. None reaches 0.79.
- The unsupervised detector is 2.4 points below the supervised reference and 0.5 below the oracle HMM. Tried on it
  and NOT adopted (the best is 0.9 point above the default, within the seeds' noise; several are worse): stickiness
  0 to 0.998 with emissions tempered by 1 to 1/20 (0.758-0.773), 6 or 10 states (0.763-0.774), breadth or drawdown
  as a third mixture feature (0.736-0.756), bear_ratio 1.3-1.6 × crisis_ratio 2.0-2.7 (0.724-0.765: the defaults
  sit on the plateau). The detector is unchanged.
- The detector's value is bear and crisis: 97 % of bull days right, bear recall 0.51 and crisis 0.53 pooled (a
  missed bear day is mostly called bull, a missed crisis day mostly bear), with 1.8 label changes a year against
  the truth's 1.3.
- It is level with a VIX rule whose thresholds were set knowing the simulator (0.765 vs 0.781 out of sample,
  0.795 vs 0.789 in sample) while changing label less than half as often (1.8 vs 4.2 a year) and learning its
  thresholds as multiples of the sample's median VIX, so they carry over to a market with another VIX level.
- The sticky filter trades 0.8 point of accuracy for a third fewer label changes (gmm raw vs gmm).

Timings (median of 5; 10 years = 2,537 days of 20 stocks + VIX; 500 assets × 2,515 days from the source; the
machine is shared, so figures move by ±50 % between runs):

  market_features      0.01 s
  RegimeDetector.fit   0.06-0.09 s   (8 states, 2 EM restarts)
  predict              0.02-0.04 s
  AssetClusterer.fit   50 assets 0.06-0.10 s (k = 6), 500 assets 0.20-0.31 s (k = 7)   (k = 2…8, 10 restarts each)

Clustering on the synthetic source (seed 7, 8 hidden sectors; adjusted Rand index of the clusters against the
sectors): 500 assets → 8 factors above the Marchenko–Pastur edge, k = 7, ARI 0.90 (two sectors merged); 100 → 5
factors, ARI 0.40; 50 → 2 factors, ARI 0.13. The sectors add 10 % volatility under 15-40 % idiosyncratic noise,
so a few dozen stocks do not reveal them; the clusters then group by beta and volatility.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ravenshire.data.sources.synthetic import REGIME_PARAMS, TRANSITIONS, SyntheticSource
from ravenshire.data.sources.synthetic import REGIMES as SYNTHETIC_REGIMES
from ravenshire.ml import REGIMES, AssetClusterer, RegimeDetector, evaluate_regimes, market_features
from ravenshire.ml.regime import forward_filter, markov_filter

METHODS = ("majority", "vol/ret", "vix", "gmm raw", "gmm", "supervised", "oracle hmm", "hindsight")
#: Features of the oracle HMM (logs of the scale ones) and the power ``1/τ`` its emission densities are raised to.
ORACLE_FEATURES, ORACLE_TEMPER = ("vix", "dispersion", "breadth"), 40.0


def load(seed: int, n_symbols: int, start: str, end: str) -> tuple[pd.DataFrame, pd.Series]:
    symbols = [f"SYN{i:02d}" for i in range(n_symbols)] + ["VIX"]
    result = SyntheticSource(seed=seed).fetch(symbols, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    prices = result.bars.pivot(index="date", columns="symbol", values="adj_close")
    return prices, result.regimes


def vol_ret_thresholds(features: pd.DataFrame) -> pd.Series:
    f = features.dropna(subset=["volatility", "return"])
    vol, ret = f["volatility"].to_numpy(), f["return"].to_numpy()
    labels = np.where(vol >= 0.40, "crisis", np.where(vol >= 0.25, "bear", np.where(ret < 0, "sideways", "bull")))
    return pd.Series(labels, index=f.index)


def vix_thresholds(features: pd.DataFrame) -> pd.Series:
    vix = features["vix"].dropna()
    return pd.Series(np.where(vix >= 40, "crisis", np.where(vix >= 25, "bear", "bull")), index=vix.index)


def supervised(features: pd.DataFrame, truth: pd.Series, train_end: pd.Timestamp, stickiness: float) -> pd.Series:
    """One Gaussian per TRUE regime (log vix, log dispersion) fitted on the training days; per-day Bayes rule with the
    training frequencies as prior when ``stickiness`` is 0 (the sticky filter over-counts these autocorrelated
    features when the regime densities overlap: 0.66 instead of 0.79 out of sample with 0.9)."""
    f = features.dropna(subset=["vix", "dispersion"])
    x = np.log(f[["vix", "dispersion"]].to_numpy())
    y = truth.reindex(f.index).to_numpy()
    train = (f.index < train_end) & pd.notna(y)
    log_e = np.full((len(x), len(REGIMES)), -np.inf)
    prior = np.zeros(len(REGIMES))
    for j, regime in enumerate(REGIMES):
        rows = x[train & (y == regime)]
        if len(rows) < 10:
            continue
        mu, cov = rows.mean(axis=0), np.cov(rows.T) + 1e-6 * np.eye(2)
        d = x - mu
        inv = np.linalg.inv(cov)
        log_e[:, j] = -0.5 * (np.einsum("ij,jk,ik->i", d, inv, d) + np.log(np.linalg.det(cov)) + 2 * np.log(2 * np.pi))
        prior[j] = len(rows)
    prior /= prior.sum()
    p = forward_filter(log_e, prior, stickiness)
    return pd.Series(np.array(REGIMES)[p.argmax(axis=1)], index=f.index)


def true_transition() -> np.ndarray:
    """The synthetic regime chain as a daily Markov chain, in :data:`REGIMES` order (geometric approximation).

    A spell of regime s lasts ``min_spell + G − 1`` days with G geometric; a daily chain cannot hold the minimum, so
    it leaves s with probability ``1 / mean_spell(s)`` each day (same mean spell, geometric law) to the next regime
    drawn from the row of TRANSITIONS.
    """
    order = [SYNTHETIC_REGIMES.index(r) for r in REGIMES]
    leave = np.array([1.0 / REGIME_PARAMS[r].mean_spell for r in REGIMES])
    a = leave[:, None] * TRANSITIONS[np.ix_(order, order)]
    a[np.diag_indices(len(REGIMES))] = 1.0 - leave
    return a


def stationary(transition: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(transition.T)
    v = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return v / v.sum()


def smooth(log_e: np.ndarray, transition: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Forward-backward (NOT causal: day t uses every later day) posterior of the chain."""
    filtered = markov_filter(log_e, transition, initial)
    emission = np.exp(log_e - log_e.max(axis=1, keepdims=True))
    out, beta = filtered.copy(), np.ones(len(initial))
    for t in range(len(log_e) - 2, -1, -1):
        beta = transition @ (emission[t + 1] * beta)
        beta /= beta.sum()
        g = filtered[t] * beta
        out[t] = g / g.sum()
    return out


def oracle_hmm(features: pd.DataFrame, truth: pd.Series, train_end: pd.Timestamp, hindsight: bool) -> pd.Series:
    """A REFERENCE that knows the simulator: the chain of :func:`true_transition` with Gaussian emissions fitted on
    the TRUE labels of the training days (log vix, log dispersion, breadth), densities tempered by 1/ORACLE_TEMPER
    (the trailing features are autocorrelated, so an untempered filter counts the same evidence over and over:
    0.64 out of sample on log vix and log dispersion). Causal forward filter, or forward-backward with ``hindsight``."""
    names = list(ORACLE_FEATURES)
    f = features.dropna(subset=names)
    x = np.column_stack([np.log(f[n]) if n in ("vix", "dispersion") else f[n] for n in names])
    y = truth.reindex(f.index).to_numpy()
    train = (f.index < train_end) & pd.notna(y)
    log_e = np.full((len(x), len(REGIMES)), -np.inf)
    for j, regime in enumerate(REGIMES):
        rows = x[train & (y == regime)]
        if len(rows) < 10:
            continue
        mu, cov = rows.mean(axis=0), np.cov(rows.T) + 1e-6 * np.eye(len(names))
        d = x - mu
        _, log_det = np.linalg.slogdet(cov)
        maha = np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d)
        log_e[:, j] = -0.5 * (maha + log_det + len(names) * np.log(2 * np.pi))
    transition = true_transition()
    initial = stationary(transition)
    p = (smooth if hindsight else markov_filter)(log_e / ORACLE_TEMPER, transition, initial)
    return pd.Series(np.array(REGIMES)[p.argmax(axis=1)], index=f.index)


def labels_for(method: str, features: pd.DataFrame, truth: pd.Series, train_end: pd.Timestamp) -> pd.Series:
    train = features[features.index < train_end]
    if method == "vol/ret":
        return vol_ret_thresholds(features)
    if method == "vix":
        return vix_thresholds(features)
    if method == "gmm raw":
        return RegimeDetector(stickiness=0.0).fit(train).predict(features).labels
    if method == "gmm":
        return RegimeDetector().fit(train).predict(features).labels
    if method == "supervised":
        return supervised(features, truth, train_end, 0.0)
    if method in ("oracle hmm", "hindsight"):
        return oracle_hmm(features, truth, train_end, hindsight=method == "hindsight")
    raise ValueError(method)


def switches_per_year(labels: pd.Series, since: pd.Timestamp) -> float:
    labels = labels[labels.index >= since]
    return float((labels != labels.shift()).iloc[1:].sum() / (len(labels) / 252))


def score(labels: pd.Series, truth: pd.Series, since: pd.Timestamp | None) -> float:
    if since is not None:
        labels = labels[labels.index >= since]
    return evaluate_regimes(labels, truth).accuracy


def accuracy_table(args: argparse.Namespace) -> None:
    split = pd.Timestamp(args.split)
    oos: dict[str, list[float]] = {m: [] for m in METHODS}
    ins: dict[str, list[float]] = {m: [] for m in METHODS}
    flips: dict[str, list[float]] = {m: [] for m in ("truth", *METHODS[1:])}
    pooled = None
    print(f"{'seed':>4} {'sideways':>8}  " + " ".join(f"{m:>10}" for m in METHODS) + "   (out of sample)")
    for seed in args.seeds:
        prices, truth = load(seed, args.symbols, args.start, args.end)
        features = market_features(prices)
        scored = truth[truth.index >= split]
        row = {"majority": float(scored.value_counts(normalize=True).max())}
        row_in = {"majority": float(truth.value_counts(normalize=True).max())}
        for method in METHODS[1:]:
            lab = labels_for(method, features, truth, split)
            row[method] = score(lab, truth, split)
            flips[method].append(switches_per_year(lab, split))
            full = labels_for(method, features, truth, features.index[-1] + pd.Timedelta(days=1))
            row_in[method] = score(full, truth, None)
            if method == "gmm":
                ev = evaluate_regimes(lab[lab.index >= split], truth)
                pooled = ev.confusion if pooled is None else pooled.add(ev.confusion, fill_value=0)
                if args.confusion:
                    print(f"seed {seed}, gmm out of sample:\n{ev.confusion.to_string()}")
        for m in METHODS:
            oos[m].append(row[m])
            ins[m].append(row_in[m])
        flips["truth"].append(switches_per_year(scored, split))
        sideways = float((scored == "sideways").mean())
        print(f"{seed:>4} {sideways:>8.2f}  " + " ".join(f"{row[m]:>10.3f}" for m in METHODS), flush=True)
    print("mean out of sample  " + " | ".join(f"{m} {np.mean(oos[m]):.3f}" for m in METHODS))
    print("mean in sample      " + " | ".join(f"{m} {np.mean(ins[m]):.3f}" for m in METHODS))
    print(
        "seeds >= 0.80 out of sample: "
        + ", ".join(f"{m} {sum(v >= 0.8 for v in oos[m])}/{len(args.seeds)}" for m in METHODS[1:])
    )
    print("label changes per year out of sample: " + " | ".join(f"{m} {np.mean(v):.1f}" for m, v in flips.items()))
    if pooled is not None:
        print(f"gmm out of sample, all seeds pooled (rows truth, columns predicted):\n{pooled.astype(int).to_string()}")


def median_time(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timings(args: argparse.Namespace) -> None:
    prices, _ = load(7, args.symbols, "2014-06-02", "2024-06-28")
    features = market_features(prices)
    detector = RegimeDetector().fit(features)
    print(f"days {len(prices)}, symbols {prices.shape[1]}")
    print(f"market_features      {median_time(lambda: market_features(prices)):.3f} s")
    print(f"RegimeDetector.fit   {median_time(lambda: RegimeDetector().fit(features)):.3f} s")
    print(f"predict              {median_time(lambda: detector.predict(features)):.3f} s")
    bars = SyntheticSource(seed=7).fetch([f"A{i:03d}" for i in range(500)], dt.date(2014, 7, 1), dt.date(2024, 6, 28))
    returns = bars.bars.pivot(index="date", columns="symbol", values="adj_close").pct_change().iloc[1:]
    for n in (50, 500):
        sub = returns.iloc[:, :n]
        t = median_time(lambda sub=sub: AssetClusterer().fit(sub))
        k = AssetClusterer().fit(sub).k
        print(f"AssetClusterer.fit   {n} assets × {len(sub)} days: {t:.3f} s (k = {k})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=list(range(1, 21)))
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--start", default="2006-01-03")
    parser.add_argument("--split", default="2015-01-01")
    parser.add_argument("--end", default="2024-06-28")
    parser.add_argument("--confusion", action="store_true", help="print each seed's confusion matrix")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    if not args.skip_accuracy:
        accuracy_table(args)
    timings(args)


if __name__ == "__main__":
    main()
