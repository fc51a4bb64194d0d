"""Neighbor-joining arithmetic: exact canonical NJ with lazily refreshed row bounds.

The core works on arrays only and returns scikit-bio's linkage layout; :mod:`phylo_llm.build`
turns it into a :class:`~phylo_llm.tree.Tree`.

Why it is fast and still exact
------------------------------
Canonical NJ (Saitou & Nei 1987, Studier & Keppler 1988) joins, at every step, the pair with the
smallest ``Q(a, b) = (n - 2) d(a, b) - r(a) - r(b)``, where ``r`` are row sums over the ``n``
live clusters. A full scan costs ``n^2/2`` per step, ``n^3/6`` in total.

Here every row ``a`` remembers what a full scan of it found at the time ``t`` it was last scanned:
its smallest ``Q`` value ``m_a``, the partner that gave it, the largest distance ``dmax_a`` in
the row, ``r_a(t)`` and ``n_t``. Distances between two live clusters never change in NJ, so
``k = n_t - n`` steps later, for every column ``b`` that was live at ``t``::

    Q_now(a, b) = Q_t(a, b) - k d(a, b) + [r_a(t) - r_a(now)] + [r_b(t) - r_b(now)]
               >= m_a      - k dmax_a  + [r_a(t) - r_a(now)] + C(now) - C(t)

where ``C`` accumulates, step by step, the smallest decrease of any live row sum (the decrease of
``r_b`` over the interval is a sum of per-step decreases, each at least that step's minimum).
The ``- k dmax_a`` term is loose; the scan also stores ``min_b (Q_t(a, b) - K d(a, b))`` for a few
horizons ``K`` (8, 32, 128, 512 steps). As a function of ``k`` that minimum is concave (a minimum
of lines), so between two stored points it lies above their chord, which gives a much tighter
bound at no extra memory traffic. Columns created after ``t`` are new clusters whose own rows
were scanned in full when they were made, so every live pair is covered by at least one row's
bound. Each step therefore

1. takes the remembered partner of every row as a candidate (an upper bound on the minimum),
2. rescans only the rows whose lower bound does not exceed the best ``Q`` found so far,

which yields exactly the pair a full scan would pick, including ties (below), while touching a
small fraction of the matrix. A relative slack of ``1e-9`` in the bound comparison absorbs
floating-point rounding in the bookkeeping; it can only cause extra rescans, never a miss.

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


@njit(cache=True, nogil=True)
def _better(q: float, x: int, y: int, bq: float, bx: int, by: int) -> bool:
    """Whether pair (x, y), x < y, with value q beats the incumbent under (Q, x, y) order."""
    if q < bq:
        return True
    if q > bq:
        return False
    return x < bx or (x == bx and y < by)


def _float_reduction(name: str):
    """``llvm.minnum``/``llvm.maxnum`` on float64 with no-NaN flags.

    Numba's ``min``/``max`` compile to compare-and-select, which LLVM will not vectorise as a
    reduction; these intrinsics are, which makes a row scan about 8x cheaper in compute. Only
    the reduction gets relaxed flags: products and sums stay strict IEEE (no contraction, no
    reassociation), so the vectorised pass and the scalar pass that locates the minimum compute
    bitwise-identical Q values. Inputs are finite (validated), so no-NaN is a fact, not a guess.
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
_fmax = _float_reduction("llvm.maxnum")

# Row scans run in chunks: a vectorised pass keeps each chunk's minimum, then only the first
# chunk holding the row minimum is searched for its first column.
_CHUNK = 256


@njit(cache=True, nogil=True)
def _scan_chunk(row, r, lo, hi, n2, ra, env):
    best = np.inf
    dmax = -np.inf
    e0 = env[0]
    e1 = env[1]
    e2 = env[2]
    e3 = env[3]
    for b in range(lo, hi):
        v = float(row[b])
        q = n2 * v - (ra + r[b])
        best = _fmin(best, q)
        dmax = _fmax(dmax, v)
        e0 = _fmin(e0, q - _K0 * v)
        e1 = _fmin(e1, q - _K1 * v)
        e2 = _fmin(e2, q - _K2 * v)
        e3 = _fmin(e3, q - _K3 * v)
    env[0] = e0
    env[1] = e1
    env[2] = e2
    env[3] = e3
    return best, dmax


@njit(cache=True, nogil=True)
def _scan_row(d, r, a, n, env, cmin):
    """Smallest Q in row ``a`` (first such column in position order), the row's largest d, and
    in ``env[e]`` the smallest ``Q - K_e d`` (the row minimum ``K_e`` steps ahead, r fixed)."""
    n2 = float(n - 2)
    ra = r[a]
    row = d[a]
    for e in range(_N_ENV):
        env[e] = np.inf
    best = np.inf
    dmax = -np.inf
    nc = 0
    # Columns 0..a-1 then a+1..n-1, in chunks; cmin[c] = chunk minimum.
    for part in range(2):
        lo = 0 if part == 0 else a + 1
        hi = a if part == 0 else n
        for c0 in range(lo, hi, _CHUNK):
            c1 = min(c0 + _CHUNK, hi)
            cb, cd = _scan_chunk(row, r, c0, c1, n2, ra, env)
            cmin[nc] = cb
            nc += 1
            best = min(best, cb)
            dmax = max(dmax, cd)
    # Locate the first column achieving the minimum (same arithmetic, so equality is exact).
    c = 0
    bb = -1
    for part in range(2):
        lo = 0 if part == 0 else a + 1
        hi = a if part == 0 else n
        for c0 in range(lo, hi, _CHUNK):
            if bb < 0 and cmin[c] == best:
                for b in range(c0, min(c0 + _CHUNK, hi)):
                    if n2 * float(row[b]) - (ra + r[b]) == best:
                        bb = b
                        break
            c += 1
    return best, bb, dmax


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
def _nj_core(d, lm, stats):
    """Canonical NJ on the working matrix ``d`` (overwritten); fills ``lm`` (N-1, 4)."""
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
    # Per-row memory of its last full scan.
    m = np.empty(N)
    env = np.empty((N, _N_ENV))
    cmin = np.empty(N // _CHUNK + 3)
    partner = np.full(N, -1, dtype=np.int64)  # cluster id, not position
    dmax = np.empty(N)
    r_at = np.empty(N)
    n_at = np.empty(N, dtype=np.int64)
    c_at = np.empty(N)
    C = 0.0
    n_scans = 0
    for a in range(N):
        q, b, dm = _scan_row(d, r, a, n, env[a], cmin)
        m[a] = q
        partner[a] = ids[b] if b >= 0 else -1
        dmax[a] = dm
        r_at[a] = r[a]
        n_at[a] = n
        c_at[a] = C
    n_scans += N
    tmp = np.empty(N)
    while n > 3:
        n2 = float(n - 2)
        slack = _REL_SLACK * (n * dscale + 1.0)
        # 1. Candidates: every row's remembered partner, re-evaluated now.
        bq = np.inf
        bi = N
        bj = N
        for a in range(n):
            p = partner[a]
            if p < 0:
                continue
            b = pos_of[p]
            if b < 0:
                continue
            q = n2 * float(d[a, b]) - (r[a] + r[b])
            x = min(a, b)
            y = max(a, b)
            if _better(q, x, y, bq, bi, bj):
                bq = q
                bi = x
                bj = y
        # 2. Rescan rows whose lower bound does not exceed the best so far.
        for a in range(n):
            lb = _envelope(m[a], env[a], dmax[a], float(n_at[a] - n)) + (r_at[a] - r[a]) + (C - c_at[a])
            if lb > bq + slack:
                continue
            q, b, dm = _scan_row(d, r, a, n, env[a], cmin)
            n_scans += 1
            m[a] = q
            partner[a] = ids[b]
            dmax[a] = dm
            r_at[a] = r[a]
            n_at[a] = n
            c_at[a] = C
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
            m[j] = m[last]
            env[j] = env[last]
            partner[j] = partner[last]
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
        q, b, dm = _scan_row(d, r, i, n, env[i], cmin)
        n_scans += 1
        m[i] = q
        partner[i] = ids[b]
        dmax[i] = dm
        r_at[i] = r[i]
        n_at[i] = n
        c_at[i] = C
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
        Number of full row scans done (``N`` of them for the start; a full Q scan would need
        about ``N^2/2`` row scans in total) -- a measure of how much the bounds saved.

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
