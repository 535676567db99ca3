"""The portfolio quadratic programs, built as matrices and solved by PIQP (private).

Solver
------
`PIQP <https://predict-epfl.github.io/piqp/>`_ (a proximal interior-point QP solver, BSD, also one of cvxpy's
solvers) solves ``min ½xᵀPx + cᵀx  s.t.  Ax = b,  Gx ≤ h,  x_l ≤ x ≤ x_u``. An interior-point method reaches the
tight tolerances the cross-checks need (see ``EPS_*``) in 10–25 iterations whatever the active set. The covariance
is dense, so a problem whose only variables are the weights (long-only, no turnover limit: the usual case) goes to
PIQP's DENSE backend (Eigen's Cholesky on the n × n reduced system: ~20 ms for 500 assets); a problem with
auxiliary variables (|w| for a gross-leverage cap, |w − w₀| for a turnover limit) to its SPARSE backend, whose
cost does not grow with the identity blocks those variables bring. The matrices are built here directly; no
modelling layer (cvxpy's canonicalisation is most of PyPortfolioOpt's and skfolio's time at 500 assets).
A dense problem's solution is then polished on its active set (:func:`_polish`): the weights at a bound become
exactly that bound (no 1e-9 "dust" positions) and the objective matches an active-set solver's to rounding.

Variables ``x = [w | u | t | κ]``: the weights ``w`` (n); ``u ≥ |w|`` (n) when a gross-leverage cap binds on a
long/short problem; ``t ≥ |w − w₀|`` (n) with a turnover limit; ``κ ≥ 0`` (1) for the homogenised max-Sharpe
problem, in which every right-hand side is multiplied by ``κ`` (see :func:`solve_portfolio_qp`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import piqp
import scipy.sparse as sp

from ravenshire.errors import InfeasibleError
from ravenshire.portfolio._inputs import FloatArray

# Interior-point tolerances on the scaled problem (objective divided by the mean variance, so O(1)): residuals and
# duality gap, tighter than PIQP's defaults (1e-8 / 1e-9). ~480 random problems (2–300 assets, singular
# covariances, long/short, leverage and turnover limits, max Sharpe) all converged, in at most 24 iterations.
EPS_ABS = 1e-10
EPS_REL = 1e-10
EPS_GAP_ABS = 1e-12
EPS_GAP_REL = 1e-12
MAX_ITER = 250
# A bound or row within this distance (relative to the largest |x|) of binding is active for the polish.
POLISH_TOL = 1e-7

# A constraint that cannot bind (e.g. a leverage cap above the largest possible gross exposure) is left out.
_SLACK = 1e-12


@dataclass(frozen=True)
class Limits:
    """The constraints resolved against a universe of n assets, as arrays in the universe's order.

    ``lower ≤ w ≤ upper``, ``Σw = budget``, ``Σ|w| ≤ max_leverage`` (None: no cap),
    ``Σ|w − current| ≤ max_turnover`` (None: no limit; ``max_turnover`` is what is left after selling the
    positions outside the universe).
    """

    lower: FloatArray
    upper: FloatArray
    budget: float
    max_leverage: float | None = None
    current: FloatArray | None = None
    max_turnover: float | None = None

    def leverage_binds(self) -> bool:
        """True if the leverage cap can bind: some weight may be negative and the cap is below the largest gross."""
        if self.max_leverage is None or (self.lower >= 0).all():
            return False
        return bool(self.max_leverage < np.maximum(np.abs(self.lower), np.abs(self.upper)).sum() - _SLACK)

    def turnover_binds(self) -> bool:
        """True if the turnover limit is below the largest turnover the bounds allow."""
        if self.max_turnover is None or self.current is None:
            return False
        largest = np.maximum(np.abs(self.upper - self.current), np.abs(self.lower - self.current)).sum()
        return bool(self.max_turnover < largest - _SLACK)


class PrimalInfeasibleError(InfeasibleError):
    """PIQP proved the constraints of a portfolio QP infeasible (callers add what that means for their method)."""


@dataclass(frozen=True)
class QPSolution:
    """The weights of a solved portfolio QP and the solver's iteration count."""

    weights: FloatArray
    iterations: int
    status: str


@dataclass(frozen=True)
class _Layout:
    """Where each variable block starts in ``x = [w | u | t | κ]``."""

    n: int
    with_abs: bool
    with_turnover: bool
    homogeneous: bool

    @property
    def u(self) -> int:
        return self.n

    @property
    def t(self) -> int:
        return self.n * (1 + self.with_abs)

    @property
    def kappa(self) -> int:
        return self.n * (1 + self.with_abs + self.with_turnover)

    @property
    def n_vars(self) -> int:
        return self.kappa + self.homogeneous


class _Block:
    """Constraint rows ``M x (= or ≤) rhs`` gathered group by group as sparse pieces."""

    def __init__(self, n_vars: int) -> None:
        self.n_vars = n_vars
        self.rows: list[sp.csr_matrix] = []
        self.rhs: list[FloatArray] = []

    def add(self, parts: list[tuple[int, sp.spmatrix | FloatArray]], rhs: FloatArray | float) -> None:
        """Add rows ``Σ_parts block · x[start : start + block.shape[1]]`` with right-hand side ``rhs``."""
        coos = [(start, sp.coo_matrix(np.atleast_2d(b) if isinstance(b, np.ndarray) else b)) for start, b in parts]
        n_rows = coos[0][1].shape[0]
        mat = sp.csr_matrix(
            (
                np.concatenate([c.data for _, c in coos]),
                (np.concatenate([c.row for _, c in coos]), np.concatenate([c.col + s for s, c in coos])),
            ),
            shape=(n_rows, self.n_vars),
        )
        self.rows.append(mat)
        self.rhs.append(np.broadcast_to(np.asarray(rhs, dtype=np.float64), (n_rows,)).copy())

    def build(self, homogeneous: bool) -> tuple[sp.csr_matrix, FloatArray]:
        """The stacked rows; homogeneous: the right-hand side moves into the κ column (``M x − rhs·κ (= or ≤) 0``)."""
        if not self.rows:
            return sp.csr_matrix((0, self.n_vars)), np.zeros(0)
        mat = sp.vstack(self.rows, format="csr")
        rhs = np.concatenate(self.rhs)
        if homogeneous:
            nz = np.flatnonzero(rhs)
            kappa_col = sp.csr_matrix((-rhs[nz], (nz, np.full(nz.size, self.n_vars - 1))), shape=mat.shape)
            return sp.csr_matrix(mat + kappa_col), np.zeros_like(rhs)
        return sp.csr_matrix(mat), rhs


def solve_portfolio_qp(
    sigma: FloatArray,
    limits: Limits,
    *,
    quad: float = 1.0,
    linear: FloatArray | None = None,
    target: tuple[FloatArray, float] | None = None,
    excess: FloatArray | None = None,
) -> QPSolution:
    """Solve one portfolio QP under ``limits``.

    Without ``excess``: ``min_w  (quad/2)·wᵀΣw − linearᵀw`` subject to the limits and, with ``target = (μ, r)``,
    ``μᵀw ≥ r``. With ``excess = μ − r_f`` (max Sharpe, Cornuejols–Tütüncü homogenisation): ``max (μ − r_f)ᵀw /
    √(wᵀΣw)`` is solved as ``min_{y,κ} yᵀΣy  s.t.  (μ − r_f)ᵀy = 1, κ ≥ 0`` and every limit with its right-hand
    side times ``κ`` (``Σy = budget·κ``, ``κ·lower ≤ y ≤ κ·upper``, ``Σ|y| ≤ κ·L``, ``Σ|y − κw₀| ≤ κ·τ``), then
    ``w = y / κ``. The objective is divided by the mean variance (conditioning only; the solution is unchanged).

    Raises
    ------
    InfeasibleError
        PIQP reports the constraints primal infeasible, the objective unbounded, or stops without converging
        (iteration limit, numerical trouble).
    """
    n = sigma.shape[0]
    layout = _Layout(n, limits.leverage_binds(), limits.turnover_binds(), excess is not None)
    eq, ineq = _Block(layout.n_vars), _Block(layout.n_vars)
    eq.add([(0, np.ones(n))], limits.budget)
    _add_abs_rows(ineq, layout, limits)
    _add_turnover_rows(ineq, layout, limits)
    if target is not None:
        ineq.add([(0, -target[0])], -target[1])
    if layout.homogeneous:
        _add_scaled_box_rows(ineq, limits)
    a_mat, b_vec = eq.build(layout.homogeneous)
    g_mat, h_vec = ineq.build(layout.homogeneous)
    if excess is not None:
        a_mat = sp.vstack([a_mat, sp.csr_matrix((excess, (np.zeros(n, int), np.arange(n))), shape=(1, layout.n_vars))])
        b_vec = np.append(b_vec, 1.0)
    scale = max(float(np.mean(np.diag(sigma))), np.finfo(np.float64).tiny)
    c_vec = np.zeros(layout.n_vars)
    if linear is not None:
        c_vec[:n] = -linear / scale
    x_l, x_u = _native_bounds(layout, limits)
    x, iterations, status = _run_piqp(sigma * (quad / scale), c_vec, a_mat, b_vec, g_mat, h_vec, x_l, x_u)
    w = x[:n]
    if layout.homogeneous:
        kappa = float(x[layout.kappa])
        if not kappa > 0.0:
            raise InfeasibleError(f"max-Sharpe scale κ = {kappa:.3g} ≤ 0: the portfolio's size is undetermined")
        w = w / kappa
    return QPSolution(np.clip(w, limits.lower, limits.upper), iterations, status)


def _add_abs_rows(ineq: _Block, layout: _Layout, limits: Limits) -> None:
    """``w − u ≤ 0``, ``−w − u ≤ 0`` (so ``u ≥ |w|``) and ``Σu ≤ L``."""
    if not layout.with_abs or limits.max_leverage is None:
        return
    eye = sp.identity(layout.n, format="csr")
    ineq.add([(0, eye), (layout.u, -eye)], 0.0)
    ineq.add([(0, -eye), (layout.u, -eye)], 0.0)
    ineq.add([(layout.u, np.ones(layout.n))], limits.max_leverage)


def _add_turnover_rows(ineq: _Block, layout: _Layout, limits: Limits) -> None:
    """``w − t ≤ w₀``, ``−w − t ≤ −w₀`` (so ``t ≥ |w − w₀|``) and ``Σt ≤ τ``."""
    if not layout.with_turnover or limits.current is None or limits.max_turnover is None:
        return
    eye = sp.identity(layout.n, format="csr")
    ineq.add([(0, eye), (layout.t, -eye)], limits.current)
    ineq.add([(0, -eye), (layout.t, -eye)], -limits.current)
    ineq.add([(layout.t, np.ones(layout.n))], limits.max_turnover)


def _add_scaled_box_rows(ineq: _Block, limits: Limits) -> None:
    """Homogeneous problem: the bounds that are not native (``y ≥ 0`` / ``y ≤ 0``) or implied, as rows.

    An upper bound is implied when every lower bound is ≥ 0 and ``upper_i ≥ budget − Σ_{j≠i} lower_j`` (the
    budget already caps ``w_i`` there): with the default ``0 ≤ w ≤ 1`` no row is needed at all.
    """
    lower, upper, n = limits.lower, limits.upper, limits.lower.size
    low_rows = np.flatnonzero(lower != 0.0)
    implied = (lower >= 0).all() & (upper >= limits.budget - (lower.sum() - lower) - _SLACK)
    up_rows = np.flatnonzero((upper != 0.0) & ~implied)
    for rows, sign, bound in ((low_rows, -1.0, lower), (up_rows, 1.0, upper)):
        if rows.size:
            pick = sp.csr_matrix((np.full(rows.size, sign), (np.arange(rows.size), rows)), shape=(rows.size, n))
            ineq.add([(0, pick)], sign * bound[rows])


def _native_bounds(layout: _Layout, limits: Limits) -> tuple[FloatArray, FloatArray]:
    """Variable bounds: the weight box (its sign-fixing part when homogeneous); ``u, t, κ ≥ 0``."""
    x_l = np.zeros(layout.n_vars)
    x_u = np.full(layout.n_vars, np.inf)
    n = layout.n
    if layout.homogeneous:
        x_l[:n] = np.where(limits.lower == 0.0, 0.0, -np.inf)
        x_u[:n] = np.where(limits.upper == 0.0, 0.0, np.inf)
    else:
        x_l[:n] = limits.lower
        x_u[:n] = limits.upper
    return x_l, x_u


def _upper_csc(sigma: FloatArray, n_vars: int) -> sp.csc_matrix:
    """The upper triangle of ``sigma`` in the top-left corner of an ``n_vars``-square CSC matrix (zeros elsewhere)."""
    n = sigma.shape[0]
    rows, cols = np.tril_indices(n)  # lower triangle row by row = upper triangle column by column, swapped
    indptr = np.concatenate([[0], np.cumsum(np.arange(1, n + 1)), np.full(n_vars - n, n * (n + 1) // 2)])
    return sp.csc_matrix((sigma[rows, cols], cols, indptr), shape=(n_vars, n_vars))


def _run_piqp(
    sigma: FloatArray,
    c_vec: FloatArray,
    a_mat: sp.csr_matrix,
    b_vec: FloatArray,
    g_mat: sp.csr_matrix,
    h_vec: FloatArray,
    x_l: FloatArray,
    x_u: FloatArray,
) -> tuple[FloatArray, int, str]:
    """Solve with PIQP: the dense backend when the weights (and κ) are the only variables, else the sparse one."""
    n, n_vars = sigma.shape[0], c_vec.size
    g_arg: object = None
    h_arg: FloatArray | None = None
    dense = n_vars <= n + 1
    if dense:
        solver = piqp.DenseSolver()
        p_mat = np.zeros((n_vars, n_vars), order="F")
        p_mat[:n, :n] = sigma
        a_arg: object = np.asfortranarray(a_mat.toarray())
        if g_mat.shape[0]:
            g_arg, h_arg = np.asfortranarray(g_mat.toarray()), h_vec
        p_arg: object = p_mat
    else:
        solver = piqp.SparseSolver()
        p_arg, a_arg = _upper_csc(sigma, n_vars), sp.csc_matrix(a_mat)
        if g_mat.shape[0]:
            g_arg, h_arg = sp.csc_matrix(g_mat), h_vec
    solver.settings.verbose = False
    solver.settings.eps_abs = EPS_ABS
    solver.settings.eps_rel = EPS_REL
    solver.settings.eps_duality_gap_abs = EPS_GAP_ABS
    solver.settings.eps_duality_gap_rel = EPS_GAP_REL
    solver.settings.max_iter = MAX_ITER
    solver.setup(P=p_arg, c=c_vec, A=a_arg, b=b_vec, G=g_arg, h_l=None, h_u=h_arg, x_l=x_l, x_u=x_u)
    status = solver.solve()
    iterations = int(solver.result.info.iter)
    if status == piqp.PIQP_PRIMAL_INFEASIBLE:
        raise PrimalInfeasibleError(_failure_message(status, iterations))
    if status != piqp.PIQP_SOLVED:
        raise InfeasibleError(_failure_message(status, iterations))
    x = np.asarray(solver.result.x, dtype=np.float64)
    if dense:
        g_dense = None if g_arg is None else np.asarray(g_arg)
        polished = _polish(_DenseQP(p_mat, c_vec, np.asarray(a_arg), b_vec, g_dense, h_arg, x_l, x_u), x)
        if polished is not None:
            return polished, iterations, "solved and polished"
    return x, iterations, "solved"


@dataclass(frozen=True)
class _DenseQP:
    """``min ½xᵀPx + cᵀx  s.t.  Ax = b,  Gx ≤ h,  x_l ≤ x ≤ x_u`` as dense arrays (G, h may be None)."""

    p: FloatArray
    c: FloatArray
    a: FloatArray
    b: FloatArray
    g: FloatArray | None
    h: FloatArray | None
    x_l: FloatArray
    x_u: FloatArray

    def objective(self, x: FloatArray) -> float:
        return float(0.5 * x @ self.p @ x + self.c @ x)

    def feasible(self, x: FloatArray, tol: float) -> bool:
        ok = bool((x >= self.x_l - tol).all() and (x <= self.x_u + tol).all())
        ok = ok and bool(np.abs(self.a @ x - self.b).max(initial=0.0) <= tol)
        if self.g is not None and self.h is not None:
            ok = ok and bool((self.g @ x - self.h).max(initial=-1.0) <= tol)
        return ok


def _polish(qp: _DenseQP, x: FloatArray) -> FloatArray | None:
    """OSQP-style polish of an interior-point solution; None if it does not give a feasible, no-worse point.

    An interior-point iterate stays a hair inside its active bounds (weights of ~1e-9 where the optimum has 0).
    The bounds and inequality rows within ``POLISH_TOL`` of binding are taken as the active set, the variables at
    a bound are fixed there, and the equality-constrained QP on the rest is solved exactly from its KKT system
    ``[P_FF C_Fᵀ; C_F 0] [x_F; λ] = [−c_F − P_FB x_B; d − C_B x_B]`` (``C``, ``d``: equalities and active rows).
    The result is kept only if it satisfies every constraint to 1e-10 and its objective is no worse, so a wrong
    guess of the active set costs one linear solve and changes nothing.
    """
    tol = POLISH_TOL * max(1.0, float(np.abs(x).max()))
    at_low = x - qp.x_l <= tol
    at_up = (qp.x_u - x <= tol) & ~at_low
    fixed = at_low | at_up
    free = ~fixed
    base = np.where(fixed, np.where(at_low, qp.x_l, qp.x_u), 0.0)
    rows, rhs = qp.a, qp.b
    if qp.g is not None and qp.h is not None:
        active = qp.h - qp.g @ x <= tol * (1.0 + np.abs(qp.g).sum(axis=1))
        rows, rhs = np.vstack([rows, qp.g[active]]), np.concatenate([rhs, qp.h[active]])
    n_free, n_rows = int(free.sum()), rows.shape[0]
    kkt = np.zeros((n_free + n_rows, n_free + n_rows))
    kkt[:n_free, :n_free] = qp.p[np.ix_(free, free)]
    kkt[:n_free, n_free:] = rows[:, free].T
    kkt[n_free:, :n_free] = rows[:, free]
    top = -qp.c[free] - qp.p[np.ix_(free, fixed)] @ base[fixed]
    try:
        solution = np.linalg.solve(kkt, np.concatenate([top, rhs - rows[:, fixed] @ base[fixed]]))
    except np.linalg.LinAlgError:
        return None
    candidate = base.copy()
    candidate[free] = solution[:n_free]
    if not np.isfinite(candidate).all() or not qp.feasible(candidate, 1e-10):
        return None
    before = qp.objective(x)
    if qp.objective(candidate) > before + 1e-12 * max(1.0, abs(before)):
        return None
    return np.asarray(np.clip(candidate, qp.x_l, qp.x_u), dtype=np.float64)


def _failure_message(status: object, iterations: int) -> str:
    if status == piqp.PIQP_PRIMAL_INFEASIBLE:
        return (
            "no weights satisfy all the constraints together (the QP solver PIQP proved them primal infeasible): "
            "loosen the weight bounds, the leverage cap, the turnover limit or the target return"
        )
    if status == piqp.PIQP_DUAL_INFEASIBLE:
        return "the portfolio problem is unbounded (PIQP: dual infeasible); bound the weights or the leverage"
    name = getattr(status, "name", str(status))
    return (
        f"the QP solver PIQP did not converge (status {name} after {iterations} iterations); the covariance may be "
        "badly conditioned — try covariance_method='ledoit_wolf' or rescale the inputs"
    )
