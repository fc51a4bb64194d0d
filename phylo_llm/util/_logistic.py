"""Ridge logistic regression by Newton steps (the few-parameter fits of calibration and link models)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def fit_logistic(
    x: ArrayLike, y: ArrayLike, *, ridge: float = 1e-3, max_iter: int = 50, tol: float = 1e-10
) -> NDArray[np.float64]:
    """Weights ``w`` of ``P(y = 1 | x) = sigmoid(x @ w)`` maximising the ridge-penalised likelihood.

    ``x`` holds the columns as given (add a column of ones for an intercept); the penalty
    ``ridge / 2 * |w|^2`` covers every weight. Newton steps until the largest step is below
    ``tol`` or ``max_iter`` steps were made. With a positive ``ridge`` the fit exists even when the
    classes are separable.

    Examples
    --------
    >>> x = np.column_stack([np.ones(6), [0.0, 1, 2, 3, 4, 5]])
    >>> w = fit_logistic(x, [0, 0, 1, 0, 1, 1])
    >>> bool(w[1] > 0)
    True
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    k = x.shape[1]
    w = np.zeros(k)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -50.0, 50.0)))
        g = x.T @ (p - y) + ridge * w
        h = (x * (p * (1 - p))[:, None]).T @ x + ridge * np.eye(k)
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < tol:
            break
    return w
