"""The seeded Gaussian JL projection: determinism, block structure, distance preservation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from extract.projection import per_probe_contributions, project, projection_block
from phylo_llm.errors import PhyloLLMError


def test_blocks_are_pure_functions_of_their_arguments() -> None:
    a = projection_block(3, 5, 7, seed=11)
    assert np.array_equal(a, projection_block(3, 5, 7, seed=11))
    assert not np.array_equal(a, projection_block(3, 5, 7, seed=12))
    assert not np.array_equal(a, projection_block(4, 5, 7, seed=11))
    # A different output width is a different matrix, not a truncation of the same one.
    assert not np.array_equal(a[:, :6], projection_block(3, 5, 6, seed=11))


def test_project_equals_the_assembled_matrix_product() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4))
    R = np.concatenate([projection_block(i, 4, 9, seed=2) for i in range(6)], axis=0)
    assert np.allclose(project(x, seed=2, dims=9), x.reshape(-1) @ R)


def test_stack_matches_one_model_at_a_time() -> None:
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((3, 5, 4))
    stacked = project(xs, seed=0, dims=8)
    for m in range(3):
        assert np.allclose(stacked[m], project(xs[m], seed=0, dims=8))


def test_contributions_sum_to_the_dna_and_each_depends_on_its_probe_only() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 3))
    c = per_probe_contributions(x, seed=5, dims=16)
    assert c.shape == (7, 16)
    assert np.allclose(c.sum(axis=0), project(x, seed=5, dims=16))
    y = x.copy()
    y[-1] += 1.0
    c2 = per_probe_contributions(y, seed=5, dims=16)
    assert np.array_equal(c[:-1], c2[:-1])
    assert not np.allclose(c[-1], c2[-1])


def test_entries_have_variance_one_over_dims() -> None:
    dims = 64
    R = np.concatenate([projection_block(i, 50, dims, seed=0) for i in range(40)])
    assert abs(R.mean()) < 0.01
    assert R.var() == pytest.approx(1 / dims, rel=0.03)


@pytest.mark.parametrize("eps", [0.3, 0.5])
def test_johnson_lindenstrauss_pairwise_distance_ratios(eps: float) -> None:
    # As scikit-learn's test: every pairwise squared-distance ratio stays within 1 +- eps for
    # dims at the JL bound 4 ln(n) / (eps^2/2 - eps^3/3).
    n, n_probes, k = 20, 50, 40
    dims = int(np.ceil(4 * np.log(n) / (eps**2 / 2 - eps**3 / 3)))
    x = np.random.default_rng(3).standard_normal((n, n_probes, k))
    y = project(x, seed=0, dims=dims)
    ratio = pdist(y, "sqeuclidean") / pdist(x.reshape(n, -1), "sqeuclidean")
    assert ratio.min() > 1 - eps and ratio.max() < 1 + eps


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"dims": 0}, "dims must be an integer >= 1"),
        ({"dims": 2.5}, "dims must be an integer"),
    ],
)
def test_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        project(np.ones((2, 3)), **kwargs)


@pytest.mark.parametrize("shape", [(3,), (0, 4), (2, 0), (1, 2, 3, 4)])
def test_bad_feature_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(PhyloLLMError, match="features must be"):
        project(np.ones(shape))


def test_non_finite_features_are_refused() -> None:
    x = np.ones((2, 3))
    x[1, 2] = np.nan
    with pytest.raises(PhyloLLMError, match="finite"):
        project(x)
