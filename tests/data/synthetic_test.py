"""Tests for urfbtf/data/synthetic.py, the synthetic tasks of Frenkel et al. (2021),
sections 4.1 (regression on cosines) and 4.2 (sklearn-style classification)."""

import numpy as np
import pytest

from urfbtf.data import synthetic

CLASS_SEP = 4.5
N_FEATURES = 256
N_INFORMATIVE = 128
N_REDUNDANT = 2
N_CLASSES = 10
N_CLUSTERS = 50
N_TOTAL = 30_000


@pytest.fixture(scope="module")
def paper_set():
    """The paper's 30k classification set with its generating centres."""
    return synthetic.make_classification(N_TOTAL, return_centers=True)


@pytest.fixture(scope="module")
def column_kinds(paper_set):
    """Boolean masks (informative, redundant, noise) over the shuffled features,
    read off the centres: informative coordinates are ±class_sep, noise ones 0."""
    centers = paper_set[2]
    informative = np.all(np.abs(centers) == CLASS_SEP, axis=0)
    noise = np.all(centers == 0, axis=0)
    return informative, ~informative & ~noise, noise


def _nearest(x, centers):
    """Index of the nearest row of centers for each row of x (Euclidean)."""
    # |x - c|² without the |x|² term, which is the same for every centre.
    distances = -2.0 * x.astype(np.float64) @ centers.T + np.sum(centers**2, axis=1)
    return np.argmin(distances, axis=1)


def _class_means(x, y):
    return np.stack([x[y == k].mean(axis=0) for k in range(N_CLASSES)])


def test_classification_splits_have_paper_sizes_and_dtypes():
    train_x, train_y, test_x, test_y = synthetic.classification_splits()
    assert train_x.shape == (25_000, N_FEATURES)
    assert test_x.shape == (5_000, N_FEATURES)
    assert train_y.shape == (25_000,)
    assert test_y.shape == (5_000,)
    assert train_x.dtype == test_x.dtype == np.float32
    assert train_y.dtype == test_y.dtype == np.int64
    assert np.all(np.isfinite(train_x))
    assert set(np.unique(np.concatenate([train_y, test_y]))) == set(range(N_CLASSES))


def test_classification_splits_are_one_generated_set_cut_25k_5k(paper_set):
    x, y = paper_set[:2]
    train_x, train_y, test_x, test_y = synthetic.classification_splits()
    np.testing.assert_array_equal(np.concatenate([train_x, test_x]), x)
    np.testing.assert_array_equal(np.concatenate([train_y, test_y]), y)


def test_splits_default_to_the_fixed_data_seed():
    assert synthetic.DATA_SEED == 0
    default = synthetic.regression_splits()
    explicit = synthetic.regression_splits(seed=synthetic.DATA_SEED)
    for a, b in zip(default, explicit, strict=True):
        np.testing.assert_array_equal(a, b)


def test_make_classification_is_deterministic_per_seed():
    x1, y1 = synthetic.make_classification(2_000, seed=3)
    x2, y2 = synthetic.make_classification(2_000, seed=3)
    x3, y3 = synthetic.make_classification(2_000, seed=4)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert not np.array_equal(y1, y3)


def test_return_centers_does_not_change_the_data(paper_set):
    x, y = synthetic.make_classification(N_TOTAL)
    np.testing.assert_array_equal(x, paper_set[0])
    np.testing.assert_array_equal(y, paper_set[1])


def test_classes_are_balanced(paper_set):
    train_x, train_y, test_x, test_y = synthetic.classification_splits()
    for y in (paper_set[1], train_y, test_y):
        fractions = np.bincount(y, minlength=N_CLASSES) / len(y)
        assert np.all((fractions > 0.08) & (fractions < 0.12)), fractions


def test_clusters_sit_on_distinct_hypercube_vertices(paper_set, column_kinds):
    centers, center_labels = paper_set[2:]
    informative, redundant, noise = column_kinds
    assert centers.shape == (N_CLUSTERS, N_FEATURES)
    assert center_labels.dtype == np.int64
    # Every class owns the same number of clusters.
    np.testing.assert_array_equal(np.bincount(center_labels), [5] * N_CLASSES)
    assert informative.sum() == N_INFORMATIVE
    assert redundant.sum() == N_REDUNDANT
    assert noise.sum() == N_FEATURES - N_INFORMATIVE - N_REDUNDANT
    vertices = centers[:, informative]
    assert len(np.unique(vertices, axis=0)) == N_CLUSTERS


def test_redundant_features_are_linear_combinations_of_informative(
    paper_set, column_kinds
):
    x = paper_set[0].astype(np.float64)
    informative, redundant, _ = column_kinds
    coefficients, *_ = np.linalg.lstsq(x[:, informative], x[:, redundant])
    residual = x[:, redundant] - x[:, informative] @ coefficients
    # Only float32 rounding of x is left (the features are ~50 in scale).
    assert np.max(np.abs(residual)) < 1e-3
    assert np.all(np.abs(coefficients) <= 1.0 + 1e-4)


def test_labels_follow_the_nearest_generating_cluster_except_flips(
    paper_set, column_kinds
):
    x, y, centers, center_labels = paper_set
    informative = column_kinds[0]
    # On the informative features the clusters are far apart for their spread,
    # so the nearest centre recovers the generating cluster almost always and the
    # disagreements are the labels redrawn at random: flip_y (1 - 1/classes) ≈ 0.9%.
    nearest = center_labels[_nearest(x[:, informative], centers[:, informative])]
    disagreement = np.mean(nearest != y)
    assert 0.005 < disagreement < 0.015, disagreement  # Measured 0.0088.


def test_without_flips_every_label_is_its_cluster_class():
    x, y, centers, center_labels = synthetic.make_classification(
        5_000, flip_y=0.0, return_centers=True
    )
    informative = np.all(np.abs(centers) == CLASS_SEP, axis=0)
    nearest = center_labels[_nearest(x[:, informative], centers[:, informative])]
    assert np.mean(nearest == y) > 0.995


def test_nearest_class_mean_on_informative_features_beats_chance(column_kinds):
    train_x, train_y, test_x, test_y = synthetic.classification_splits()
    informative = column_kinds[0]
    means = _class_means(train_x[:, informative], train_y)
    accuracy = np.mean(_nearest(test_x[:, informative], means) == test_y)
    # Chance is 0.1; measured 0.886. Each class is five clusters spread over the
    # hypercube, so one mean per class cannot reach the clusters' own separation.
    assert accuracy > 0.75, accuracy


def test_nearest_class_mean_on_standardised_features_beats_chance():
    """Uses only the training data: no knowledge of which features matter."""
    train_x, train_y, test_x, test_y = synthetic.classification_splits()
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    # Standardising stops the two redundant features, whose scale is ~50, from
    # dominating the distances (raw-feature nearest class mean measured 0.36).
    train_z, test_z = (train_x - mean) / std, (test_x - mean) / std
    means = _class_means(train_z, train_y)
    accuracy = np.mean(_nearest(test_z, means) == test_y)
    assert accuracy > 0.75, accuracy  # Measured 0.885.


def test_noise_features_are_standard_normal(paper_set, column_kinds):
    noise_x = paper_set[0][:, column_kinds[2]]
    # Standard error of a column mean is 1/sqrt(30k) ≈ 0.006, of a std ≈ 0.004.
    np.testing.assert_array_less(np.abs(noise_x.mean(axis=0)), 0.03)
    np.testing.assert_array_less(np.abs(noise_x.std(axis=0) - 1.0), 0.03)


def test_features_are_shuffled(column_kinds):
    # Unshuffled, the informative features would be the first 128 columns.
    assert not np.all(column_kinds[0][:N_INFORMATIVE])


def test_small_hypercube_uses_every_vertex_once():
    # 2 classes x 4 clusters fill all 2**3 vertices: this needs sampling without
    # replacement, not independent random vertices.
    x, y, centers, center_labels = synthetic.make_classification(
        400,
        n_features=5,
        n_informative=3,
        n_redundant=1,
        n_classes=2,
        n_clusters_per_class=4,
        class_sep=1.0,
        seed=1,
        return_centers=True,
    )
    assert x.shape == (400, 5)
    informative = np.all(np.abs(centers) == 1.0, axis=0)
    assert informative.sum() == 3
    assert len(np.unique(centers[:, informative], axis=0)) == 8
    np.testing.assert_array_equal(np.bincount(center_labels), [4, 4])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_informative=5, n_classes=10, n_clusters_per_class=5), "vertices"),
        (dict(n_features=100, n_informative=99, n_redundant=2), "n_features"),
        (dict(flip_y=1.5), "flip_y"),
        (dict(n_classes=0), "n_classes"),
        (dict(n_redundant=-1), "n_redundant"),
    ],
)
def test_make_classification_rejects_impossible_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic.make_classification(100, **kwargs)


def test_regression_splits_have_paper_sizes_and_dtypes():
    train_x, train_t, test_x, test_t = synthetic.regression_splits()
    assert train_x.shape == (5_000, 256)
    assert test_x.shape == (1_000, 256)
    assert train_t.shape == (5_000, 10)
    assert test_t.shape == (1_000, 10)
    for array in (train_x, train_t, test_x, test_t):
        assert array.dtype == np.float32


def test_regression_is_deterministic_per_seed():
    x1, t1 = synthetic.make_regression_cosines(500, seed=7)
    x2, t2 = synthetic.make_regression_cosines(500, seed=7)
    x3, t3 = synthetic.make_regression_cosines(500, seed=8)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(t1, t2)
    assert not np.array_equal(x1, x3)
    assert not np.array_equal(t1, t3)


def test_regression_targets_are_cosines_of_the_input_mean():
    x, targets = synthetic.make_regression_cosines(6_000)
    phases = -np.pi / 2 + np.arange(10) * np.pi / 9
    np.testing.assert_allclose(synthetic.regression_phases(), phases)
    assert phases[0] == -np.pi / 2 and np.isclose(phases[-1], np.pi / 2)
    expected = np.cos(x.astype(np.float64).mean(axis=1, keepdims=True) + phases)
    np.testing.assert_allclose(targets, expected, rtol=0, atol=1e-6)
    assert np.all((targets >= -1.0) & (targets <= 1.0))


def test_regression_inputs_are_unit_variance_around_uniform_means():
    x = synthetic.make_regression_cosines(6_000)[0].astype(np.float64)
    means = x.mean(axis=1)
    # The example means are uniform on [-π, π] plus N(0, 1/256) noise.
    assert means.min() < -3.0 and means.max() > 3.0
    assert np.all(np.abs(means) < np.pi + 0.4)
    quarters = np.histogram(means, bins=4, range=(-np.pi, np.pi))[0] / len(means)
    np.testing.assert_allclose(quarters, 0.25, atol=0.03)
    within = x - means[:, None]
    assert abs(within.std() - 1.0) < 0.02
