"""Neighbor-joining arithmetic: exact canonical NJ with lazily refreshed row bounds.

The core works on arrays only and returns scikit-bio's linkage layout; :mod:`phylo_llm.tree`
turns it into a :class:`~phylo_llm.tree.Tree`.

Why it is fast and still exact
------------------------------
Canonical NJ (Saitou & Nei 1987, Studier & Keppler 1988) joins, at every step, the pair with the
smallest ``Q(a, b) = (n - 2) d(a, b) - r(a) - r(b)``, where ``r`` are row sums over the ``n``
live clusters. A full scan costs ``n^2/2`` per step, ``n^3/6`` in total.

Here every row ``a`` remembers what a full scan of it found at the time ``t`` it was last
scanned: its ``L = 8`` smallest-``Q`` partners with their distances (kept *exactly*), and a lower
bound for all its other columns. Distances between two live clusters never change in NJ, so
``k = n_t - n`` steps later, for every column ``b`` that was live at ``t``::

    Q_now(a, b) = Q_t(a, b) - k d(a, b) + [r_a(t) - r_a(now)] + [r_b(t) - r_b(now)]

The kept partners are re-evaluated exactly from that formula's left side (O(1) each). For the
other columns the right side is bounded below by

    min_rest (Q_t(a, b) - k d(a, b))  +  [r_a(t) - r_a(now)]  +  C(now) - C(t)

where ``C`` accumulates, step by step, the smallest decrease of any live row sum (the decrease of
``r_b`` over the interval is a sum of per-step decreases, each at least that step's minimum).
The first term is a minimum of lines in ``k``, hence concave: the scan stores it at ``k = 0``
(the ``(L+1)``-th smallest ``Q``) and at horizons ``K = 8, 32, 128, 512``, and between two stored
points it lies above their chord (beyond the last, it falls at most at slope ``max_b d(a, b)``).
Columns created after ``t`` are new clusters whose own rows were scanned in full when they were
made, so every live pair is covered by at least one row. Each step therefore

1. re-evaluates every row's best kept partner (an upper bound on the minimum), then the other
   kept partners of rows that can still win,
2. rescans only the rows whose bound on the other columns does not exceed the best ``Q`` so far,

which yields exactly the pair a full scan would pick, including ties (below), while touching a
small fraction of the matrix (at n = 3,000 random points about 1/80 of what full scans read).
Because a row's nearest competitors are tracked exactly, the bound only has to hold off the
columns beyond its ``L``-th best, which sit far above the global minimum. A relative slack of
``1e-9`` in the bound comparisons absorbs floating-point rounding in the bookkeeping; it can
only cause extra work, never a miss.

Layout and ties
---------------
The live clusters occupy positions ``0..n-1`` of a dense matrix, exactly as in scikit-bio's
``_nj``: joining positions ``i < j`` puts the new cluster at ``i`` and moves the last position
into ``j``. Among pairs with equal ``Q`` the one with the smallest ``(i, j)``, ``i < j``, in that
positional order wins -- the pair scikit-bio's row-major scan keeps -- so on matrices with ties
(integer distances) the result matches ``skbio.tree.nj`` join for join. All arithmetic on ``Q``
and row sums is float64 whatever the storage type of the matrix (float32 halves memory).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir as llvm_ir
from numba import njit, types
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = ["nj_linkage"]

# Relative slack for comparing a row's lower bound with the best Q found (see module docstring).
_REL_SLACK = 1e-9

# Look-ahead horizons (in join steps) of the stored envelope points, see _envelope.
_K0, _K1, _K2, _K3 = 8.0, 32.0, 128.0, 512.0
_ENV_K = np.array([_K0, _K1, _K2, _K3])
_N_ENV = 4
# Number of smallest-Q partners each row keeps and re-evaluates exactly at every step.
_L = 8


@njit(cache=True, nogil=True)
def _better(q: float, x: int, y: int, bq: float, bx: int, by: int) -> bool:
    """Whether pair (x, y), x < y, with value q beats the incumbent under (Q, x, y) order."""
    if q < bq:
        return True
    if q > bq:
        return False
    return x < bx or (x == bx and y < by)


def _float_reduction(name: str):
    """``llvm.minnum`` on float64 with no-NaN flags.

    Numba's ``min`` compiles to compare-and-select, which LLVM will not vectorise as a
    reduction; this intrinsic is (about 8x cheaper per cell). Only the reduction gets relaxed
    flags: products and sums stay strict IEEE (no contraction, no reassociation), so the
    vectorised envelope pass recomputes exactly the Q values of the scalar pass and its
    ``q < threshold`` test leaves out exactly the kept partners. Inputs are finite (validated),
    so no-NaN is a fact, not a guess.
    """

    @intrinsic
    def reduce2(typingctx, a, b):
        sig = types.float64(types.float64, types.float64)

        def codegen(context, builder, signature, args):
            fnty = llvm_ir.FunctionType(llvm_ir.DoubleType(), [llvm_ir.DoubleType()] * 2)
            fn = builder.module.declare_intrinsic(name, [llvm_ir.DoubleType()], fnty)
            return builder.call(fn, args, fastmath=("nnan", "nsz"))

        return sig, codegen

    return reduce2


_fmin = _float_reduction("llvm.minnum")


@njit(cache=True, nogil=True)
def _rest_env(row, r, lo, hi, n2, ra, thr, env):
    e0 = env[0]
    e1 = env[1]
    e2 = env[2]
    e3 = env[3]
    for b in range(lo, hi):
        v = float(row[b])
        q = n2 * v - (ra + r[b])
        big = q < thr  # a candidate kept exactly, not part of the rest
        e0 = _fmin(e0, np.inf if big else q - _K0 * v)
        e1 = _fmin(e1, np.inf if big else q - _K1 * v)
        e2 = _fmin(e2, np.inf if big else q - _K2 * v)
        e3 = _fmin(e3, np.inf if big else q - _K3 * v)
    env[0] = e0
    env[1] = e1
    env[2] = e2
    env[3] = e3


@njit(cache=True, nogil=True)
def _scan_row(d, r, a, n, ids, cid, cd, env, bufq, bufb):
    """Full scan of row ``a``: keep its ``L`` smallest Q exactly (ties: earlier column first),
    and return (smallest Q, its column, the (L+1)-th smallest Q, the row's largest d);
    ``env[e]`` gets the smallest ``Q - K_e d`` over the columns not kept."""
    n2 = float(n - 2)
    ra = r[a]
    row = d[a]
    cnt = 0
    dmax = -np.inf
    for part in range(2):
        lo = 0 if part == 0 else a + 1
        hi = a if part == 0 else n
        for b in range(lo, hi):
            v = float(row[b])
            if v > dmax:
                dmax = v
            q = n2 * v - (ra + r[b])
            if cnt <= _L:
                p = cnt
                cnt += 1
            elif q < bufq[_L]:
                p = _L
            else:
                continue
            while p > 0 and bufq[p - 1] > q:
                bufq[p] = bufq[p - 1]
                bufb[p] = bufb[p - 1]
                p -= 1
            bufq[p] = q
            bufb[p] = b
    kept = min(cnt, _L)
    for k in range(_L):
        if k < kept:
            cid[k] = ids[bufb[k]]
            cd[k] = float(row[bufb[k]])
        else:
            cid[k] = -1
    for e in range(_N_ENV):
        env[e] = np.inf
    mrest = np.inf
    if cnt > _L:
        mrest = bufq[_L]
        _rest_env(row, r, 0, a, n2, ra, mrest, env)
        _rest_env(row, r, a + 1, n, n2, ra, mrest, env)
    return bufq[0], bufb[0], mrest, dmax


@njit(cache=True, nogil=True)
def _maxkept(cd, cid):
    out = -np.inf
    for k in range(cd.shape[0]):
        if cid[k] < 0:
            break
        out = max(out, cd[k])
    return out


@njit(cache=True, nogil=True)
def _envelope(m, env, dmax, k):
    """Lower bound on min_b (Q_t(a,b) - k d(a,b)) from the stored concave envelope points."""
    if k <= 0:
        return m
    x0 = 0.0
    y0 = m
    for e in range(_N_ENV):
        x1 = _ENV_K[e]
        y1 = env[e]
        if k <= x1:
            # The envelope is concave in k, so it lies above the chord between two points.
            return y0 + (y1 - y0) * ((k - x0) / (x1 - x0))
        x0 = x1
        y0 = y1
    return y0 - (k - x0) * dmax


@njit(cache=True, nogil=True)
def _rescan(d, r, a, n, ids, cid, cd, env, bufq, bufb, C, mrest, mtop, cdmax, dmax, r_at, n_at, c_at):
    """Scan row ``a`` exactly and record the state its later bounds are measured from."""
    q, b, mr, dm = _scan_row(d, r, a, n, ids, cid[a], cd[a], env[a], bufq, bufb)
    mrest[a] = mr
    mtop[a] = q
    cdmax[a] = _maxkept(cd[a], cid[a])
    dmax[a] = dm
    r_at[a] = r[a]
    n_at[a] = n
    c_at[a] = C
    return q, b


@njit(cache=True, nogil=True)
def _nj_core(d, lm, stats):
    """Canonical NJ on the working matrix ``d`` (overwritten); fills ``lm`` (N-1, 4).

    One function on purpose, the one exception to "orchestrators call named steps": this is the
    hot loop (N - 1 joins, each touching every live row's bound), and the per-step state (row sums,
    bounds, kept partners, positions) lives in local arrays that numba keeps in registers and
    cache. The pieces that read well alone are already separate kernels (``_scan_row``,
    ``_rescan``, ``_maxkept``); cutting the join step itself into functions would hand some 20
    arrays through every call of the innermost loop. Its speed is measured in BENCHMARKS.md,
    "Tree building (NJ / UPGMA)" (5.3 s for 10,000 tips, 37x faster than scikit-bio): rerun
    ``benchmarks/bench_tree.py`` before and after any change to it.
    """
    N = d.shape[0]
    n = N
    # Row sums, accumulated in float64 whatever the storage type.
    r = np.zeros(N)
    dscale = 0.0
    for a in range(N):
        s = 0.0
        for b in range(N):
            v = float(d[a, b])
            s += v
            if abs(v) > dscale:
                dscale = abs(v)
        r[a] = s
    ids = np.arange(N)
    pos_of = np.full(2 * N, -1, dtype=np.int64)
    pos_of[:N] = np.arange(N)
    # Per-row memory of its last full scan: L exact candidates (cluster ids and distances) and
    # the data for a lower bound on all other columns.
    cid = np.full((N, _L), -1, dtype=np.int64)
    cd = np.zeros((N, _L))
    mrest = np.empty(N)
    mtop = np.empty(N)
    cdmax = np.empty(N)
    env = np.empty((N, _N_ENV))
    dmax = np.empty(N)
    r_at = np.empty(N)
    n_at = np.empty(N, dtype=np.int64)
    c_at = np.empty(N)
    bufq = np.empty(_L + 1)
    bufb = np.empty(_L + 1, dtype=np.int64)
    C = 0.0
    n_scans = 0
    for a in range(N):
        _rescan(d, r, a, n, ids, cid, cd, env, bufq, bufb, C, mrest, mtop, cdmax, dmax, r_at, n_at, c_at)
    n_scans += N
    tmp = np.empty(N)
    while n > 3:
        n2 = float(n - 2)
        slack = _REL_SLACK * (n * dscale + 1.0)
        # 1. Every row's first kept candidate, evaluated exactly now: a good upper bound.
        bq = np.inf
        bi = N
        bj = N
        for a in range(n):
            p = cid[a, 0]
            if p < 0:
                continue
            b = pos_of[p]
            if b < 0:
                continue
            q = n2 * cd[a, 0] - (r[a] + r[b])
            x = min(a, b)
            y = max(a, b)
            if _better(q, x, y, bq, bi, bj):
                bq = q
                bi = x
                bj = y
        # 1b. The other kept candidates, only in rows whose bound on them can still win.
        for a in range(n):
            lb = mtop[a] - (n_at[a] - n) * cdmax[a] + (r_at[a] - r[a]) + (C - c_at[a])
            if lb > bq + slack:
                continue
            ra = r[a]
            for k in range(1, _L):
                p = cid[a, k]
                if p < 0:
                    break
                b = pos_of[p]
                if b < 0:
                    continue
                q = n2 * cd[a, k] - (ra + r[b])
                if q <= bq:
                    x = min(a, b)
                    y = max(a, b)
                    if _better(q, x, y, bq, bi, bj):
                        bq = q
                        bi = x
                        bj = y
        # 2. Rescan rows whose bound on the other columns does not exceed the best so far.
        for a in range(n):
            if mrest[a] == np.inf:
                continue
            lb = _envelope(mrest[a], env[a], dmax[a], float(n_at[a] - n))
            lb += (r_at[a] - r[a]) + (C - c_at[a])
            if lb > bq + slack:
                continue
            q, b = _rescan(d, r, a, n, ids, cid, cd, env, bufq, bufb, C, mrest, mtop, cdmax, dmax, r_at, n_at, c_at)
            n_scans += 1
            x = min(a, b)
            y = max(a, b)
            if _better(q, x, y, bq, bi, bj):
                bq = q
                bi = x
                bj = y
        i = bi
        j = bj
        # 3. Join i and j (scikit-bio's arithmetic, so ties and rounding agree).
        dij = float(d[i, j])
        half = dij / 2.0
        delta = (r[i] - r[j]) / (2.0 * n - 4.0)
        lm[N - n, 0] = ids[i]
        lm[N - n, 1] = ids[j]
        lm[N - n, 2] = half + delta
        lm[N - n, 3] = half - delta
        dmin_drop = np.inf
        for k in range(n):
            t = (float(d[i, k]) + float(d[j, k])) / 2.0
            tmp[k] = t - half
            newr = r[k] - t - half
            if k != i and k != j:
                drop = r[k] - newr
                if drop < dmin_drop:
                    dmin_drop = drop
            r[k] = newr
        for k in range(n):
            d[i, k] = tmp[k]
            d[k, i] = tmp[k]
        d[i, i] = 0.0
        # Move the last position into j.
        last = n - 1
        if j != last:
            for k in range(n):
                d[j, k] = d[last, k]
            for k in range(n):
                d[k, j] = d[k, last]
            d[j, j] = 0.0
            r[j] = r[last]
            mrest[j] = mrest[last]
            mtop[j] = mtop[last]
            cdmax[j] = cdmax[last]
            env[j] = env[last]
            cid[j] = cid[last]
            cd[j] = cd[last]
            dmax[j] = dmax[last]
            r_at[j] = r_at[last]
            n_at[j] = n_at[last]
            c_at[j] = c_at[last]
        pos_of[ids[i]] = -1
        pos_of[ids[j]] = -1
        if j != last:
            ids[j] = ids[last]
            pos_of[ids[j]] = j
        new_id = 2 * N - n
        ids[i] = new_id
        pos_of[new_id] = i
        n -= 1
        C += dmin_drop
        s = 0.0
        for k in range(n):
            s += float(d[i, k])
        r[i] = s
        # The new cluster's row is scanned in full: it covers all its pairs from now on.
        _rescan(d, r, i, n, ids, cid, cd, env, bufq, bufb, C, mrest, mtop, cdmax, dmax, r_at, n_at, c_at)
        n_scans += 1
    # Final three clusters: the third joins the root of the first two (unrooted trifurcation).
    l0 = (float(d[0, 1]) + float(d[0, 2]) - float(d[1, 2])) / 2.0
    lm[N - 3, 0] = ids[1]
    lm[N - 3, 1] = ids[2]
    lm[N - 3, 2] = float(d[0, 1]) - l0
    lm[N - 3, 3] = float(d[0, 2]) - l0
    lm[N - 2, 0] = ids[0]
    lm[N - 2, 1] = 2 * N - 3
    lm[N - 2, 2] = l0
    lm[N - 2, 3] = 0.0
    stats[0] = n_scans


def nj_linkage(d: NDArray[np.floating], *, inplace: bool = False) -> tuple[NDArray[np.float64], int]:
    """Canonical neighbor joining on a distance array; the join records in scikit-bio's layout.

    Parameters
    ----------
    d
        ``(N, N)`` symmetric hollow array, ``N >= 3``, float32 or float64 (kept as is).
    inplace
        Use ``d`` as the working matrix (it is overwritten) instead of a copy.

    Returns
    -------
    lm : ndarray, shape (N - 1, 4)
        Row ``k < N - 3`` joins clusters ``lm[k, 0]`` and ``lm[k, 1]`` (tips ``0..N-1``, the
        ``k``-th new cluster ``N + k``) with branch lengths ``lm[k, 2]`` and ``lm[k, 3]``. Row
        ``N - 3`` joins two of the last three clusters into cluster ``2N - 3``, the root of the
        unrooted tree, and row ``N - 2`` attaches the third, ``lm[N-2, 0]``, to that root with
        length ``lm[N-2, 2]`` (``lm[N-2, 1] = 2N - 3``, ``lm[N-2, 3] = 0``). Lengths are raw:
        they may be negative.
    n_scans
        Number of full row scans done, ``N`` of them at the start (a plain Q search scans
        ``N^2/2`` rows in total) -- a measure of how much the bounds saved.

    Examples
    --------
    >>> d = np.array([[0, 5, 9, 9, 8], [5, 0, 10, 10, 9], [9, 10, 0, 8, 7],
    ...               [9, 10, 8, 0, 3], [8, 9, 7, 3, 0]], dtype=float)
    >>> lm, _ = nj_linkage(d)
    >>> lm[0].tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    if d.dtype not in (np.float32, np.float64):
        d = d.astype(np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] < 3:
        raise ValueError(f"nj_linkage needs a square array with at least 3 rows, got shape {d.shape}")
    work = d if inplace else np.array(d, copy=True, order="C")
    if not work.flags.c_contiguous:
        work = np.ascontiguousarray(work)
    N = work.shape[0]
    lm = np.empty((N - 1, 4), dtype=np.float64)
    stats = np.zeros(1, dtype=np.int64)
    _nj_core(work, lm, stats)
    return lm, int(stats[0])
