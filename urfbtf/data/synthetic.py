"""The two synthetic tasks of Frenkel et al. (2021), sections 2.1 and 4.1-4.2.

Frenkel, Lefebvre and Bol (2021), "Learning without feedback: fixed random learning
signals allow for feedforward training of deep neural networks", Frontiers in
Neuroscience 15:629892.

* Regression (section 4.1): ten targets T_j(x) = cos(mean(x) + φ_j), with
  φ_j = -π/2 + jπ/9 for j = 0..9, where x is a 256-d vector whose entries are drawn
  from a normal distribution of unit variance around a mean drawn uniformly from
  [-π, π] (one mean per example); 5k training and 1k test examples.
* Classification (section 4.2): data from sklearn's `make_classification` with
  n_features=256, n_informative=128, ten classes, five clusters per class and
  class_sep=4.5; 25k training and 5k test examples, separated from one generated
  set of 30k.

scikit-learn is not a dependency of this package, so `make_classification` here is
a NumPy reimplementation of the algorithm sklearn documents (written from its
documentation, not its source). The parameters the paper does not name keep
sklearn's defaults, which is what the paper's call used: n_redundant=2,
n_repeated=0, flip_y=0.01, hypercube=True, shift=0, scale=1, shuffle=True and
weights=None (balanced classes). The random streams differ from sklearn's, so the
same seed does not give sklearn's numbers; the distribution is the same.

The data of both tasks is meant to be the same for every run: `classification_splits`
and `regression_splits` take a seed only so that tests can vary it, and callers
pass `DATA_SEED`, not the run's seed, so runs that differ in their initialisation
are trained and tested on the same examples (as the paper's ten runs per algorithm
were).
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

# The seed of the synthetic data sets. A constant rather than the run's seed: the
# paper repeats each experiment with different network initialisations on one data
# set, and results of runs with different seeds must stay comparable.
DATA_SEED = 0

CLASSIFICATION_TRAIN_EXAMPLES = 25_000
CLASSIFICATION_TEST_EXAMPLES = 5_000
REGRESSION_TRAIN_EXAMPLES = 5_000
REGRESSION_TEST_EXAMPLES = 1_000
REGRESSION_TARGETS = 10

# Below this many informative features the hypercube's 2**n vertices can be
# numbered with int64 and sampled without replacement directly; above it, random
# vertices almost never repeat, so drawing and redrawing duplicates is cheaper.
_MAX_ENUMERATED_DIMENSIONS = 30


def regression_phases() -> np.ndarray:
    """The phases φ_j = -π/2 + jπ/9, j = 0..9, of the regression targets [10]."""
    return -np.pi / 2 + np.arange(REGRESSION_TARGETS) * np.pi / 9


def make_regression_cosines(
    n_samples: int, n_features: int = 256, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The regression examples of section 4.1.

    Each example draws a mean μ uniformly from [-π, π]; its n_features entries are
    μ plus standard-normal noise. Its ten targets are cos(mean(x) + φ_j), computed
    from the float32 inputs actually returned, so they are exact functions of them
    and not of μ or of float64 inputs that the network never sees.

    Args:
        n_samples: number of examples.
        n_features: length of each input vector (256 in the paper).
        seed: seed of the NumPy generator; the same seed gives the same data.

    Returns:
        (x, targets): x float32 [n_samples, n_features] and targets float32
        [n_samples, 10], all in [-1, 1].

    Raises:
        ValueError: if n_samples or n_features is not positive.
    """
    _check_positive(n_samples=n_samples, n_features=n_features)
    rng = np.random.default_rng(seed)
    means = rng.uniform(-np.pi, np.pi, size=(n_samples, 1))
    x = (means + rng.standard_normal((n_samples, n_features))).astype(np.float32)
    # Averaged in float64 so that the targets carry no float32 summation error.
    x_bar = x.mean(axis=1, dtype=np.float64)
    targets = np.cos(x_bar[:, None] + regression_phases()[None, :])
    return x, targets.astype(np.float32)


@overload
def make_classification(
    n_samples: int,
    n_features: int = ...,
    n_informative: int = ...,
    n_redundant: int = ...,
    n_classes: int = ...,
    n_clusters_per_class: int = ...,
    class_sep: float = ...,
    flip_y: float = ...,
    seed: int = ...,
    *,
    return_centers: Literal[False] = ...,
) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def make_classification(
    n_samples: int,
    n_features: int = ...,
    n_informative: int = ...,
    n_redundant: int = ...,
    n_classes: int = ...,
    n_clusters_per_class: int = ...,
    class_sep: float = ...,
    flip_y: float = ...,
    seed: int = ...,
    *,
    return_centers: Literal[True],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...


def make_classification(
    n_samples: int,
    n_features: int = 256,
    n_informative: int = 128,
    n_redundant: int = 2,
    n_classes: int = 10,
    n_clusters_per_class: int = 5,
    class_sep: float = 4.5,
    flip_y: float = 0.01,
    seed: int = 0,
    *,
    return_centers: bool = False,
) -> (
    tuple[np.ndarray, np.ndarray]
    | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
):
    """A random n-class problem made as sklearn's `make_classification` documents.

    The defaults are the paper's settings (section 4.2), with sklearn's defaults for
    the parameters the paper does not name. The algorithm:

    1. n_classes * n_clusters_per_class clusters are placed on distinct vertices,
       chosen at random, of an n_informative-dimensional hypercube with sides of
       length 2 * class_sep centred on the origin (coordinates ±class_sep). Cluster
       k belongs to class k mod n_classes, so every class has the same number of
       clusters.
    2. The samples are split as evenly as possible over the clusters (hence over
       the classes). A cluster's informative features are standard-normal points
       multiplied by a random matrix with entries uniform in [-1, 1], which gives
       each cluster its own covariance, and shifted to the cluster's vertex.
    3. n_redundant features are random linear combinations (coefficients uniform
       in [-1, 1]) of the informative ones; the remaining features are
       standard-normal noise. (sklearn's n_repeated, shift and scale keep their
       defaults 0, 0 and 1, so they do nothing and are not parameters.)
    4. A fraction flip_y of the samples gets a label drawn uniformly from all
       classes. As in sklearn, the new label may equal the old one, so about
       flip_y * (1 - 1/n_classes) of the labels actually change.
    5. The samples and the features are shuffled.

    Args:
        n_samples: number of samples.
        n_features: total number of features.
        n_informative: number of informative features (the hypercube's dimension).
        n_redundant: number of linear combinations of the informative features.
        n_classes: number of classes.
        n_clusters_per_class: number of Gaussian clusters of each class.
        class_sep: half the side of the hypercube; larger separates the classes.
        flip_y: fraction of samples whose label is drawn at random.
        seed: seed of the NumPy generator; the same seed gives the same data.
        return_centers: also return the clusters' centres and classes, in the
            shuffled feature order, for checking where the data lies.

    Returns:
        (x, y): x float32 [n_samples, n_features] and y int64 [n_samples] in
        [0, n_classes). With return_centers, also centers float32
        [n_classes * n_clusters_per_class, n_features] (a cluster's mean: its
        vertex on the informative features, the vertex's linear combinations on
        the redundant ones and 0 on the noise features) and center_labels int64
        [n_classes * n_clusters_per_class], each cluster's class.

    Raises:
        ValueError: if a count is out of range, if the hypercube has fewer
            vertices than there are clusters, if the informative and redundant
            features do not fit in n_features, or if flip_y is not in [0, 1].
    """
    _check_positive(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_classes=n_classes,
        n_clusters_per_class=n_clusters_per_class,
    )
    if n_redundant < 0:
        raise ValueError(f"n_redundant must be >= 0, got {n_redundant}")
    if n_informative + n_redundant > n_features:
        raise ValueError(
            f"n_informative + n_redundant = {n_informative} + {n_redundant} must "
            f"not exceed n_features = {n_features}"
        )
    n_clusters = n_classes * n_clusters_per_class
    # A Python int, so that 2**n_informative cannot overflow.
    if n_clusters > 2 ** int(n_informative):
        raise ValueError(
            f"n_classes * n_clusters_per_class = {n_clusters} clusters need as many "
            f"distinct hypercube vertices, but n_informative = {n_informative} "
            f"gives only 2**{n_informative} = {2 ** int(n_informative)}"
        )
    if not 0.0 <= flip_y <= 1.0:
        raise ValueError(f"flip_y must be in [0, 1], got {flip_y}")

    rng = np.random.default_rng(seed)
    vertices = _distinct_vertices(rng, n_clusters, n_informative)
    informative_centers = np.where(vertices, class_sep, -class_sep)
    center_labels = np.arange(n_clusters, dtype=np.int64) % n_classes

    # The first n_samples % n_clusters clusters get one extra sample. Consecutive
    # clusters belong to successive classes, so the extras go round the classes
    # and class sizes differ by at most one.
    sizes = np.full(n_clusters, n_samples // n_clusters)
    sizes[: n_samples % n_clusters] += 1
    cluster_of_sample = np.repeat(np.arange(n_clusters), sizes)

    informative = rng.standard_normal((n_samples, n_informative))
    start = 0
    for k, size in enumerate(sizes):
        mixing = rng.uniform(-1.0, 1.0, size=(n_informative, n_informative))
        block = slice(start, start + size)
        informative[block] = informative[block] @ mixing + informative_centers[k]
        start += size

    combination = rng.uniform(-1.0, 1.0, size=(n_informative, n_redundant))
    n_noise = n_features - n_informative - n_redundant
    x = np.concatenate(
        [
            informative,
            informative @ combination,
            rng.standard_normal((n_samples, n_noise)),
        ],
        axis=1,
    )
    centers = np.concatenate(
        [
            informative_centers,
            informative_centers @ combination,
            np.zeros((n_clusters, n_noise)),
        ],
        axis=1,
    )

    y = center_labels[cluster_of_sample]
    flipped = rng.random(n_samples) < flip_y
    y[flipped] = rng.integers(0, n_classes, size=int(flipped.sum()))

    sample_order = rng.permutation(n_samples)
    feature_order = rng.permutation(n_features)
    x = x[sample_order][:, feature_order].astype(np.float32)
    y = y[sample_order]
    if return_centers:
        return x, y, centers[:, feature_order].astype(np.float32), center_labels
    return x, y


def classification_splits(
    seed: int = DATA_SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The classification task of section 4.2: 25k training and 5k test examples.

    One set of 30k samples is generated with the paper's settings and split, as the
    paper does; the samples are already shuffled, so the split is the first 25k and
    the last 5k.

    Args:
        seed: seed of the data. Pass `DATA_SEED`, not the run's seed, so that every
            run sees the same data.

    Returns:
        (train_x, train_y, test_x, test_y): float32 [n, 256] inputs and int64 [n]
        labels.
    """
    x, y = make_classification(
        CLASSIFICATION_TRAIN_EXAMPLES + CLASSIFICATION_TEST_EXAMPLES, seed=seed
    )
    n = CLASSIFICATION_TRAIN_EXAMPLES
    return x[:n], y[:n], x[n:], y[n:]


def regression_splits(
    seed: int = DATA_SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The regression task of section 4.1: 5k training and 1k test examples.

    Both splits come from one generated set, so they share the distribution and
    never share an example's random draws.

    Args:
        seed: seed of the data. Pass `DATA_SEED`, not the run's seed, so that every
            run sees the same data.

    Returns:
        (train_x, train_t, test_x, test_t): float32 [n, 256] inputs and float32
        [n, 10] targets.
    """
    x, t = make_regression_cosines(
        REGRESSION_TRAIN_EXAMPLES + REGRESSION_TEST_EXAMPLES, seed=seed
    )
    n = REGRESSION_TRAIN_EXAMPLES
    return x[:n], t[:n], x[n:], t[n:]


def _distinct_vertices(
    rng: np.random.Generator, n_vertices: int, dimensions: int
) -> np.ndarray:
    """n_vertices distinct random vertices of the unit hypercube, bool [n, dim].

    Args:
        rng: the generator to draw from.
        n_vertices: how many vertices; at most 2**dimensions.
        dimensions: the hypercube's dimension.
    """
    if dimensions <= _MAX_ENUMERATED_DIMENSIONS:
        # Numbering the vertices lets small hypercubes be sampled without
        # replacement even when almost all their vertices are needed.
        numbers = rng.choice(2**dimensions, size=n_vertices, replace=False)
        return ((numbers[:, None] >> np.arange(dimensions)) & 1).astype(bool)
    vertices = rng.random((n_vertices, dimensions)) < 0.5
    while True:
        _, first = np.unique(vertices, axis=0, return_index=True)
        if len(first) == n_vertices:
            return vertices
        repeats = np.setdiff1d(np.arange(n_vertices), first)
        vertices[repeats] = rng.random((len(repeats), dimensions)) < 0.5


def _check_positive(**counts: int) -> None:
    """Raises ValueError naming the first of counts that is not a positive int."""
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
