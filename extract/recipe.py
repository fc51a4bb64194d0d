"""Recipes: how one model's response embeddings become per-probe DNA features.

A recipe sits between the embedder and the random projection. It maps the ``(n_probes, emb_dim)``
embeddings of ONE model (rows in probe order) to ``(n_probes, k)`` per-probe features; the
projection (:mod:`extract.projection`) then sums per-probe contributions into the DNA vector.

A recipe may use only the model itself plus statistics frozen into the recipe (e.g. reference
means computed once and shipped): a new model's DNA must be comparable with DNA already made,
without recomputing anyone else's. Its ``id`` is recorded in :attr:`phylo_llm.Provenance.recipe`
and must change whenever its output could change (version, hash of frozen statistics).

Registry
--------
``RECIPES`` maps a name to a zero-argument factory; :func:`get_recipe` looks one up.
``"concat"`` is the LLM-DNA paper's naive method: each probe's embedding is used unchanged, so the
DNA is a random projection of the concatenated embeddings.

``"whitened"`` (recommended) subtracts each probe's mean response embedding over a frozen
reference population, whitens the residual with a frozen ZCA matrix (shrunk towards isotropy) and
scales every probe to unit length, divided by ``sqrt(n_probes)``. Then the squared euclidean
distance of two DNA (before projection) is ``2 - 2 * mean over probes of cos(residual_i,
residual_j)``, in the whitened metric: what the question itself makes every model say is removed,
directions every response varies along (boilerplate, length, language) stop dominating, and each
probe has the same weight. It then removes half of the model's position on the reference
population's leading axis (``deflate=0.5``): that axis separates pretrained (base) models from
chat-tuned ones in every family, and left in full it makes a chat model look nearer to chat models
of other families than to the base model it was tuned from. ``"centred"`` is the same without
whitening; ``"whitened-global"`` subtracts one mean over all probes instead of per-probe means, so
it works with *any* probe set.

Frozen statistics (:class:`ReferenceStats`) hold the per-probe means for one probe list (valid for
that list and each of its leading subsets, ``ProbeSet.head(n)``), the global mean and both
whitening matrices, and the population's leading axis. They are fitted once (:func:`fit_reference`), stored in ``extract/data/`` and
identified by a content hash that is part of the recipe id, hence of every DNA's provenance. A
per-probe recipe asked to featurise a probe set its statistics do not cover raises — it never
falls back to another recipe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import atomic_open, check_choice, check_fraction, check_int, check_number, readonly, sha256_json

__all__ = [
    "Recipe",
    "ConcatRecipe",
    "CentredRecipe",
    "WhitenedRecipe",
    "ReferenceStats",
    "fit_reference",
    "read_reference",
    "write_reference",
    "bundled_reference",
    "BUNDLED_REFERENCE",
    "RECIPES",
    "get_recipe",
    "resolve_recipe",
    "check_embeddings",
    "BasisRecipe",
    "stats_from_arrays",
    "stats_to_arrays",
]


@runtime_checkable
class Recipe(Protocol):
    """Per-probe feature map applied to one model's response embeddings.

    Attributes
    ----------
    id
        Recorded in the DNA's provenance; includes a version and a hash of any frozen statistics.
    metric
        Distance the resulting DNA is meant to be compared with (``"euclidean"`` or ``"cosine"``).
    """

    id: str
    metric: Literal["euclidean", "cosine"]

    def features(self, emb: NDArray[np.float32], *, probe_set: str) -> NDArray[np.float64]:
        """``(n_probes, emb_dim)`` embeddings of one model -> ``(n_probes, k)`` features."""
        ...


def check_applicable(recipe: Recipe, *, embedder: str, probe_set: str, n_probes: int) -> None:
    """Raise, before any model runs, when ``recipe`` cannot apply to this embedder / probe set.

    Recipes with frozen statistics (``recipe.stats``) were fitted on one embedder's vectors, and
    the per-probe ones on one prompt list: statistics of another embedder with the same width
    would otherwise be applied silently. Recipes without statistics apply to anything.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> stats = fit_reference(rng.normal(size=(20, 2, 4)), prompts=["a?", "b?"],
    ...                       embedder="toy", name="toy")
    >>> check_applicable(WhitenedRecipe(stats, scope="global"), embedder="other",
    ...                  probe_set="sha256:x", n_probes=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: recipe 'whitened-global-v1+...' has statistics fitted on embedder 'toy', but the embedder is 'other'; use recipe 'concat' or fit statistics for this embedder with extract.recipe.fit_reference
    """
    stats = getattr(recipe, "stats", None)
    if stats is None:
        return
    if embedder != stats.embedder:
        raise PhyloLLMError(
            f"recipe {recipe.id!r} has statistics fitted on embedder {stats.embedder!r}, but the "
            f"embedder is {embedder!r}; use recipe 'concat' or fit statistics for this embedder "
            "with extract.recipe.fit_reference"
        )
    if getattr(recipe, "scope", "probe") in ("probe", "pca"):
        n = stats.n_for(probe_set, recipe=recipe.id)
        if n != n_probes:
            raise PhyloLLMError(
                f"probe set {probe_set!r} has {n_probes} probes but recipe {recipe.id!r} has statistics for {n}"
            )


def check_embeddings(emb: NDArray[np.floating], *, what: str = "embeddings") -> NDArray[np.float64]:
    """Validate one model's embeddings (2-D, at least one probe, finite) and return float64.

    Examples
    --------
    >>> check_embeddings(np.zeros((3, 4), dtype=np.float32)).shape
    (3, 4)
    """
    arr = np.asarray(emb)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise PhyloLLMError(f"{what} must be a non-empty 2-D array (n_probes, emb_dim), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise PhyloLLMError(
            f"{what} must be finite; {bad.size} probe(s) have NaN/inf values, e.g. rows {bad[:5].tolist()}"
        )
    return arr.astype(np.float64, copy=False)


@dataclass(frozen=True)
class ConcatRecipe:
    """The paper's naive recipe: each probe's embedding, unchanged.

    Examples
    --------
    >>> r = ConcatRecipe()
    >>> r.features(np.ones((2, 3), dtype=np.float32), probe_set="sha256:x").shape
    (2, 3)
    >>> r.id
    'concat-v1'
    """

    id: str = "concat-v1"
    metric: Literal["euclidean", "cosine"] = "euclidean"

    def features(self, emb: NDArray[np.float32], *, probe_set: str) -> NDArray[np.float64]:
        return check_embeddings(emb).copy()


# ---------------------------------------------------------------------------------------------
# Frozen reference statistics
# ---------------------------------------------------------------------------------------------

#: Statistics shipped with the package: all-MiniLM-L6-v2 on the llm-dna-paper responses.
BUNDLED_REFERENCE = Path(__file__).resolve().parent / "data" / "reference_llm-dna-paper_minilm.npz"

_STATS_FORMAT = "phylo_llm.reference_stats"
_STATS_VERSION = 2
_ARRAYS = ("probe_mean", "global_mean", "whiten_probe", "whiten_global", "probe_basis", "global_axis")


@dataclass(frozen=True)
class ReferenceStats:
    """Response-embedding statistics of a reference population of models, frozen once.

    Attributes
    ----------
    name
        Human-readable name of the population and probe list.
    embedder
        Embedder the statistics belong to.
    probe_sets
        ``{probe-set id: n}``: the probe sets (a prompt list and its leading subsets) whose
        per-probe means are the first ``n`` rows of ``probe_mean``.
    probe_mean
        ``(n_probes, dim)`` mean embedding of each probe's responses.
    global_mean
        ``(dim,)`` mean over all responses.
    whiten_probe, whiten_global
        ``(dim, dim)`` symmetric ZCA matrices of the residuals from the per-probe / global mean.
    probe_basis
        ``(n_probes, k, dim)``: for each probe, the top-``k`` principal directions of the reference
        models' whitened residuals (orthonormal rows), used by the ``"whitened-pca"`` recipe.
    global_axis
        ``(n_probes, dim)``: the leading principal direction of the reference models' ``whitened``
        features (all probes concatenated; unit norm overall), deflated by ``"whitened"``. On the
        paper's models it is the base-model vs chat-model axis.
    n_models
        Size of the reference population.
    shrinkage
        Whitening shrinkage: eigenvalues ``w`` become ``w + shrinkage * mean(w)``.
    """

    name: str
    embedder: str
    probe_sets: Mapping[str, int] = field(repr=False)
    probe_mean: NDArray[np.float32] = field(repr=False)
    global_mean: NDArray[np.float32] = field(repr=False)
    whiten_probe: NDArray[np.float32] = field(repr=False)
    whiten_global: NDArray[np.float32] = field(repr=False)
    probe_basis: NDArray[np.float32] = field(repr=False)
    global_axis: NDArray[np.float32] = field(repr=False)
    n_models: int = 0
    shrinkage: float = 0.01

    def __post_init__(self) -> None:
        for name in _ARRAYS:
            object.__setattr__(self, name, readonly(getattr(self, name), np.float32, copy=True))
        object.__setattr__(self, "probe_sets", MappingProxyType(dict(sorted(self.probe_sets.items()))))
        n, d = self.probe_mean.shape
        if self.global_mean.shape != (d,) or self.whiten_probe.shape != (d, d) or (self.whiten_global.shape != (d, d)):
            raise PhyloLLMError(
                f"reference statistics have inconsistent shapes: probe_mean {self.probe_mean.shape}, "
                f"global_mean {self.global_mean.shape}, whiten_probe {self.whiten_probe.shape}, "
                f"whiten_global {self.whiten_global.shape}"
            )
        if self.probe_basis.ndim != 3 or self.probe_basis.shape[::2] != (n, d):
            raise PhyloLLMError(f"probe_basis must have shape (n_probes={n}, k, dim={d}), got {self.probe_basis.shape}")
        if self.global_axis.shape != (n, d):
            raise PhyloLLMError(f"global_axis must have shape (n_probes={n}, dim={d}), got {self.global_axis.shape}")
        bad = {k: v for k, v in self.probe_sets.items() if not 1 <= v <= n}
        if bad:
            raise PhyloLLMError(f"probe_sets sizes must be within 1..{n}, got {bad}")

    @property
    def dim(self) -> int:
        return int(self.probe_mean.shape[1])

    @property
    def sha(self) -> str:
        """Content hash (hex) of the metadata and every array, independent of the file's bytes."""
        arrays = (np.ascontiguousarray(getattr(self, name), dtype="<f4").tobytes() for name in _ARRAYS)
        return sha256_json(self._meta(), extra=arrays)

    def _meta(self) -> dict[str, object]:
        return {
            "format": _STATS_FORMAT,
            "version": _STATS_VERSION,
            "name": self.name,
            "embedder": self.embedder,
            "probe_sets": dict(self.probe_sets),
            "n_models": int(self.n_models),
            "shrinkage": float(self.shrinkage),
        }

    def n_for(self, probe_set: str, *, recipe: str) -> int:
        """Rows of ``probe_mean`` that belong to ``probe_set``; raises when it is not covered."""
        try:
            return self.probe_sets[probe_set]
        except KeyError:
            raise PhyloLLMError(
                f"recipe {recipe!r} has frozen per-probe statistics for {self.name!r} "
                f"(the first 1..{self.probe_mean.shape[0]} of its prompts), not for probe set "
                f"{probe_set!r}; use recipe 'whitened-global' (works for any probe set) or fit "
                "statistics for these prompts with extract.recipe.fit_reference"
            ) from None


def _zca(residuals: NDArray[np.float64], shrinkage: float) -> NDArray[np.float64]:
    cov = np.cov(residuals, rowvar=False)
    w, q = np.linalg.eigh(cov)
    w = np.maximum(w, 0.0)  # eigh can return tiny negatives for a PSD matrix
    return (q * (w + shrinkage * w.mean()) ** -0.5) @ q.T


def fit_reference(
    embeddings: NDArray[np.floating],
    *,
    prompts: Sequence[str],
    embedder: str,
    name: str,
    shrinkage: float = 0.01,
    basis_k: int = 8,
) -> ReferenceStats:
    """Fit frozen statistics on the response embeddings of a reference population.

    Parameters
    ----------
    embeddings
        ``(n_models, n_probes, dim)`` embeddings of every reference model's responses (models
        whose responses are mostly empty should be left out, as the extraction does).
    prompts
        The ``n_probes`` prompts, in order: the statistics will cover this list and each of its
        leading subsets.
    embedder
        Embedder id (recorded; the recipe checks the embedding width against it).
    name
        Name of the population, shown in error messages.
    shrinkage
        Added to every eigenvalue as a fraction of their mean before whitening (``> 0``).
    basis_k
        Principal directions kept per probe for ``"whitened-pca"`` (``1 <= basis_k < n_models``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> stats = fit_reference(rng.normal(size=(30, 3, 5)), prompts=["a?", "b?", "c?"],
    ...                       embedder="toy", name="toy")
    >>> stats.probe_mean.shape, sorted(stats.probe_sets.values())
    ((3, 5), [1, 2, 3])
    """
    from .probes import probe_set_id

    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 3 or min(emb.shape) == 0:
        raise PhyloLLMError(f"embeddings must be a non-empty (n_models, n_probes, dim) array, got shape {emb.shape}")
    if emb.shape[0] < 2:
        raise PhyloLLMError(f"need at least 2 reference models, got {emb.shape[0]}")
    if len(prompts) != emb.shape[1]:
        raise PhyloLLMError(f"number of prompts ({len(prompts)}) must match the embeddings' probes ({emb.shape[1]})")
    if not np.isfinite(emb).all():
        raise PhyloLLMError("embeddings must be finite; found NaN/inf values")
    check_number("shrinkage", shrinkage, min=0, open_left=True)
    basis_k = check_int("basis_k", basis_k, min=1, max=emb.shape[0] - 1, note=f"fewer than n_models={emb.shape[0]}")
    d = emb.shape[2]
    probe_mean = emb.mean(axis=0)
    global_mean = emb.reshape(-1, d).mean(axis=0)
    probe_sets = {probe_set_id(list(prompts[:n])): n for n in range(1, len(prompts) + 1)}
    whiten_probe = _zca((emb - probe_mean).reshape(-1, d), shrinkage)
    white = (emb - probe_mean) @ whiten_probe
    basis = np.stack([np.linalg.svd(white[:, p], full_matrices=False)[2][:basis_k] for p in range(emb.shape[1])])
    norms = np.linalg.norm(white, axis=2, keepdims=True)
    unit = (white / np.where(norms == 0, 1.0, norms)).reshape(emb.shape[0], -1)
    axis = np.linalg.svd(unit - unit.mean(axis=0), full_matrices=False)[2][0]
    axis *= np.sign(axis[np.argmax(np.abs(axis))])  # SVD's sign is arbitrary; fix it
    return ReferenceStats(
        name=name,
        embedder=embedder,
        probe_sets=probe_sets,
        probe_mean=probe_mean,
        global_mean=global_mean,
        whiten_probe=whiten_probe,
        whiten_global=_zca(emb.reshape(-1, d) - global_mean, shrinkage),
        probe_basis=basis,
        global_axis=axis.reshape(emb.shape[1], d),
        n_models=emb.shape[0],
        shrinkage=float(shrinkage),
    )


def write_reference(stats: ReferenceStats, path: str | Path) -> Path:
    """Store ``stats`` as ``.npz`` (arrays as float32, metadata as JSON), atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise PhyloLLMError(f"reference statistics file must end in .npz, got {path.name!r}")
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(
            fh,
            meta=np.array(json.dumps(stats._meta(), sort_keys=True)),
            probe_mean=stats.probe_mean,
            global_mean=stats.global_mean,
            whiten_probe=stats.whiten_probe,
            whiten_global=stats.whiten_global,
            probe_basis=stats.probe_basis,
            global_axis=stats.global_axis,
        )
    return path


def read_reference(path: str | Path) -> ReferenceStats:
    """Read statistics written by :func:`write_reference`."""
    path = Path(path)
    if not path.is_file():
        raise PhyloLLMError(f"reference statistics file {str(path)!r} does not exist")
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != _STATS_FORMAT or meta.get("version") != _STATS_VERSION:
            raise PhyloLLMError(
                f"{path.name} is not reference statistics version {_STATS_VERSION} "
                f"(format {meta.get('format')!r}, version {meta.get('version')!r}); statistics "
                "of an older version lack arrays the recipes now use: fit them again with "
                "extract.recipe.fit_reference"
            )
        return ReferenceStats(
            name=meta["name"],
            embedder=meta["embedder"],
            probe_sets=meta["probe_sets"],
            probe_mean=z["probe_mean"],
            global_mean=z["global_mean"],
            whiten_probe=z["whiten_probe"],
            whiten_global=z["whiten_global"],
            probe_basis=z["probe_basis"],
            global_axis=z["global_axis"],
            n_models=int(meta["n_models"]),
            shrinkage=float(meta["shrinkage"]),
        )


@cache
def bundled_reference() -> ReferenceStats:
    """The statistics shipped in ``extract/data/`` (read once per process)."""
    return read_reference(BUNDLED_REFERENCE)


# ---------------------------------------------------------------------------------------------
# Recipes that use the statistics
# ---------------------------------------------------------------------------------------------


def _unit_probes(z: NDArray[np.float64], recipe: str) -> NDArray[np.float64]:
    norms = np.linalg.norm(z, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise PhyloLLMError(
            f"recipe {recipe!r}: {zero.size} probe(s) have a response embedding equal to the "
            f"reference mean, so no direction is defined, e.g. rows {zero[:5].tolist()}"
        )
    # Unit length per probe, and 1/sqrt(n) overall: squared DNA distance = 2 - 2 * mean cosine.
    return z / (norms[:, None] * np.sqrt(z.shape[0]))


def _check_width(emb: NDArray[np.float64], stats: ReferenceStats, recipe: str) -> None:
    if emb.shape[1] != stats.dim:
        raise PhyloLLMError(
            f"recipe {recipe!r} has statistics for {stats.embedder!r} ({stats.dim}-d embeddings), "
            f"got {emb.shape[1]}-d embeddings"
        )


@dataclass(frozen=True)
class CentredRecipe:
    """Per-probe centring on the frozen reference mean, then unit length per probe.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> stats = fit_reference(rng.normal(size=(20, 2, 4)), prompts=["a?", "b?"],
    ...                       embedder="toy", name="toy")
    >>> from extract.probes import probe_set_id
    >>> f = CentredRecipe(stats).features(rng.normal(size=(2, 4)), probe_set=probe_set_id(["a?", "b?"]))
    >>> np.round(np.linalg.norm(f, axis=1) ** 2, 6).tolist()
    [0.5, 0.5]
    """

    stats: ReferenceStats = field(repr=False)
    metric: Literal["euclidean", "cosine"] = "euclidean"

    @property
    def id(self) -> str:
        return f"centred-v1+{self.stats.sha[:12]}"

    def features(self, emb: NDArray[np.float32], *, probe_set: str) -> NDArray[np.float64]:
        x = check_embeddings(emb)
        _check_width(x, self.stats, self.id)
        n = self.stats.n_for(probe_set, recipe=self.id)
        if n != x.shape[0]:
            raise PhyloLLMError(f"probe set {probe_set!r} has {n} probes but the embeddings have {x.shape[0]} rows")
        return _unit_probes(x - self.stats.probe_mean[:n], self.id)


_SCOPES = {"probe": "whitened", "pca": "whitened-pca", "global": "whitened-global"}

#: Fraction of the population's leading (base vs chat) axis that ``"whitened"`` removes.
DEFAULT_DEFLATE = 0.5


@dataclass(frozen=True)
class WhitenedRecipe:
    """Centre (per probe, or globally), whiten with the frozen ZCA matrix, unit length per probe.

    Parameters
    ----------
    stats
        Frozen reference statistics.
    scope
        ``"probe"``: subtract each probe's reference mean (needs statistics for this probe set);
        ``"pca"``: as ``"probe"``, then keep only the probe's top-``k`` reference principal
        directions (``k`` features per probe instead of ``dim``: far less noise, so the DNA
        survives a 128-d random projection);
        ``"global"``: subtract the mean over all reference responses (any probe set).
    deflate
        Only with ``scope="probe"``: the fraction ``a`` of the model's coordinate along the
        frozen ``global_axis`` that is removed before the features are scaled back to unit norm,
        ``f <- (f - a (f.v) v) / |f - a (f.v) v|`` with ``v`` the axis restricted to the probe
        set. ``None`` (default) means 0.5 for ``"probe"`` and 0 for the other scopes; 0 gives
        the version-1 recipe. Removing the whole coordinate (``a = 1``) also throws away how far
        each model sits from the population along the axis and helps less (docs/recipe.md).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> stats = fit_reference(rng.normal(size=(20, 2, 4)), prompts=["a?", "b?"],
    ...                       embedder="toy", name="toy")
    >>> r = WhitenedRecipe(stats, scope="global")
    >>> r.features(rng.normal(size=(5, 4)), probe_set="sha256:anything").shape
    (5, 4)
    >>> r.id.startswith("whitened-global-v1+")
    True
    """

    stats: ReferenceStats = field(repr=False)
    scope: Literal["probe", "pca", "global"] = "probe"
    metric: Literal["euclidean", "cosine"] = "euclidean"
    deflate: float | None = None

    def __post_init__(self) -> None:
        check_choice("scope", self.scope, sorted(_SCOPES))
        a = self.deflate
        if a is None:
            a = DEFAULT_DEFLATE if self.scope == "probe" else 0.0
        elif check_fraction("deflate", a) > 0 and self.scope != "probe":  # deflate=0 is plain whitening
            raise PhyloLLMError(
                f"deflate applies only to scope 'probe' (its axis is fitted on those features), "
                f"got deflate={a!r} with scope {self.scope!r}"
            )
        object.__setattr__(self, "deflate", float(a))

    @property
    def id(self) -> str:
        name = _SCOPES[self.scope]
        if not self.deflate:
            return f"{name}-v1+{self.stats.sha[:12]}"
        if self.deflate == DEFAULT_DEFLATE:
            return f"{name}-v2+{self.stats.sha[:12]}"
        return f"{name}-v2-deflate{self.deflate:g}+{self.stats.sha[:12]}"

    def features(self, emb: NDArray[np.float32], *, probe_set: str) -> NDArray[np.float64]:
        x = check_embeddings(emb)
        _check_width(x, self.stats, self.id)
        st = self.stats
        if self.scope in ("probe", "pca"):
            n = st.n_for(probe_set, recipe=self.id)
            if n != x.shape[0]:
                raise PhyloLLMError(f"probe set {probe_set!r} has {n} probes but the embeddings have {x.shape[0]} rows")
            z = (x - st.probe_mean[:n]) @ st.whiten_probe
            if self.scope == "pca":
                z = np.einsum("pd,pkd->pk", z, st.probe_basis[:n].astype(np.float64))
        else:
            z = (x - st.global_mean) @ st.whiten_global
        f = _unit_probes(z, self.id)
        if self.deflate:
            v = st.global_axis[: f.shape[0]].astype(np.float64)
            v /= np.linalg.norm(v)  # the axis restricted to a leading subset of the probes
            f = f - self.deflate * float(np.vdot(f, v)) * v
            norm = np.linalg.norm(f)  # >= sqrt((1 - a)^2) > 0 unless a = 1 and f lies on the axis
            if norm == 0:
                raise PhyloLLMError(
                    f"recipe {self.id!r}: the model's features lie on the deflated axis, "
                    "so nothing is left; use deflate < 1"
                )
            f /= norm
        return f


RECIPES: dict[str, Callable[[], Recipe]] = {
    "concat": ConcatRecipe,
    "centred": lambda: CentredRecipe(bundled_reference()),
    "whitened": lambda: WhitenedRecipe(bundled_reference(), scope="probe"),
    "whitened-pca": lambda: WhitenedRecipe(bundled_reference(), scope="pca"),
    "whitened-global": lambda: WhitenedRecipe(bundled_reference(), scope="global"),
}


#: Recipe name resolved per probe set by :func:`resolve_recipe` (the extraction's default).
AUTO = "auto"


def resolve_recipe(name: str, *, probe_set: str) -> Recipe:
    """:func:`get_recipe`, with ``"auto"`` resolved for ``probe_set``.

    ``"auto"`` is ``"whitened"`` when the bundled statistics cover the probe set (the paper's
    prompts and their leading subsets) and ``"whitened-global"`` for any other probe set: the
    best measured recipe that applies. The resolved recipe's id, not ``"auto"``, goes into the
    DNA's provenance.

    Examples
    --------
    >>> resolve_recipe("auto", probe_set="sha256:some-other-prompts").id.startswith("whitened-global-v1+")
    True
    >>> resolve_recipe("concat", probe_set="sha256:x").id
    'concat-v1'
    """
    if name == AUTO:
        covered = probe_set in bundled_reference().probe_sets
        return get_recipe("whitened" if covered else "whitened-global")
    return get_recipe(name)


def get_recipe(name: str) -> Recipe:
    """The recipe registered as ``name``.

    Examples
    --------
    >>> get_recipe("concat").id
    'concat-v1'
    """
    try:
        factory = RECIPES[name]
    except KeyError:
        raise PhyloLLMError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}") from None
    return factory()


@dataclass(frozen=True)
class BasisRecipe:
    """``whitened`` (v2) features, each probe's expressed in its top-``k`` reference directions.

    The v2 features of one probe are a ``dim``-vector (384 for MiniLM); the reference population's
    whitened residuals to that probe vary mostly along a few directions (``stats.probe_basis``,
    fitted with the statistics). Keeping the coordinates along the first ``k`` of them gives
    ``k`` numbers per probe that preserve the population's distances far better than a random
    projection of the same size (docs/atlas.md): a frozen orthonormal basis instead of a random
    one. Atlases store their DNA this way, exactly (no random projection).

    Parameters
    ----------
    stats
        Frozen statistics with a ``probe_basis`` of at least ``k`` directions per probe.
    k
        Directions kept per probe (default: all of ``stats.probe_basis``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> stats = fit_reference(rng.normal(size=(20, 2, 4)), prompts=["a?", "b?"],
    ...                       embedder="toy", name="toy", basis_k=3)
    >>> from extract.probes import probe_set_id
    >>> BasisRecipe(stats).features(rng.normal(size=(2, 4)), probe_set=probe_set_id(["a?", "b?"])).shape
    (2, 3)
    """

    stats: ReferenceStats = field(repr=False)
    k: int | None = None
    metric: Literal["euclidean", "cosine"] = "euclidean"

    def __post_init__(self) -> None:
        have = self.stats.probe_basis.shape[1]
        k = have if self.k is None else self.k
        object.__setattr__(self, "k", check_int("k", k, min=1, max=have, note="the basis size"))

    @property
    def id(self) -> str:
        return f"whitened-v2-basis{self.k}+{self.stats.sha[:12]}"

    def features(self, emb: NDArray[np.float32], *, probe_set: str) -> NDArray[np.float64]:
        f = WhitenedRecipe(self.stats, scope="probe").features(emb, probe_set=probe_set)
        basis = self.stats.probe_basis[: f.shape[0], : self.k].astype(np.float64)
        return np.einsum("pd,pkd->pk", f, basis)


def stats_from_arrays(meta: Mapping[str, object], arrays: Mapping[str, NDArray[np.floating]]) -> ReferenceStats:
    """:class:`ReferenceStats` from the metadata and arrays an atlas stores (see
    :func:`stats_to_arrays`); the hash is checked by the caller against the recipe id."""
    missing = [a for a in _ARRAYS if a not in arrays]
    if missing:
        raise PhyloLLMError(f"reference statistics lack array(s) {missing}")
    return ReferenceStats(
        name=str(meta["name"]),
        embedder=str(meta["embedder"]),
        probe_sets=dict(meta["probe_sets"]),  # type: ignore[call-overload]
        **{a: arrays[a] for a in _ARRAYS},
        n_models=int(meta["n_models"]),  # type: ignore[call-overload]
        shrinkage=float(meta["shrinkage"]),  # type: ignore[arg-type]
    )


def stats_to_arrays(stats: ReferenceStats) -> tuple[dict[str, object], dict[str, NDArray[np.float32]]]:
    """``(metadata, arrays)`` of ``stats``, for storing inside another file (an atlas)."""
    return stats._meta(), {a: getattr(stats, a) for a in _ARRAYS}
