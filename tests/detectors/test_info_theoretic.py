"""Tests specific to InfoTheoreticAD, its bounds, entropy estimates and views."""

import math

import numpy as np
import pytest
import torch
from conftest import fashion_mnist_task
from pyod.models.knn import KNN
from sklearn.metrics import roc_auc_score

from skanomaly import InfoTheoreticAD
from skanomaly.detectors.info_theoretic import (
    AUGMENTATIONS,
    InfoTheoreticModule,
    augment,
    compactness_entropy,
    entropy_floor,
    gaussian_entropy,
    infonce_bound,
    reconstruction_bound,
    transform,
    transformation_bound,
)

FAST = dict(n_filters=4, depth=2, projection_dim=4, device="cpu", random_state=0)


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def _stripes(n, seed=0, size=16, period=(5, 7)):
    """Vertical stripes of random phase and period: a one-class toy set."""
    rng = np.random.default_rng(seed)
    xx = np.arange(size)[None, None, :]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    period = rng.uniform(*period, (n, 1, 1))
    images = 0.5 + 0.4 * np.sin(2 * np.pi * xx / period + phase)
    return np.repeat(images, size, axis=1).astype(np.float32)


# ------------------------------------------------------------------ estimators
def test_gaussian_entropy_matches_a_known_gaussian():
    """Check that the Gaussian bound recovers the entropy of Gaussian samples."""
    scales = torch.tensor([0.5, 1.0, 2.0])
    z = torch.randn(20000, 3, generator=_generator()) * scales
    expected = 0.5 * 3 * math.log(2 * math.pi * math.e) + scales.log().sum().item()
    assert gaussian_entropy(z, eps=1e-9).item() == pytest.approx(expected, abs=0.02)
    # the isotropic bound only sees the total spread: looser, never below
    assert compactness_entropy(z, eps=1e-9).item() > expected + 0.1


def test_entropy_bounds_are_ordered_and_floored():
    """Check compactness >= gaussian >= floor, with equality for collapsed codes."""
    for seed in range(5):
        z = torch.randn(50, 8, generator=_generator(seed)) * torch.rand(
            8, generator=_generator(seed + 10)
        )
        gaussian = gaussian_entropy(z).item()
        assert compactness_entropy(z).item() >= gaussian - 1e-4
        assert gaussian >= entropy_floor(8) - 1e-4
    collapsed = torch.ones(30, 8)
    assert gaussian_entropy(collapsed).item() == pytest.approx(entropy_floor(8))
    assert compactness_entropy(collapsed).item() == pytest.approx(entropy_floor(8))
    # fewer codes than dimensions: still finite thanks to eps
    assert math.isfinite(gaussian_entropy(torch.randn(3, 16)).item())


def test_infonce_bound_is_at_most_log_2b_minus_1():
    """Check the InfoNCE bound: near its maximum for matched views, low for random."""
    z = torch.nn.functional.normalize(torch.randn(32, 16, generator=_generator()))
    matched = infonce_bound(z, z, temperature=0.05).item()
    assert matched <= math.log(63) + 1e-6
    assert matched > math.log(63) - 0.1
    other = torch.nn.functional.normalize(torch.randn(32, 16, generator=_generator(1)))
    assert infonce_bound(z, other, temperature=0.05).item() < 0.5 * math.log(63)


def test_transformation_bound_is_log_k_minus_cross_entropy():
    """Check the I(T; Z) bound: log 4 for a sure critic, 0 for a uniform one."""
    labels = torch.arange(4).repeat(8)
    sure = 50.0 * torch.nn.functional.one_hot(labels, 4).float()
    assert transformation_bound(sure, labels).item() == pytest.approx(math.log(4))
    uniform = torch.zeros(32, 4)
    assert transformation_bound(uniform, labels).item() == pytest.approx(0, abs=1e-6)
    wrong = sure.roll(1, dims=1)
    assert transformation_bound(wrong, labels).item() < 0


def test_transform_rotates_square_and_flips_other_images():
    """Check the four transformations: quarter turns, or flips when not square."""
    x = torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3)
    for k in range(4):
        expected = np.rot90(x.numpy(), k, axes=(2, 3))
        np.testing.assert_array_equal(transform(x, k).numpy(), expected)
    tall = torch.rand(2, 1, 4, 3)
    assert torch.equal(transform(tall, 0), tall)
    assert torch.equal(transform(tall, 1), tall.flip(-1))
    assert torch.equal(transform(tall, 2), tall.flip(-2, -1))
    assert torch.equal(transform(tall, 3), tall.flip(-2))
    with pytest.raises(ValueError, match="index"):
        transform(x, 4)


def test_reconstruction_bound_is_a_gaussian_log_likelihood():
    """Check the Barber-Agakov term against the Gaussian log-density per pixel."""
    x = torch.rand(4, 1, 8, 8, generator=_generator())
    mean = x + 0.1
    expected = torch.distributions.Normal(mean, 0.3).log_prob(x).mean().item()
    assert reconstruction_bound(x, mean, 0.3).item() == pytest.approx(expected)
    perfect = reconstruction_bound(x, x, 0.3).item()
    assert perfect == pytest.approx(-0.5 * math.log(2 * math.pi * 0.09))


# ---------------------------------------------------------------- augmentations
def test_augment_is_seeded_and_leaves_the_batch_alone():
    """Check that views are reproducible, random across seeds, and x is untouched."""
    x = torch.rand(8, 1, 16, 16)
    before = x.clone()
    a = augment(x, generator=_generator(1), augmentations=AUGMENTATIONS)
    b = augment(x, generator=_generator(1), augmentations=AUGMENTATIONS)
    c = augment(x, generator=_generator(2), augmentations=AUGMENTATIONS)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(x, before)
    assert a.shape == x.shape


def test_each_augmentation_does_what_it_says():
    """Check flip mirrors, noise has its std, and geometric views stay close."""
    x = torch.rand(64, 1, 16, 16, generator=_generator())
    x[:, :, :, :8] = 0  # left half dark
    g = _generator()
    flipped = augment(x, generator=g, augmentations=("flip",))
    mirrored = (flipped - x.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-5
    unchanged = (flipped - x).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert (mirrored | unchanged).all() and 10 < mirrored.sum() < 54
    noisy = augment(x, generator=g, augmentations=("noise",), noise_std=0.1)
    assert (noisy - x).std().item() == pytest.approx(0.1, rel=0.05)
    for name in ("crop", "affine"):
        view = augment(x, generator=g, augmentations=(name,))
        assert not torch.equal(view, x)
        # small warps keep most of the image where it was
        assert (
            view[:, :, 4:12, 1:6] < x[:, :, 4:12, 10:15].mean()
        ).float().mean() > 0.9
    with pytest.raises(ValueError, match="Unknown augmentations"):
        augment(x, generator=g, augmentations=("rotate90",))


# ----------------------------------------------------------------------- module
@pytest.mark.parametrize("size", [(8, 8), (13, 11), (28, 28), (33, 20)])
def test_module_shapes(size):
    """Check unit-norm codes, projections and decoded images at any size."""
    module = InfoTheoreticModule(
        3, size, n_filters=4, depth=3, projection_dim=5, decoder=True
    )
    z = module(torch.rand(2, 3, *size))
    assert z.shape == (2, 16)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(2))
    projected = module.project(z)
    assert projected.shape == (2, 5)
    torch.testing.assert_close(projected.norm(dim=1), torch.ones(2))
    assert module.decode(z).shape == (2, 3, *size)
    with pytest.raises(RuntimeError, match="without a decoder"):
        InfoTheoreticModule(1, size, n_filters=4).decode(z)


# -------------------------------------------------------------------- estimator
def test_training_logs_both_terms_and_a_nonnegative_loss():
    """Check that history_ holds finite mi_bound and entropy, and loss >= 0."""
    X = _stripes(48)
    for estimator in ("rotation", "infonce", "reconstruction"):
        for entropy in ("gaussian", "compactness"):
            detector = InfoTheoreticAD(
                mi_estimator=estimator,
                entropy_estimator=entropy,
                beta=0.5,
                max_epochs=2,
                **FAST,
            ).fit(X)
            history = detector.history_
            for key in ("train_loss", "mi_bound", "entropy"):
                assert np.isfinite(history[:, key]).all()
            assert min(history[:, "train_loss"]) >= 0
            assert min(history[:, "entropy"]) >= entropy_floor(8) - 1e-4


@pytest.mark.parametrize("estimator", ["rotation", "infonce", "reconstruction"])
def test_mi_bound_increases_during_training(estimator):
    """Check that the logged I(X; Z) bound is finite and grows during training."""
    X = _stripes(96)
    detector = InfoTheoreticAD(
        mi_estimator=estimator,
        beta=0.0,
        max_epochs=8,
        batch_size=32,
        **{**FAST, "n_filters": 8, "projection_dim": 8},
    ).fit(X)
    bound = detector.history_[:, "mi_bound"]
    assert np.isfinite(bound).all()
    assert bound[-1] > bound[0] + 0.1
    if estimator == "infonce":
        assert bound[-1] <= math.log(2 * 32 - 1)
    if estimator == "rotation":
        assert bound[-1] <= math.log(4)


def test_entropy_of_training_codes_decreases_with_beta():
    """Check that beta > 0 lowers H(Z) of the training codes against beta = 0.

    With InfoNCE, whose uniformity term spreads the codes, so that the two
    terms pull against each other.
    """
    X = _stripes(96)
    settings = dict(
        mi_estimator="infonce", max_epochs=8, batch_size=32, **{**FAST, "n_filters": 8}
    )
    plain = InfoTheoreticAD(beta=0.0, **settings).fit(X)
    penalized = InfoTheoreticAD(beta=1.0, **settings).fit(X)
    h_plain = gaussian_entropy(torch.from_numpy(plain.encode(X))).item()
    h_penalized = gaussian_entropy(torch.from_numpy(penalized.encode(X))).item()
    # measured, seeds 0-4: 1.2 to 3.3 nats lower on the codes of the clean
    # images, 7 to 9 nats lower in the last epoch's estimate on the views
    assert h_penalized < h_plain - 0.5
    assert penalized.history_[-1, "entropy"] < plain.history_[-1, "entropy"] - 3
    # the trade-off: the penalized codes keep less of the MI bound
    assert penalized.history_[-1, "mi_bound"] < plain.history_[-1, "mi_bound"]


def test_mahalanobis_score_is_the_documented_distance():
    """Check the score: the sum over the four rotations of the Mahalanobis distance.

    Each rotation has its Gaussian, with a shrunk covariance, fitted on the
    codes of the training images turned by that rotation.
    """
    X = _stripes(40)
    detector = InfoTheoreticAD(
        mi_estimator="rotation", max_epochs=1, shrinkage=0.3, **FAST
    ).fit(X)
    expected = np.zeros(len(X))
    for k in range(4):
        codes = detector.encode(np.rot90(X, k, axes=(1, 2))).astype(np.float64)
        np.testing.assert_allclose(np.linalg.norm(codes, axis=1), 1.0, rtol=1e-6)
        mean = codes.mean(axis=0)
        covariance = np.cov(codes, rowvar=False, bias=True)
        d = len(mean)
        shrunk = 0.7 * covariance + 0.3 * np.trace(covariance) / d * np.eye(d)
        centred = codes - mean
        expected += np.einsum("ij,jk,ik->i", centred, np.linalg.inv(shrunk), centred)
    np.testing.assert_allclose(detector.decision_scores_, expected, rtol=1e-4)
    assert detector.location_.shape == (4, d)
    assert detector.shrinkage_ == 0.3
    auto = InfoTheoreticAD(max_epochs=1, **FAST).fit(X)
    assert 0 <= auto.shrinkage_ <= 1
    # one Gaussian for the other bounds
    for other in ("infonce", "reconstruction"):
        single = InfoTheoreticAD(mi_estimator=other, max_epochs=1, **FAST).fit(X)
        assert single.location_.shape == (1, d)


def test_knn_score_leaves_training_images_out_of_their_own_neighbours():
    """Check k-NN scores: positive on training images, zero on their duplicates."""
    X = _stripes(40)
    detector = InfoTheoreticAD(max_epochs=1, score="knn", n_neighbors=3, **FAST)
    detector.fit(X)
    assert (detector.decision_scores_ > 0).all()
    on_train = detector.decision_function(X)
    assert (on_train < detector.decision_scores_ + 1e-12).all()
    k1 = InfoTheoreticAD(max_epochs=1, score="knn", **FAST).fit(X)
    np.testing.assert_allclose(k1.decision_function(X), 0, atol=1e-6)
    with pytest.raises(ValueError, match="n_neighbors=40"):
        InfoTheoreticAD(max_epochs=1, score="knn", n_neighbors=40, **FAST).fit(X)


@pytest.mark.parametrize(
    "params",
    [
        dict(score="mahalanobis"),
        dict(score="knn", n_neighbors=2),
        dict(mi_estimator="reconstruction", score="knn"),
        dict(mi_estimator="reconstruction", entropy_estimator="compactness"),
        dict(entropy_estimator="compactness", beta=1.0),
        dict(mi_estimator="infonce", augmentations=("flip", "jitter"), beta=0.0),
        dict(mi_estimator="rotation"),
        dict(mi_estimator="infonce"),
    ],
)
def test_every_option_ranks_a_planted_anomaly(params):
    """Check that each score and estimator option ranks off-class images higher."""
    X = _stripes(96)
    normal = _stripes(20, seed=1)
    # horizontal stripes: the same images turned by 90 degrees
    anomalous = np.transpose(_stripes(20, seed=2), (0, 2, 1)).copy()
    detector = InfoTheoreticAD(
        **{**FAST, "n_filters": 8, "max_epochs": 3, "batch_size": 32, **params}
    ).fit(X)
    scores = detector.decision_function(np.concatenate([normal, anomalous]))
    assert np.isfinite(scores).all()
    y = np.r_[np.zeros(20), np.ones(20)]
    # seeds 0-4 give 0.895-1.0 with every option (seed 0 is the lowest)
    assert roc_auc_score(y, scores) > 0.85


def test_parameter_errors_name_the_parameter():
    """Check that malformed parameters raise at fit, naming the parameter."""
    X = _stripes(16)
    for params, name in [
        ({"augmentations": ("rotate90",)}, "augmentations"),
        ({"mi_estimator": "infonce", "augmentations": ()}, "augmentations"),
        ({"augmentations": "all"}, "augmentations"),
        ({"batch_size": 2}, "batch_size"),
        ({"crop_scale": (0.9, 0.5)}, "crop_scale"),
        ({"crop_scale": (0.0, 1.0)}, "crop_scale"),
        ({"mi_estimator": "mine"}, "mi_estimator"),
        ({"entropy_estimator": "knn"}, "entropy_estimator"),
        ({"score": "svdd"}, "score"),
        ({"shrinkage": 1.5}, "shrinkage"),
        ({"beta": -1.0}, "beta"),
        ({"temperature": 0.0}, "temperature"),
    ]:
        with pytest.raises(ValueError, match=name):
            InfoTheoreticAD(max_epochs=1, **{**FAST, **params}).fit(X)


# Measured with these settings (seed 0, 2 CPU cores, 1,000 training images,
# 2,000 test images): class 0 (T-shirt) 0.930, untrained 0.896, pixel KNN
# 0.916; class 1 (trouser) 0.980, untrained 0.950, pixel KNN 0.985. The fixed
# floor leaves room for numerical differences across platforms; the relative
# floors compare with baselines computed in the test, on a hard class (0) and
# an easy one (1).
FASHION_MNIST_FLOOR = {1: 0.90}
#: class: (least gain over the untrained network, most loss against pixel KNN).
#: On trousers (1) the untrained network already scores 0.96-0.98 and training
#: adds -0.002 to +0.015 (seeds 0-3, these settings): it must not lose more
#: than 0.01. On T-shirts (0), the hard class, training adds 0.04-0.05.
FASHION_MNIST_MARGINS = {0: (0.02, 0.01), 1: (-0.01, 0.02)}


@pytest.mark.slow
@pytest.mark.parametrize("normal_class", sorted(FASHION_MNIST_MARGINS))
def test_quality_floor_fashion_mnist(normal_class):
    """Check that InfoTheoreticAD beats its untrained network and keeps up with KNN."""
    X_train, X_test, y_test = fashion_mnist_task(normal_class)
    settings = dict(n_filters=8, max_epochs=3, device="cpu", random_state=0)
    detector = InfoTheoreticAD(**settings).fit(X_train)
    auc = roc_auc_score(y_test, detector.decision_function(X_test))
    if normal_class in FASHION_MNIST_FLOOR:
        assert auc > FASHION_MNIST_FLOOR[normal_class]
    untrained = InfoTheoreticAD(**{**settings, "max_epochs": 0}).fit(X_train)
    untrained_auc = roc_auc_score(y_test, untrained.decision_function(X_test))
    flat = X_train.reshape(len(X_train), -1) / 255.0
    knn = KNN().fit(flat).decision_function(X_test.reshape(len(X_test), -1) / 255.0)
    knn_auc = roc_auc_score(y_test, knn)
    gain, loss = FASHION_MNIST_MARGINS[normal_class]
    assert auc > untrained_auc + gain
    assert auc > knn_auc - loss
