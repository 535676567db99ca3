"""Asset clustering: K-Means on return, volatility, beta and correlation structure, with a 3D PCA embedding.

Features per asset (``r`` its daily simple returns, ``m`` the market's, ``T_i`` its days with a return)
-----------------------------------------------------------------------------------------------------
- ``return``: annualised arithmetic mean ``252 · mean(r)``.
- ``volatility``: annualised sample standard deviation ``√252 · std(r)`` (``ddof=1``).
- ``beta``: ``cov(r, m) / var(m)`` over the days both have a return. The market is ``market`` when given, else the
  equal-weight average of the assets' returns each day.
- ``loading_1 … loading_f``: the correlation structure — the asset's loadings on the ``f`` leading eigenvectors
  of the assets' correlation matrix, ``√λ_j · v_ij`` (the principal components of the standardised returns).
  Assets that move together get close loadings. ``f`` is ``n_factors`` when given; by default it is the number of
  eigenvalues above the Marchenko–Pastur edge ``λ₊ = (1 + √(n/T))²``, the largest an eigenvalue of the correlation
  of ``n`` independent series over ``T`` days reaches by chance (Laloux et al. 1999), between 1 and 10 — one per
  group of co-moving assets, roughly. Each eigenvector's sign is fixed so that its loadings sum to a non-negative
  number (deterministic). Missing returns count as a zero deviation from the asset's mean in the correlation
  (pairwise-complete estimates need not be positive semi-definite).

Scaling before K-Means and PCA: return, volatility and beta become z-scores across assets (a constant one becomes
0); the loadings are scaled as ONE block to a total variance of ``f``, keeping their relative sizes, so that a
weak eigenvector does not weigh as much as a strong one (z-scoring each loading would blow noise up to the size of
the structure).

Choice of k and labels
----------------------
K-Means (:class:`sklearn.cluster.KMeans`, ``n_init`` restarts, ``random_state``) for every k in ``k_range``
(capped at ``n_assets − 1``, where the silhouette is defined); the k with the highest mean silhouette
(:func:`sklearn.metrics.silhouette_score`, Euclidean) wins, the smaller k on a tie. Clusters are numbered by size,
largest first (ties by higher mean return), so the numbers do not depend on K-Means' internal order.

Embedding
---------
PCA with 3 components of the standardised features: ``x, y, z`` per asset for the UI's 3D view;
``explained_variance`` says which share of the (standardised) feature variance each axis shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.linalg import eigh
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_samples, silhouette_score
from threadpoolctl import threadpool_limits

from ravenshire.errors import ConfigError

__all__ = ["AssetClusterer", "ClusterResult"]

FloatArray = npt.NDArray[np.float64]
TRADING_DAYS = 252
_MIN_ASSETS = 3
# return, volatility, beta: standardised one by one; the loadings after them as a block.
_N_SCALAR = 3
_MAX_FACTORS = 10


@dataclass(frozen=True)
class ClusterResult:
    """Clusters of assets, the silhouette of each k tried, and a 3D embedding.

    Attributes
    ----------
    labels : Series of int
        Cluster of each asset (0 = the largest cluster), named "cluster".
    k : int
        The number of clusters chosen (highest silhouette).
    silhouette : Series of float
        Mean silhouette per k tried, indexed by k.
    clusters : DataFrame
        Per cluster: ``n_assets``, mean annualised ``return``, ``volatility`` and ``beta`` of its members, mean
        ``silhouette`` of its members, and ``members`` (comma-separated).
    embedding : DataFrame, shape (n_assets, 3)
        Columns ``x``, ``y``, ``z``: the PCA coordinates of each asset.
    explained_variance : tuple of 3 floats
        Share of the standardised feature variance along x, y and z.
    features : DataFrame
        The raw (unstandardised) features per asset: return, volatility, beta, loading_1 … loading_f.
    excluded : dict
        Assets left out, with the reason (too little history).
    """

    labels: pd.Series
    k: int
    silhouette: pd.Series
    clusters: pd.DataFrame
    embedding: pd.DataFrame
    explained_variance: tuple[float, float, float]
    features: pd.DataFrame
    excluded: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly values."""
        return {
            "labels": {str(a): int(c) for a, c in self.labels.items()},
            "k": int(self.k),
            "silhouette": {str(k): float(v) for k, v in self.silhouette.items()},
            "clusters": [
                {"cluster": int(str(i)), **{str(c): (v if isinstance(v, str) else float(v)) for c, v in row.items()}}
                for i, row in self.clusters.iterrows()
            ],
            "embedding": {str(a): [float(v) for v in row] for a, row in self.embedding.iterrows()},
            "explained_variance": [float(v) for v in self.explained_variance],
            "features": {str(a): {c: float(v) for c, v in row.items()} for a, row in self.features.iterrows()},
            "excluded": dict(self.excluded),
        }


def _standardise(x: FloatArray, n_scalar: int) -> FloatArray:
    """z-scores of the first ``n_scalar`` columns; the loading block scaled as a whole to a total variance equal to
    its number of columns, so weak (noise) eigenvectors stay small next to the ones that carry structure."""
    centred = x - x.mean(axis=0)
    sd = centred.std(axis=0, ddof=0)
    out = np.zeros_like(centred)
    head = sd[:n_scalar] > 0
    out[:, :n_scalar][:, head] = centred[:, :n_scalar][:, head] / sd[:n_scalar][head]
    block = centred[:, n_scalar:]
    total = float((block**2).sum(axis=0).sum() / len(block)) if block.size else 0.0
    if total > 0:
        out[:, n_scalar:] = block * math.sqrt(block.shape[1] / total)
    return out


class AssetClusterer:
    """K-Means clusters of assets with k chosen by silhouette, and a 3D PCA embedding (see the module docstring).

    Parameters
    ----------
    k_range : (int, int)
        Smallest and largest k to try (inclusive), ``2 ≤ k_min ≤ k_max``; k is also capped at ``n_assets − 1``.
    n_factors : int, optional
        Leading correlation eigenvectors used as features (1 to 10); default: those above the Marchenko–Pastur edge
        (see the module docstring).
    min_history : int
        Assets with fewer daily returns are left out (listed in ``excluded``).
    n_init : int
        K-Means restarts per k.
    random_state : int
        Seed of K-Means; the same seed and data give the same clusters.

    Attributes
    ----------
    result_ : ClusterResult
        The last fit's result.
    kmeans_ : KMeans
        The chosen k's fitted model (on the standardised features).
    """

    def __init__(
        self,
        k_range: tuple[int, int] = (2, 8),
        *,
        n_factors: int | None = None,
        min_history: int = 60,
        n_init: int = 10,
        random_state: int = 0,
    ) -> None:
        self.k_range = k_range
        self.n_factors = n_factors
        self.min_history = min_history
        self.n_init = n_init
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"AssetClusterer(k_range={tuple(self.k_range)}, n_factors={self.n_factors})"

    def _check_params(self) -> tuple[int, int]:
        kr = self.k_range
        if (
            not isinstance(kr, Sequence)
            or len(kr) != 2
            or not all(isinstance(k, int | np.integer) and not isinstance(k, bool) for k in kr)
            or not 2 <= kr[0] <= kr[1]
        ):
            raise ConfigError(f"k_range must be two integers (k_min, k_max) with 2 ≤ k_min ≤ k_max, was {kr!r}")
        checks: list[tuple[str, Any, int, int]] = [
            ("min_history", self.min_history, 2, 100_000),
            ("n_init", self.n_init, 1, 1000),
        ]
        if self.n_factors is not None:
            checks.append(("n_factors", self.n_factors, 1, _MAX_FACTORS))
        for name, value, low, high in checks:
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= value <= high:
                raise ConfigError(f"{name} must be an integer from {low} to {high}, was {value!r}")
        return int(kr[0]), int(kr[1])

    @staticmethod
    def _check_returns(returns: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(returns, pd.DataFrame):
            raise ConfigError(f"returns must be a wide DataFrame (dates × assets), was {type(returns).__name__}")
        try:
            values = returns.astype("float64")
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"returns must be numeric simple returns: {exc}") from exc
        if np.isinf(values.to_numpy()).any():
            raise ConfigError("returns contain ±inf; NaN marks a missing return")
        if values.columns.has_duplicates:
            raise ConfigError("returns have duplicate asset columns")
        return values

    def fit(self, returns: pd.DataFrame, market: pd.Series | None = None) -> ClusterResult:
        """Cluster the assets (columns) of ``returns`` and embed them in 3D.

        Parameters
        ----------
        returns : DataFrame, shape (T, n)
            Daily simple returns, dates × assets; NaN marks a missing return.
        market : Series, optional
            The market's daily simple returns for the betas (aligned on dates); default the equal-weight average.

        Raises
        ------
        ConfigError
            Bad parameters or input; fewer than 3 assets with at least ``min_history`` returns.
        """
        k_min, k_max = self._check_params()
        values = self._check_returns(returns)
        counts = values.count()
        short = counts[counts < self.min_history]
        excluded = {
            str(a): f"{int(n)} daily returns, fewer than min_history={self.min_history}" for a, n in short.items()
        }
        kept = values.loc[:, counts >= self.min_history]
        if kept.shape[1] < _MIN_ASSETS:
            raise ConfigError(
                f"clustering needs at least {_MIN_ASSETS} assets with ≥ {self.min_history} daily returns each; "
                f"{kept.shape[1]} of {values.shape[1]} have enough history"
            )
        n = kept.shape[1]
        k_max = min(k_max, n - 1)
        if k_max < k_min:
            raise ConfigError(f"k_range {tuple(self.k_range)} needs more assets: with {n} assets k is at most {n - 1}")

        feats = self._features(kept, market)
        z = _standardise(feats.to_numpy(), _N_SCALAR)
        scores: dict[int, float] = {}
        models: dict[int, KMeans] = {}
        # One thread: the problem is tiny (n × ~6), and alternating OpenMP (K-Means) with BLAS threads (silhouette)
        # on a busy machine costs more in spin-waits than it saves (0.45 s → 0.1 s for 500 assets, 2 cores).
        with threadpool_limits(limits=1):
            for k in range(k_min, k_max + 1):
                km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit(z)
                models[k] = km
                n_labels = len(np.unique(km.labels_))
                scores[k] = float(silhouette_score(z, km.labels_)) if 1 < n_labels < n else -1.0
        best = max(scores, key=lambda k: (scores[k], -k))
        self.kmeans_ = models[best]
        labels = self._relabel(self.kmeans_.labels_, feats["return"].to_numpy())
        assets = pd.Index(kept.columns, name="asset")
        label_series = pd.Series(labels, index=assets, name="cluster")
        sil = silhouette_samples(z, labels) if best > 1 else np.zeros(n)

        pca = PCA(n_components=3, svd_solver="full").fit(z)
        coords = pca.transform(z)
        if coords.shape[1] < 3:  # pragma: no cover - n ≥ 3 assets and ≥ 4 features always give 3 axes
            coords = np.pad(coords, ((0, 0), (0, 3 - coords.shape[1])))
        embedding = pd.DataFrame(coords, index=assets, columns=["x", "y", "z"])
        ratio = [float(v) for v in pca.explained_variance_ratio_] + [0.0, 0.0, 0.0]

        result = ClusterResult(
            labels=label_series,
            k=best,
            silhouette=pd.Series(scores, name="silhouette").rename_axis("k"),
            clusters=self._cluster_table(feats, labels, sil),
            embedding=embedding,
            explained_variance=(ratio[0], ratio[1], ratio[2]),
            features=feats,
            excluded=excluded,
        )
        self.result_ = result
        return result

    def _features(self, returns: pd.DataFrame, market: pd.Series | None) -> pd.DataFrame:
        x = returns.to_numpy()
        ok = np.isfinite(x)
        complete = bool(ok.all())
        cnt = ok.sum(axis=0).astype(float)
        mean = x.mean(axis=0) if complete else np.where(ok, x, 0.0).sum(axis=0) / cnt
        dev = x - mean if complete else np.where(ok, x - mean, 0.0)
        sd = np.sqrt(np.einsum("ij,ij->j", dev, dev) / (cnt - 1))

        if market is None:
            m = x.mean(axis=1) if complete else returns.mean(axis=1, skipna=True).to_numpy()
        else:
            if not isinstance(market, pd.Series):
                raise ConfigError(f"market must be a Series of daily returns, was {type(market).__name__}")
            m = market.reindex(returns.index).astype("float64").to_numpy()
        beta = self._betas(x, ok, m)

        # Correlation of the standardised returns (missing = zero deviation), its leading eigenvectors.
        zret = dev / np.where(sd > 0, sd, 1.0)
        root = np.sqrt(np.maximum(cnt - 1, 1.0))
        corr = (zret.T @ zret) / np.outer(root, root)
        n = corr.shape[0]
        top = min(self.n_factors or _MAX_FACTORS, n)
        vals, vecs = eigh(corr, subset_by_index=[n - top, n - 1])
        vals, vecs = vals[::-1], vecs[:, ::-1]
        if self.n_factors is None:  # eigenvalues above the Marchenko–Pastur edge for n series over T days
            edge = (1.0 + math.sqrt(n / len(x))) ** 2
            top = max(1, int((vals > edge).sum()))
            vals, vecs = vals[:top], vecs[:, :top]
        f = top
        signs = np.where(vecs.sum(axis=0) < 0, -1.0, 1.0)
        loadings = vecs * signs * np.sqrt(np.maximum(vals, 0.0))

        frame = pd.DataFrame(
            {"return": TRADING_DAYS * mean, "volatility": math.sqrt(TRADING_DAYS) * sd, "beta": beta},
            index=pd.Index(returns.columns, name="asset"),
        )
        for j in range(f):
            frame[f"loading_{j + 1}"] = loadings[:, j]
        return frame

    @staticmethod
    def _betas(x: FloatArray, ok: npt.NDArray[np.bool_], m: FloatArray) -> FloatArray:
        """``cov(r_i, m) / var(m)`` over the days both have a return (0 when undefined)."""
        m_ok = np.isfinite(m)
        if ok.all() and m_ok.all():
            mc = m - m.mean()
            beta = ((x - x.mean(axis=0)).T @ mc) / (mc @ mc)
            return np.where(np.isfinite(beta), beta, 0.0)
        both = ok & m_ok[:, None]
        cnt = both.sum(axis=0)
        xm = np.where(both, x, 0.0)
        mm = np.where(both, m[:, None], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mx, mmean = xm.sum(axis=0) / cnt, mm.sum(axis=0) / cnt
            mdev = np.where(both, mm - mmean, 0.0)
            cov = (np.where(both, xm - mx, 0.0) * mdev).sum(axis=0)
            beta = cov / (mdev**2).sum(axis=0)
        return np.where(np.isfinite(beta), beta, 0.0)

    @staticmethod
    def _relabel(labels: npt.NDArray[np.int_], returns: FloatArray) -> npt.NDArray[np.int_]:
        """Number clusters by size (largest first), ties by higher mean return, then by first member."""
        ids = np.unique(labels)
        keys = []
        for c in ids:
            members = labels == c
            keys.append((-int(members.sum()), -float(returns[members].mean()), int(np.argmax(members)), int(c)))
        order = [key[-1] for key in sorted(keys)]
        mapping = {old: new for new, old in enumerate(order)}
        return np.array([mapping[int(c)] for c in labels], dtype=int)

    @staticmethod
    def _cluster_table(feats: pd.DataFrame, labels: npt.NDArray[np.int_], sil: FloatArray) -> pd.DataFrame:
        rows = []
        for c in range(int(labels.max()) + 1):
            members = labels == c
            part = feats[members]
            rows.append(
                {
                    "n_assets": int(members.sum()),
                    "return": float(part["return"].mean()),
                    "volatility": float(part["volatility"].mean()),
                    "beta": float(part["beta"].mean()),
                    "silhouette": float(sil[members].mean()),
                    "members": ", ".join(str(a) for a in part.index),
                }
            )
        table = pd.DataFrame(rows)
        table.index.name = "cluster"
        return table
