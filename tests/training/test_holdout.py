"""Early stopping's hold-out split: its size at the edges (at least 2 validation
rows and 1 training row; a stratified split needs every class on both sides), the
exact messages, and the largest-remainder share of each class."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.training.holdout import split, stratified_split


def _rows(n_samples):
    return np.zeros((n_samples, 2))


@pytest.mark.parametrize(
    ("n_samples", "fraction", "n_val"), [(10, 0.2, 2), (10, 0.9, 9), (3, 0.5, 2)]
)
def test_the_split_keeps_two_validation_rows_and_one_training_row(
    n_samples, fraction, n_val
):
    train, val = split(np.random.default_rng(0), _rows(n_samples), fraction, False)
    assert len(val) == n_val
    assert sorted([*train, *val]) == list(range(n_samples))


@pytest.mark.parametrize(
    ("n_samples", "fraction", "n_val"), [(10, 0.1, 1), (3, 0.9, 3), (10, 1.0, 10)]
)
def test_a_split_too_small_or_leaving_no_training_rows_is_refused(
    n_samples, fraction, n_val
):
    with pytest.raises(ValueError) as info:
        split(np.random.default_rng(0), _rows(n_samples), fraction, False)
    assert str(info.value) == (
        "The validation set is too small (or leaves no training data): "
        f"validation_fraction={fraction} of {n_samples} samples gives {n_val}; "
        "increase validation_fraction or the data"
    )


@pytest.mark.parametrize(("n_samples", "n_val"), [(4, 2), (5, 2), (5, 3)])
def test_a_stratified_split_with_each_class_on_both_sides_is_made(n_samples, n_val):
    labels = np.arange(n_samples) % 2
    train, val = stratified_split(np.random.default_rng(0), labels, n_val)
    assert sorted(set(labels[val])) == sorted(set(labels[train])) == [0, 1]
    assert sorted([*train, *val]) == list(range(n_samples))


@pytest.mark.parametrize(("n_samples", "n_val"), [(10, 1), (3, 2), (2, 1)])
def test_a_stratified_split_without_each_class_on_both_sides_is_refused(
    n_samples, n_val
):
    labels = np.arange(n_samples) % 2
    with pytest.raises(ValueError) as info:
        stratified_split(np.random.default_rng(0), labels, n_val)
    assert str(info.value) == (
        f"validation_fraction gives {n_val} validation and {n_samples - n_val} "
        "training samples; a stratified split needs at least 2 (the number of "
        "classes) in each"
    )


def test_the_largest_remainders_take_the_rows_left_over():
    """Counts 5, 3, 2 of 10 with 3 held out: shares 1.5, 0.9, 0.6 floor to 1, 0,
    0, and the two largest remainders (0.9, 0.6) get one more each."""
    labels = np.repeat([0, 1, 2], [5, 3, 2])
    _, val = stratified_split(np.random.default_rng(0), labels, 3)
    assert np.bincount(labels[val], minlength=3).tolist() == [1, 1, 1]


def test_equal_remainders_go_to_the_first_classes():
    """Counts 2, 3, 2, 3, ... (12 classes, 30 rows) with 13 held out: shares 0.87
    and 1.3 floor to 0 and 1; the six remainders of 0.87 get one row each and the
    seventh row goes to the first class of the six tied at 0.3 (a stable order)."""
    labels = np.repeat(np.arange(12), [2, 3] * 6)
    _, val = stratified_split(np.random.default_rng(0), labels, 13)
    assert np.bincount(labels[val], minlength=12).tolist() == [1, 2] + [1] * 10
