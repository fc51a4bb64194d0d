"""Seeded Gaussian random projection (Johnson–Lindenstrauss) of per-probe features into DNA.

The DNA of a model is ``x @ R`` where ``x`` is the concatenation of its per-probe features
(``n_probes * k`` numbers) and ``R`` is a ``(n_probes * k, dims)`` matrix with i.i.d. entries
``N(0, 1/dims)``, so squared distances are preserved in expectation. ``R`` is never stored: it is
made of one ``(k, dims)`` block per probe, each drawn from ``np.random.default_rng((seed, k,
dims, probe))``. Every model therefore shares the same matrix, it streams block by block (600
probes x 384 dims x 128 would be 236 MB in float64 at once), and the DNA is a *sum over probes*
of per-probe contributions — which is what bootstrapping over probes needs. Blocks are generated\nand applied a group of probes at a time (a few MB), so memory stays small.

The bit stream of ``numpy.random.Generator`` (PCG64 + ziggurat normals) is the same on every
platform; NumPy only reserves the right to change it across its own versions (NEP 19).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike, NDArray

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import check_int

from .defaults import DEFAULT_SEED, PAPER_DIMS

__all__ = ["PROJECTION", "projection_block", "per_probe_contributions", "project"]

#: Recorded in :attr:`phylo_llm.Provenance.projection`.
PROJECTION = "gaussian-jl"


def check_params(k: int, dims: int, seed: int) -> None:
    check_int("input width", k, min=1)
    check_int("dims", dims, min=1)
    check_int("seed", seed, min=0)


def projection_block(probe: int, k: int, dims: int, *, seed: int = 0) -> NDArray[np.float64]:
    """The ``(k, dims)`` block of the projection matrix that multiplies probe ``probe``'s features.

    Entries are i.i.d. ``N(0, 1/dims)`` drawn from ``default_rng((seed, k, dims, probe))``: a
    pure function of its arguments.

    Examples
    --------
    >>> b = projection_block(0, 4, 3, seed=7)
    >>> b.shape, bool((b == projection_block(0, 4, 3, seed=7)).all())
    ((4, 3), True)
    """
    check_params(k, dims, seed)
    check_int("probe", probe, min=0)
    rng = np.random.default_rng((int(seed), int(k), int(dims), int(probe)))
    return rng.standard_normal((k, dims)) / np.sqrt(dims)


def _block_groups(n_probes: int, k: int, dims: int, seed: int) -> Iterator[tuple[int, NDArray[np.float64]]]:
    """``(first probe, (g, k, dims) blocks)`` for consecutive groups of about 4 MB of blocks."""
    group = max(1, (1 << 19) // (k * dims))
    for start in range(0, n_probes, group):
        stop = min(n_probes, start + group)
        yield start, np.stack([projection_block(i, k, dims, seed=seed) for i in range(start, stop)])


def _as_features(features: ArrayLike) -> NDArray[np.float64]:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim not in (2, 3) or 0 in x.shape:
        raise PhyloLLMError(
            f"features must be a non-empty (n_probes, k) array or a (n_models, n_probes, k) stack, got shape {x.shape}"
        )
    if not np.isfinite(x).all():
        raise PhyloLLMError("features must be finite; found NaN/inf values")
    return x


def per_probe_contributions(
    features: ArrayLike, *, seed: int = DEFAULT_SEED, dims: int = PAPER_DIMS
) -> NDArray[np.float64]:
    """Each probe's share of the DNA: row ``i`` is ``features[i] @ R_i``; the rows sum to the DNA.

    Parameters
    ----------
    features
        ``(n_probes, k)`` per-probe features of one model, or ``(n_models, n_probes, k)``.
    seed, dims
        Projection seed and DNA dimension.

    Returns
    -------
    ``(n_probes, dims)`` (or ``(n_models, n_probes, dims)``) float64 array.

    Examples
    --------
    >>> x = np.arange(12.0).reshape(3, 4)
    >>> c = per_probe_contributions(x, seed=0, dims=5)
    >>> c.shape, bool(np.allclose(c.sum(axis=0), project(x, seed=0, dims=5)))
    ((3, 5), True)
    """
    x = _as_features(features)
    n_probes, k = x.shape[-2], x.shape[-1]
    check_params(k, dims, seed)
    out = np.empty(x.shape[:-1] + (dims,), dtype=np.float64)
    for start, blocks in _block_groups(n_probes, k, dims, seed):
        stop = start + blocks.shape[0]
        # einsum's own loop: one call per group, no per-probe BLAS dispatch.
        out[..., start:stop, :] = np.einsum("...pk,pkd->...pd", x[..., start:stop, :], blocks)
    return out


def project(features: ArrayLike, *, seed: int = DEFAULT_SEED, dims: int = PAPER_DIMS) -> NDArray[np.float64]:
    """DNA = concatenated per-probe features times the seeded Gaussian matrix, streamed per probe.

    Parameters
    ----------
    features
        ``(n_probes, k)`` for one model or ``(n_models, n_probes, k)`` for several (the matrix is
        generated once for all of them).
    seed, dims
        Projection seed and DNA dimension.

    Returns
    -------
    ``(dims,)`` for one model, ``(n_models, dims)`` for a stack.

    Examples
    --------
    >>> x = np.ones((2, 3))
    >>> project(x, seed=1, dims=4).shape
    (4,)
    >>> project(np.stack([x, 2 * x]), seed=1, dims=4).shape
    (2, 4)
    """
    x = _as_features(features)
    n_probes, k = x.shape[-2], x.shape[-1]
    check_params(k, dims, seed)
    lead = x.shape[:-2]
    out = np.zeros(lead + (dims,), dtype=np.float64)
    for start, blocks in _block_groups(n_probes, k, dims, seed):
        stop = start + blocks.shape[0]
        # One matrix product per group of probes: a few dozen BLAS calls instead of one per
        # probe (thousands of tiny calls are very slow on an oversubscribed multi-threaded BLAS).
        chunk = x[..., start:stop, :].reshape(lead + (-1,))
        out += chunk @ blocks.reshape(-1, dims)
    return out
