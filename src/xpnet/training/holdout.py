"""The hold-out split of early stopping, drawn on the host as scikit-learn draws it."""

from __future__ import annotations

import math

import numpy as np


def stratified_split(
    rng: np.random.Generator, labels: np.ndarray, n_val: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each class keeps its share in the validation set (largest remainders)."""
    classes, index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    n_samples = labels.shape[0]
    if n_val < len(classes) or n_samples - n_val < len(classes):
        raise ValueError(
            f"validation_fraction gives {n_val} validation and {n_samples - n_val} "
            f"training samples; a stratified split needs at least {len(classes)} "
            "(the number of classes) in each"
        )
    share = counts * n_val / n_samples
    take = np.floor(share).astype(np.intp)
    remainder_order = np.argsort(-(share - take), kind="stable")
    take[remainder_order[: n_val - take.sum()]] += 1
    val, train_ = [], []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(index == c))
        val.append(members[: take[c]])
        train_.append(members[take[c] :])
    return rng.permutation(np.concatenate(train_)), rng.permutation(np.concatenate(val))


def split(
    rng: np.random.Generator, Y: np.ndarray, fraction: float, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices; stratified when ``stratify`` and Y has one
    column (a binary classifier).

    As scikit-learn: ``ceil(fraction * n)`` validation samples, at least 2.
    """
    n_samples = Y.shape[0]
    n_val = math.ceil(fraction * n_samples)
    if n_val < 2 or n_val >= n_samples:
        raise ValueError(
            "The validation set is too small (or leaves no training data): "
            f"validation_fraction={fraction} of {n_samples} "
            f"samples gives {n_val}; increase validation_fraction or the data"
        )
    if stratify and Y.shape[1] == 1:
        return stratified_split(rng, Y[:, 0], n_val)
    order = rng.permutation(n_samples)
    return order[n_val:], order[:n_val]
