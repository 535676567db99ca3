"""Asset clustering: planted clusters recovered, features by hand, determinism, embedding, refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from ravenshire.errors import ConfigError
from ravenshire.ml import AssetClusterer


def planted(sizes: tuple[int, ...] = (12, 10, 8), days: int = 750, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Daily returns of blocks of assets: a common market, one factor per block, idiosyncratic noise."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0004, 0.010, days)
    cols: dict[str, np.ndarray] = {}
    truth: dict[str, int] = {}
    for block, size in enumerate(sizes):
        factor = rng.normal(0.0, 0.012, days)
        for i in range(size):
            name = f"B{block}_{i:02d}"
            cols[name] = 0.8 * market + factor + rng.normal(0.0, 0.006, days)
            truth[name] = block
    dates = pd.bdate_range("2020-01-01", periods=days)
    order = rng.permutation(list(cols))  # shuffled columns: the blocks are not adjacent
    return pd.DataFrame(cols, index=dates)[order], pd.Series(truth)[order]


def test_planted_clusters_are_recovered() -> None:
    returns, truth = planted()
    result = AssetClusterer(k_range=(2, 8), random_state=0).fit(returns)
    assert result.k == 3, result.silhouette.to_dict()
    ari = adjusted_rand_score(truth.loc[result.labels.index], result.labels)
    assert ari >= 0.9, f"adjusted Rand index {ari:.3f}"
    assert result.silhouette.idxmax() == 3
    assert list(result.silhouette.index) == list(range(2, 9))
    # clusters are numbered by size, largest first
    assert result.clusters["n_assets"].tolist() == [12, 10, 8]
    assert (result.labels.value_counts().sort_index().to_numpy() == [12, 10, 8]).all()


def test_embedding_and_tables() -> None:
    returns, _ = planted()
    result = AssetClusterer(random_state=0).fit(returns)
    assert result.embedding.shape == (returns.shape[1], 3)
    assert list(result.embedding.columns) == ["x", "y", "z"]
    assert result.embedding.index.equals(result.labels.index)
    ev = result.explained_variance
    assert ev[0] >= ev[1] >= ev[2] > 0 and sum(ev) <= 1 + 1e-12
    assert list(result.features.columns) == ["return", "volatility", "beta", "loading_1", "loading_2", "loading_3"]
    assert result.clusters["members"].str.split(", ").map(len).tolist() == result.clusters["n_assets"].tolist()
    assert result.excluded == {}
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["k"] == 3 and len(payload["embedding"]) == returns.shape[1]


def test_is_deterministic_for_a_seed() -> None:
    returns, _ = planted()
    a = AssetClusterer(random_state=7).fit(returns)
    b = AssetClusterer(random_state=7).fit(returns)
    pd.testing.assert_series_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.embedding, b.embedding, check_exact=True)
    pd.testing.assert_series_equal(a.silhouette, b.silhouette, check_exact=True)


def test_features_by_hand() -> None:
    returns, _ = planted(sizes=(4, 4), days=300, seed=2)
    market = pd.Series(np.random.default_rng(9).normal(0, 0.01, 300), index=returns.index)
    returns = returns.add(market, axis=0)
    feats = AssetClusterer(k_range=(2, 3)).fit(returns, market=market).features
    x = returns.iloc[:, 0].to_numpy()
    m = market.to_numpy()
    row = feats.iloc[0]
    assert row["return"] == pytest.approx(252 * x.mean(), rel=1e-12)
    assert row["volatility"] == pytest.approx(np.sqrt(252) * x.std(ddof=1), rel=1e-12)
    assert row["beta"] == pytest.approx(np.cov(x, m)[0, 1] / m.var(ddof=1), rel=1e-10)
    # loadings: √λ·v of the correlation matrix's leading eigenvectors (sign: loadings sum ≥ 0)
    vals, vecs = np.linalg.eigh(returns.corr().to_numpy())
    lead = vecs[:, -1] * np.sign(vecs[:, -1].sum()) * np.sqrt(vals[-1])
    np.testing.assert_allclose(feats["loading_1"].to_numpy(), lead, rtol=1e-8)


def test_default_market_is_equal_weight() -> None:
    returns, _ = planted(sizes=(5, 5), days=300)
    default = AssetClusterer(k_range=(2, 3)).fit(returns).features["beta"]
    explicit = AssetClusterer(k_range=(2, 3)).fit(returns, market=returns.mean(axis=1)).features["beta"]
    pd.testing.assert_series_equal(default, explicit, rtol=1e-12)


def test_missing_returns_and_short_histories() -> None:
    returns, truth = planted()
    returns.iloc[:100, 0] = np.nan  # a late listing, still with enough history
    returns.iloc[:-30, 1] = np.nan  # only 30 returns: left out
    result = AssetClusterer(min_history=60, random_state=0).fit(returns)
    assert list(result.excluded) == [returns.columns[1]]
    assert returns.columns[1] not in result.labels.index
    assert returns.columns[0] in result.labels.index
    assert adjusted_rand_score(truth.loc[result.labels.index], result.labels) >= 0.9


def test_k_is_capped_at_n_assets_minus_one() -> None:
    returns, _ = planted(sizes=(2, 2), days=200)
    result = AssetClusterer(k_range=(2, 8)).fit(returns)
    assert list(result.silhouette.index) == [2, 3]


def test_refusals() -> None:
    returns, _ = planted(sizes=(3, 3), days=200)
    with pytest.raises(ConfigError, match="at least 3 assets"):
        AssetClusterer().fit(returns.iloc[:, :2])
    with pytest.raises(ConfigError, match="at least 3 assets"):
        AssetClusterer(min_history=500).fit(returns)
    with pytest.raises(ConfigError, match="k_range"):
        AssetClusterer(k_range=(1, 4)).fit(returns)
    with pytest.raises(ConfigError, match="k_range"):
        AssetClusterer(k_range=(5, 3)).fit(returns)
    with pytest.raises(ConfigError, match="with 3 assets k is at most 2"):
        AssetClusterer(k_range=(3, 4)).fit(returns.iloc[:, :3])
    with pytest.raises(ConfigError, match="n_factors"):
        AssetClusterer(n_factors=0).fit(returns)
    with pytest.raises(ConfigError, match="wide DataFrame"):
        AssetClusterer().fit(returns.to_numpy())  # type: ignore[arg-type]


def test_factor_count_and_weak_eigenvectors() -> None:
    returns, truth = planted()
    # default: the eigenvalues above the Marchenko–Pastur edge — the market and the two block contrasts
    auto = AssetClusterer(random_state=0).fit(returns)
    assert [c for c in auto.features.columns if c.startswith("loading_")] == ["loading_1", "loading_2", "loading_3"]
    # extra, noise-only eigenvectors are kept at their (small) size, so they do not blur the blocks
    wide = AssetClusterer(n_factors=8, random_state=0).fit(returns)
    assert wide.features.shape[1] == 3 + 8
    assert wide.k == 3
    assert adjusted_rand_score(truth.loc[wide.labels.index], wide.labels) >= 0.9
