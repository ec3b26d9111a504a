"""Checks every detector exported by skanomaly must pass.

The detectors come from ``skanomaly.DETECTORS``; fast settings and the
scikit-learn checks that do not apply (with their reasons) are in
``conftest.py``.
"""

import io
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import (
    FAST_PARAMS,
    SKLEARN_CHECKS_THAT_DO_NOT_APPLY,
    make_detector,
    smooth_images,
)
from pyod.models.base import BaseDetector
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch.callbacks import EarlyStopping, LRScheduler

import skanomaly
from skanomaly.base import AUTO_THRESHOLD_MADS, AnomalyMapMixin, BaseDeepDetector


def test_every_detector_is_registered():
    """Check that every exported detector has fast test settings."""
    for cls in skanomaly.DETECTORS:
        assert cls.__name__ in FAST_PARAMS
        assert issubclass(cls, BaseDeepDetector)
        assert issubclass(cls, BaseDetector)
        assert cls.__name__ in skanomaly.__all__


@parametrize_with_checks(
    [make_detector(cls) for cls in skanomaly.DETECTORS],
    expected_failed_checks=lambda est: SKLEARN_CHECKS_THAT_DO_NOT_APPLY,
)
def test_sklearn_compatible(estimator, check):
    """Check that scikit-learn's estimator checks that apply pass."""
    check(estimator)


def test_fit_returns_self_and_sets_pyod_attributes(detector_class, images):
    """Check that fit returns self and sets PyOD's attributes on the training set."""
    detector = make_detector(detector_class)
    assert detector.fit(images) is detector
    n = len(images)
    assert detector.decision_scores_.shape == (n,)
    assert detector.decision_scores_.dtype == np.float64
    assert np.isfinite(detector.decision_scores_).all()
    assert np.isscalar(detector.threshold_)
    assert set(np.unique(detector.labels_)) <= {0, 1}
    assert detector.labels_.sum() == pytest.approx(0.1 * n, abs=1)
    assert detector.image_shape_ == (1, 16, 16)
    assert detector.n_features_in_ == 256
    assert detector.device_ == "cpu"
    epochs = detector.history_[:, "epoch"]
    assert epochs == list(range(1, detector.max_epochs + 1))
    assert np.isfinite(detector.history_[:, "train_loss"]).all()


def test_output_shapes_and_ranges(detector_class, images):
    """Check that scores, labels, probabilities and confidences are well formed."""
    detector = make_detector(detector_class).fit(images)
    X = smooth_images(7, seed=1)
    scores = detector.decision_function(X)
    assert scores.shape == (7,) and scores.dtype == np.float64
    labels = detector.predict(X)
    assert labels.shape == (7,) and set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(labels, (scores > detector.threshold_).astype(int))
    for method in ("linear", "unify"):
        proba = detector.predict_proba(X, method=method)
        assert proba.shape == (7, 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert ((proba >= 0) & (proba <= 1)).all()
    confidence = detector.predict_confidence(X)
    assert confidence.shape == (7,)
    assert ((confidence >= 0) & (confidence <= 1)).all()
    labels2, confidence2 = detector.predict(X, return_confidence=True)
    np.testing.assert_array_equal(labels2, labels)
    np.testing.assert_allclose(confidence2, confidence)
    if isinstance(detector, AnomalyMapMixin):
        maps = detector.anomaly_map(X)
        assert maps.shape == (7, 16, 16)
        assert np.isfinite(maps).all()


def test_predict_proba_accepts_lists_and_tensors(detector_class, images):
    """Check that PyOD's predict_proba works on lists and torch tensors too."""
    detector = make_detector(detector_class).fit(images)
    expected = detector.predict_proba(images[:3])
    np.testing.assert_allclose(detector.predict_proba(images[:3].tolist()), expected)
    np.testing.assert_allclose(
        detector.predict_proba(torch.from_numpy(images[:3])), expected
    )


def test_pickle_round_trip_scores_identically(detector_class, images):
    """Check that a pickled and loaded detector gives identical scores."""
    detector = make_detector(detector_class).fit(images)
    loaded = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(
        loaded.decision_function(images), detector.decision_function(images)
    )
    np.testing.assert_array_equal(loaded.predict(images), detector.predict(images))


def test_same_random_state_same_scores(detector_class, images):
    """Check that two fits with one seed agree and refitting equals fitting once."""
    first = make_detector(detector_class, random_state=3).fit(images)
    second = make_detector(detector_class, random_state=3).fit(images)
    np.testing.assert_array_equal(first.decision_scores_, second.decision_scores_)
    refit = first.fit(images)
    np.testing.assert_array_equal(refit.decision_scores_, second.decision_scores_)
    other = make_detector(detector_class, random_state=4).fit(images)
    assert not np.array_equal(other.decision_scores_, second.decision_scores_)


def test_fit_leaves_global_random_state_alone(detector_class, images):
    """Check that fit neither seeds nor advances torch's or numpy's global RNG."""
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    make_detector(detector_class).fit(images)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)


def test_scores_do_not_depend_on_batching(detector_class, images):
    """Check that an image's score does not depend on the other images scored."""
    detector = make_detector(detector_class, batch_size=16).fit(images)
    X = smooth_images(10, seed=2)
    all_at_once = detector.decision_function(X)
    one_by_one = np.concatenate(
        [detector.decision_function(X[i : i + 1]) for i in range(10)]
    )
    np.testing.assert_allclose(one_by_one, all_at_once, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        detector.decision_function(X[::-1]), all_at_once[::-1], rtol=1e-5, atol=1e-7
    )


def test_max_epochs_zero_scores_the_untrained_network(detector_class, images):
    """Check that max_epochs=0 fits no epoch and scores the initial network.

    This is the untrained-network ablation of the benchmark: the same module
    and the same score, with the weights it was initialised with.
    """
    untrained = make_detector(detector_class, max_epochs=0).fit(images)
    assert len(untrained.history_) == 0
    scores = untrained.decision_function(images)
    assert scores.shape == (len(images),) and np.all(np.isfinite(scores))
    assert np.isfinite(untrained.threshold_)
    trained = make_detector(detector_class).fit(images)
    initial = make_detector(detector_class, max_epochs=0).fit(images)
    for before, _, kept in zip(
        untrained.module_.state_dict().values(),
        trained.module_.state_dict().values(),
        initial.module_.state_dict().values(),
    ):
        torch.testing.assert_close(before, kept)
    changed = [
        not torch.equal(before.float(), after.float())
        for before, after in zip(
            untrained.module_.state_dict().values(),
            trained.module_.state_dict().values(),
        )
    ]
    assert any(changed)


def test_input_is_not_modified(detector_class, images):
    """Check that fit and scoring leave the caller's arrays and tensors untouched."""
    X = (images * 255).astype(np.uint8)
    X_copy = X.copy()
    tensor = torch.from_numpy(images.copy())
    tensor_copy = tensor.clone()
    detector = make_detector(detector_class).fit(X)
    detector.decision_function(X)
    detector.fit(tensor)
    detector.predict(tensor)
    np.testing.assert_array_equal(X, X_copy)
    assert torch.equal(tensor, tensor_copy)


def test_equivalent_input_layouts_give_equal_scores(detector_class, images):
    """Check that grey, channels-first/last, flattened, list and tensor inputs agree."""
    detector = make_detector(detector_class).fit(images)
    expected = detector.decision_function(images)
    layouts = {
        "channels_first": images[:, None],
        "channels_last": images[..., None],
        "list": images.tolist(),
        "tensor": torch.from_numpy(images),
        "float64": images.astype(np.float64),
    }
    for name, X in layouts.items():
        np.testing.assert_allclose(
            detector.decision_function(X), expected, rtol=1e-5, err_msg=name
        )
    flat = make_detector(detector_class, image_shape=(16, 16)).fit(
        images.reshape(len(images), -1)
    )
    np.testing.assert_allclose(
        flat.decision_function(images.reshape(len(images), -1)), expected, rtol=1e-5
    )


def test_uint8_is_scaled_to_unit_interval(detector_class, images):
    """Check that uint8 images are scaled to [0, 1] and score like the floats."""
    X_uint8 = np.round(images * 255).astype(np.uint8)
    X_float = X_uint8.astype(np.float32) / 255
    a = make_detector(detector_class).fit(X_uint8)
    b = make_detector(detector_class).fit(X_float)
    np.testing.assert_allclose(a.decision_scores_, b.decision_scores_, rtol=1e-5)


def test_unscaled_intensities_get_a_warning(images):
    """Check that 0..255 floats and 0..16 integers warn, and [0, 1] images do not.

    Only uint8 is scaled; other dtypes are used as given, so a user passing
    raw intensities of another dtype hears about it instead of training on
    values the defaults were not made for.
    """
    detector = make_detector(skanomaly.ConvAutoEncoder)
    with pytest.warns(UserWarning, match="divide by their maximum"):
        detector.fit(images * 255)
    with pytest.warns(UserWarning, match="dtype int64 have values up to 1"):
        detector.fit(np.round(images * 16).astype(np.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detector.fit(images)
        detector.fit((images * 255).astype(np.uint8))
        detector.fit((images - 0.5) * 6)  # standardized images are fine


def test_rgb_channels_last_equals_channels_first(detector_class):
    """Check that (n, H, W, 3) is read as the same images as (n, 3, H, W)."""
    X = smooth_images(24, channels=3, seed=5)
    first = make_detector(detector_class).fit(X)
    last = make_detector(detector_class).fit(np.moveaxis(X, 1, -1))
    assert first.image_shape_ == last.image_shape_ == (3, 16, 16)
    np.testing.assert_allclose(first.decision_scores_, last.decision_scores_, rtol=1e-5)


def test_ambiguous_layout_names_the_parameter(detector_class):
    """Check that an ambiguous 4-D layout raises and channels_last settles it."""
    X = np.random.default_rng(0).random((6, 8, 10, 12)).astype(np.float32)
    with pytest.raises(ValueError, match="channels_last"):
        make_detector(detector_class).fit(X)
    last = make_detector(detector_class, channels_last=True).fit(X)
    assert last.image_shape_ == (12, 8, 10)
    np.testing.assert_array_equal(last.decision_function(X), last.decision_scores_)
    first = make_detector(detector_class, channels_last=False).fit(X)
    assert first.image_shape_ == (8, 10, 12)
    np.testing.assert_array_equal(first.decision_function(X), first.decision_scores_)


@pytest.mark.parametrize("size", [(8, 8), (13, 11), (28, 28), (33, 20)])
def test_any_size_from_8x8(detector_class, size):
    """Check that odd and small sizes work and maps come back at the input's size."""
    rng = np.random.default_rng(0)
    X = rng.random((12, *size)).astype(np.float32)
    detector = make_detector(detector_class).fit(X)
    assert detector.decision_function(X).shape == (12,)
    if isinstance(detector, AnomalyMapMixin):
        assert detector.anomaly_map(X).shape == (12, *size)


BAD_INPUTS = {
    "nan": (
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X),
        "NaN or infinity",
    ),
    "inf": (
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X),
        "NaN or infinity",
    ),
    "1-D": (lambda X: X.ravel(), "dimension"),
    "5-D": (lambda X: X[:, None, None], "dimension"),
    "strings": (lambda X: np.full(X.shape, "a"), "numeric"),
    "objects": (
        lambda X: np.array([[["x"] * 16] * 16] * len(X), dtype=object),
        "numeric",
    ),
    "complex": (lambda X: X.astype(np.complex64), "Complex"),
    "flat without image_shape": (lambda X: X.reshape(len(X), -1), "image_shape"),
    "too small": (lambda X: X[:, :7, :7], "at least 8x8"),
    "sparse": (lambda X: sp.csr_matrix(X.reshape(len(X), -1)), "Sparse"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_raises_clear_error(detector_class, images, case):
    """Check that bad images raise a ValueError that says what is wrong."""
    corrupt, message = BAD_INPUTS[case]
    bad = corrupt(images)
    with pytest.raises(ValueError, match=message):
        make_detector(detector_class).fit(bad)
    detector = make_detector(detector_class).fit(images)
    with pytest.raises(ValueError, match=message):
        detector.decision_function(bad)


def test_too_few_images_to_fit(detector_class, images):
    """Check that fitting a single image raises, naming how many are needed."""
    with pytest.raises(ValueError, match="at least 2"):
        make_detector(detector_class).fit(images[:1])


def test_shape_mismatch_between_fit_and_predict(detector_class, images):
    """Check that scoring images of another shape than in fit raises."""
    detector = make_detector(detector_class).fit(images)
    with pytest.raises(ValueError, match="fitted on images of shape"):
        detector.decision_function(smooth_images(3, size=20))
    with pytest.raises(ValueError, match="fitted on images of shape"):
        detector.predict(smooth_images(3, channels=3))


def test_image_shape_that_does_not_match_D(detector_class, images):
    """Check that image_shape inconsistent with the number of columns raises."""
    flat = images.reshape(len(images), -1)
    with pytest.raises(ValueError, match="image_shape"):
        make_detector(detector_class, image_shape=(15, 15)).fit(flat)
    with pytest.raises(ValueError, match="image_shape"):
        make_detector(detector_class, image_shape=(16, -16)).fit(flat)


def test_not_fitted_error(detector_class, images):
    """Check that scoring before fit raises scikit-learn's NotFittedError."""
    detector = make_detector(detector_class)
    methods = ["decision_function", "predict", "predict_proba", "predict_confidence"]
    if isinstance(detector, AnomalyMapMixin):
        methods.append("anomaly_map")
    for method in methods:
        with pytest.raises(NotFittedError):
            getattr(detector, method)(images)


@pytest.mark.parametrize(
    "params",
    [
        {"contamination": 0.7},
        {"contamination": 0.0},
        {"contamination": "half"},
        {"max_epochs": -1},
        {"batch_size": -1},
        {"lr": 0},
        {"device": "gpu-please"},
        {"optimizer": "adam"},
        {"random_state": "seed"},
    ],
)
def test_invalid_parameters_raise_at_fit_not_init(detector_class, images, params):
    """Check that invalid parameters are stored by __init__ and rejected by fit."""
    detector = make_detector(detector_class, **params)
    for name, value in params.items():
        assert getattr(detector, name) == value
    with pytest.raises(ValueError):
        detector.fit(images)


def test_contamination_auto(detector_class, images):
    """Check that contamination="auto" uses the documented median + 3 MAD rule."""
    X = np.concatenate([images, np.ones((2, 16, 16), np.float32)])
    detector = make_detector(detector_class, contamination="auto").fit(X)
    scores = detector.decision_scores_
    median = np.median(scores)
    mad = 1.4826 * np.median(np.abs(scores - median))
    assert detector.threshold_ == pytest.approx(median + AUTO_THRESHOLD_MADS * mad)
    np.testing.assert_array_equal(detector.labels_, scores > detector.threshold_)
    assert detector.contamination_ == pytest.approx(detector.labels_.mean())
    assert detector.predict(X).shape == (len(X),)
    confidence = detector.predict_confidence(X)
    assert ((confidence >= 0) & (confidence <= 1)).all()
    assert detector.contamination == "auto"


def test_thresholder_object_is_used_as_in_pyod(detector_class, images):
    """Check that a PyThresh-like thresholder object sets labels and predictions."""

    class AboveMean:
        def fit(self, scores):
            self.thresh_ = float(np.mean(scores))
            self.labels_ = (scores > self.thresh_).astype(int)
            return self

        def predict(self, scores):
            return (scores > self.thresh_).astype(int)

    detector = make_detector(detector_class, contamination=AboveMean()).fit(images)
    mean = detector.decision_scores_.mean()
    assert detector.threshold_ == pytest.approx(mean)
    np.testing.assert_array_equal(
        detector.predict(images), (detector.decision_function(images) > mean)
    )


def test_clone_and_params(detector_class, images):
    """Check that clone copies parameters, not fitted state, and set_params works."""
    detector = make_detector(detector_class).fit(images)
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert not hasattr(copy, "net_")
    copy.set_params(max_epochs=1, contamination=0.2)
    assert copy.max_epochs == 1 and copy.contamination == 0.2
    assert detector_class.__name__ in repr(copy)


def test_user_callbacks_work(detector_class, images):
    """Check that skorch callbacks passed by the user run and are not mutated."""
    stopper = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    scheduler = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    detector = make_detector(
        detector_class, max_epochs=6, callbacks=[stopper, scheduler]
    )
    detector.fit(images)
    assert len(detector.history_) < 6  # stopped early: no epoch improves by 10
    assert stopper.dynamic_threshold_ is None  # the user's object is not trained on
    clone(detector).fit(images)


def test_verbose_shows_progress(detector_class, images, capsys):
    """Check that verbose prints the epoch table and silence is the default."""
    make_detector(detector_class).fit(images)
    assert capsys.readouterr().out == ""
    make_detector(detector_class, verbose=1).fit(images)
    captured = capsys.readouterr()
    assert "train_loss" in captured.out


def test_device_auto_resolves_into_device_(detector_class, images):
    """Check that device="auto" is kept as given and resolved into device_."""
    detector = make_detector(detector_class, device="auto").fit(images)
    assert detector.device == "auto"
    assert detector.device_ == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(detector_class, images):
    """Check that training and scoring on CUDA work and pickle back to the CPU."""
    detector = make_detector(detector_class, device="cuda").fit(images)
    assert detector.device_ == "cuda"
    scores = detector.decision_function(images)
    assert scores.shape == (len(images),) and np.isfinite(scores).all()
    buffer = io.BytesIO()
    pickle.dump(detector, buffer)
    assert (
        pickle.loads(buffer.getvalue()).decision_function(images).shape == scores.shape
    )


def test_y_is_ignored(detector_class, images):
    """Check that fit ignores y, as unsupervised detectors do in pipelines."""
    a = make_detector(detector_class).fit(images)
    b = make_detector(detector_class).fit(images, np.zeros(len(images)))
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
