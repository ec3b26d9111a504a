"""Checks every skanomaly detector must pass, for its own tests and for yours.

The checks of the detector contract (``docs/design``: PyOD's score
convention, input handling, estimator hygiene) as functions of a detector
class, in the manner of :mod:`sklearn.utils.estimator_checks`. skanomaly's
own test suite runs them on every registered detector; a detector written
outside the package runs them with::

    from skanomaly.utils.estimator_checks import parametrize_with_detector_checks

    @parametrize_with_detector_checks([MyDetector])
    def test_my_detector(check):
        check()

Each check builds the detector with its ``presets["test"]`` settings (tiny
networks that fit in well under a second on 16x16 images) plus a fixed seed
on the CPU, and fits it on smooth random images. Checks of the training
parameters (``max_epochs``, callbacks, ``verbose``) run on subclasses of
:class:`~skanomaly.base.BaseDeepDetector` only.

This module needs pytest (the ``test`` extra).
"""

import contextlib
import copy
import functools
import inspect
import io
import os
import pickle
import re
import tempfile
import threading
import warnings

import joblib
import numpy as np
import scipy.sparse as sp
import torch
from scipy.stats import median_abs_deviation
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback, EarlyStopping, LRScheduler

try:
    import pytest
except ImportError as exc:  # pragma: no cover - pytest is in the test extra
    raise ImportError(
        "skanomaly.utils.estimator_checks needs pytest; install it with "
        "`pip install pytest` "
        "or the test extra, `pip install skanomaly[test]`."
    ) from exc

from ..base import AUTO_THRESHOLD_MADS, AnomalyMapMixin, BaseDeepDetector

__all__ = [
    "SKLEARN_CHECKS_THAT_DO_NOT_APPLY",
    "check_detector",
    "detector_checks",
    "make_detector",
    "parametrize_with_detector_checks",
    "smooth_images",
]

#: scikit-learn checks that do not apply to skanomaly's detectors, each with why: they
#: generate tabular data (a few features), while skanomaly takes images of at
#: least 8x8 pixels (flattened rows only with image_shape). Each names the check
#: of this module that tests the same property on images. They are expected to
#: fail (strict: one that starts passing fails the suite).
SKLEARN_CHECKS_THAT_DO_NOT_APPLY = {
    "check_fit_score_takes_y": (
        "fits a 2-D array of a few features; on images, fit ignoring y: "
        "check_y_is_ignored"
    ),
    "check_estimators_overwrite_params": (
        "fits tabular data; on images: "
        "check_fit_adds_no_public_attribute_and_keeps_parameters"
    ),
    "check_dont_overwrite_parameters": (
        "fits tabular data; on images: "
        "check_fit_adds_no_public_attribute_and_keeps_parameters"
    ),
    "check_estimators_fit_returns_self": (
        "fits tabular data; on images: check_fit_returns_self_and_sets_pyod_attributes"
    ),
    "check_readonly_memmap_input": (
        "fits tabular data; on images: check_read_only_and_fortran_ordered_input"
    ),
    "check_n_features_in_after_fitting": (
        "2-D input without image_shape is rejected with a message naming "
        "image_shape; n_features_in_ on images: "
        "check_fit_returns_self_and_sets_pyod_attributes"
    ),
    "check_positive_only_tag_during_fit": (
        "fits tabular data; images of any sign are accepted"
    ),
    "check_estimators_dtypes": (
        "fits int32/int64 2-D arrays: integer images other than uint8/uint16 "
        "are rejected on purpose (ambiguous intensity scale); dtypes on images: "
        "check_uint8_is_scaled_to_unit_interval"
    ),
    "check_dtype_object": (
        "fits tabular object arrays; numeric object arrays of images are "
        "accepted (check_equivalent_input_layouts_give_equal_scores covers "
        "lists)"
    ),
    "check_estimators_empty_data_messages": (
        "fits empty tabular arrays; on images: check_empty_input_gets_a_clear_error"
    ),
    "check_pipeline_consistency": (
        "fits tabular data in a pipeline; pipelines on images are tested in "
        "tests/test_integration.py"
    ),
    "check_estimators_nan_inf": (
        "fits tabular data; NaN and infinity in images: "
        "check_bad_input_raises_clear_error"
    ),
    "check_estimators_pickle": (
        "fits tabular data; on images: check_pickle_round_trip_scores_identically"
    ),
    "check_f_contiguous_array_estimator": (
        "fits tabular data; on images: check_read_only_and_fortran_ordered_input"
    ),
    "check_outliers_fit_predict": (
        "fits tabular data; on images: check_training_labels_are_the_predictions"
    ),
    "check_outliers_train": (
        "fits tabular data; PyOD's labels_ and threshold_ on images: "
        "check_fit_returns_self_and_sets_pyod_attributes and "
        "check_contamination_auto"
    ),
    "check_classifier_data_not_an_array": (
        "fits tabular lists; lists and tensors of images: "
        "check_equivalent_input_layouts_give_equal_scores"
    ),
    "check_methods_sample_order_invariance": (
        "scores tabular data; on images: check_scores_do_not_depend_on_batching"
    ),
    "check_methods_subset_invariance": (
        "scores tabular data; on images: check_scores_do_not_depend_on_batching"
    ),
    "check_fit2d_1sample": (
        "fits one tabular sample; one image: check_too_few_images_to_fit"
    ),
    "check_fit2d_1feature": (
        "fits one feature; an image has at least 8x8 pixels: check_any_size_from_8x8"
    ),
    "check_dict_unchanged": (
        "fits tabular data; on images: check_scoring_leaves_the_detector_unchanged"
    ),
    "check_fit_idempotent": (
        "fits tabular data; refitting on images: check_same_random_state_same_scores"
    ),
    "check_fit_check_is_fitted": (
        "fits tabular data; on images: check_not_fitted_error"
    ),
    "check_n_features_in": (
        "fits tabular data; n_features_in_ on images: "
        "check_fit_returns_self_and_sets_pyod_attributes"
    ),
    "check_fit2d_predict1d": (
        "scores 1-D tabular rows; 1-D input on images: "
        "check_bad_input_raises_clear_error"
    ),
}


def make_detector(detector_class, **params):
    """Build an instance with the ``presets["test"]`` settings, seed 0, on the CPU.

    Skips the calling test when the detector's optional packages are missing
    (its ``_missing_dependencies()`` says which).

    Parameters
    ----------
    detector_class : type
        A subclass of :class:`~skanomaly.base.BaseImageDetector`.
    **params
        Settings that override the test preset.

    Returns
    -------
    detector : BaseImageDetector
    """
    missing = getattr(detector_class, "_missing_dependencies", lambda: None)()
    if missing:
        pytest.skip(missing)
    presets = getattr(detector_class, "presets", {})
    settings = {"random_state": 0, "device": "cpu", **presets.get("test", {})}
    settings.update(params)
    return detector_class(**settings)


def smooth_images(n, size=16, channels=None, seed=0):
    """Smooth random images in [0, 1]: a sum of two oriented gradients.

    Parameters
    ----------
    n : int
        Number of images.
    size : int, default=16
        Height and width.
    channels : int or None, default=None
        ``None`` for grey ``(n, size, size)`` images, else ``(n, channels,
        size, size)``.
    seed : int, default=0
        Seed of the gradients.

    Returns
    -------
    images : ndarray of float32
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    shape = (n, size, size) if channels is None else (n, channels, size, size)
    a = rng.uniform(-1, 1, shape[:-2] + (1, 1))
    b = rng.uniform(-1, 1, shape[:-2] + (1, 1))
    images = 0.5 + 0.25 * (a * xx + b * yy)
    return images.astype(np.float32)


def check_fit_returns_self_and_sets_pyod_attributes(detector_class):
    """Check that fit returns self and sets PyOD's attributes on the training set."""
    images = smooth_images(40)
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
    assert isinstance(detector.module_, torch.nn.Module)
    if isinstance(detector, BaseDeepDetector):
        epochs = detector.history_[:, "epoch"]
        assert epochs == list(range(1, detector.max_epochs + 1))
        assert np.isfinite(detector.history_[:, "train_loss"]).all()


def check_output_shapes_and_ranges(detector_class):
    """Check that scores, labels, probabilities and confidences are well formed."""
    images = smooth_images(40)
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


def check_predict_proba_accepts_lists_and_tensors(detector_class):
    """Check that PyOD's predict_proba works on lists and torch tensors too."""
    images = smooth_images(40)
    detector = make_detector(detector_class).fit(images)
    expected = detector.predict_proba(images[:3])
    np.testing.assert_allclose(detector.predict_proba(images[:3].tolist()), expected)
    np.testing.assert_allclose(
        detector.predict_proba(torch.from_numpy(images[:3])), expected
    )


def check_pickle_round_trip_scores_identically(detector_class):
    """Check that a pickled and loaded detector gives identical scores."""
    images = smooth_images(40)
    detector = make_detector(detector_class).fit(images)
    loaded = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(
        loaded.decision_function(images), detector.decision_function(images)
    )
    np.testing.assert_array_equal(loaded.predict(images), detector.predict(images))


def check_save_and_load_round_trip(detector_class):
    """Check that ``save`` and ``skanomaly.load`` give a detector that scores the same.

    Without pickle: the class is looked up among the registered detectors
    (:func:`skanomaly.register_detector`), and the network is rebuilt by
    ``_module_for_loading``.
    """
    from .. import load

    images = smooth_images(40)
    detector = make_detector(detector_class, contamination="auto").fit(images)
    with tempfile.TemporaryDirectory() as folder:
        loaded = load(detector.save(os.path.join(folder, "model")))
    assert type(loaded) is detector_class
    assert loaded.get_params() == detector.get_params()
    for method in ("decision_function", "predict", "predict_proba"):
        np.testing.assert_array_equal(
            getattr(loaded, method)(images), getattr(detector, method)(images)
        )
    if isinstance(detector, AnomalyMapMixin):
        np.testing.assert_array_equal(
            loaded.anomaly_map(images[:3]), detector.anomaly_map(images[:3])
        )
    assert loaded.threshold_ == detector.threshold_
    assert loaded.image_shape_ == detector.image_shape_
    loaded.fit(images)  # an ordinary estimator: it refits


def check_same_random_state_same_scores(detector_class):
    """Check that two fits with one seed agree and refitting equals fitting once.

    For a detector that trains a network, another seed must also give other
    scores (the seed reaches the initialisation); a detector without random
    steps may give the same.
    """
    images = smooth_images(40)
    first = make_detector(detector_class, random_state=3).fit(images)
    second = make_detector(detector_class, random_state=3).fit(images)
    np.testing.assert_array_equal(first.decision_scores_, second.decision_scores_)
    refit = first.fit(images)
    np.testing.assert_array_equal(refit.decision_scores_, second.decision_scores_)
    if issubclass(detector_class, BaseDeepDetector):
        other = make_detector(detector_class, random_state=4).fit(images)
        assert not np.array_equal(other.decision_scores_, second.decision_scores_)


def check_fit_leaves_global_random_state_alone(detector_class):
    """Check that fit neither seeds nor advances torch's or numpy's global RNG."""
    images = smooth_images(40)
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    make_detector(detector_class).fit(images)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)


def check_fit_does_not_read_global_random_state(detector_class):
    """Check that the fit's draws come from its own generators, not torch's global one.

    With one ``random_state``, fits after different global seeds agree.
    """
    images = smooth_images(40)
    scores = []
    for global_seed in (1, 2):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(global_seed)
            detector = make_detector(detector_class, random_state=5).fit(images)
        scores.append(detector.decision_function(images))
    np.testing.assert_array_equal(scores[0], scores[1])


def check_fits_in_threads_equal_a_serial_fit(detector_class):
    """Check that 4 fits in threads at once give a serial fit's scores, bit for bit."""
    images = smooth_images(40)
    serial = make_detector(detector_class, random_state=6).fit(images)
    expected = serial.decision_function(images)
    detectors = [make_detector(detector_class, random_state=6) for _ in range(4)]
    barrier = threading.Barrier(len(detectors))
    errors = []

    def fit(detector):
        try:
            barrier.wait()
            detector.fit(images)
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(d,)) for d in detectors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    for detector in detectors:
        np.testing.assert_array_equal(
            detector.decision_scores_, serial.decision_scores_
        )
        np.testing.assert_array_equal(detector.decision_function(images), expected)


def check_scores_do_not_depend_on_batching(detector_class):
    """Check that an image's score does not depend on the other images scored."""
    images = smooth_images(40)
    detector = make_detector(detector_class).fit(images)
    X = smooth_images(40, seed=2)
    all_at_once = detector.decision_function(X)
    one_by_one = np.concatenate(
        [detector.decision_function(X[i : i + 1]) for i in range(len(X))]
    )
    np.testing.assert_allclose(one_by_one, all_at_once, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        detector.decision_function(X[::-1]), all_at_once[::-1], rtol=1e-5, atol=1e-7
    )


def check_input_is_not_modified(detector_class):
    """Check that fit and scoring leave the caller's arrays and tensors untouched."""
    images = smooth_images(40)
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


def check_equivalent_input_layouts_give_equal_scores(detector_class):
    """Check that grey, channels-first/last, flattened, list and tensor inputs agree."""
    images = smooth_images(40)
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


def check_uint8_is_scaled_to_unit_interval(detector_class):
    """Check that uint8 images are scaled to [0, 1] and score like the floats."""
    images = smooth_images(40)
    X_uint8 = np.round(images * 255).astype(np.uint8)
    X_float = X_uint8.astype(np.float32) / 255
    a = make_detector(detector_class).fit(X_uint8)
    b = make_detector(detector_class).fit(X_float)
    np.testing.assert_allclose(a.decision_scores_, b.decision_scores_, rtol=1e-5)


def check_rgb_channels_last_equals_channels_first(detector_class):
    """Check that (n, H, W, 3) is read as the same images as (n, 3, H, W)."""
    X = smooth_images(24, channels=3, seed=5)
    first = make_detector(detector_class).fit(X)
    last = make_detector(detector_class).fit(np.moveaxis(X, 1, -1))
    assert first.image_shape_ == last.image_shape_ == (3, 16, 16)
    np.testing.assert_allclose(first.decision_scores_, last.decision_scores_, rtol=1e-5)


def check_ambiguous_layout_names_the_parameter(detector_class):
    """Check that an ambiguous 4-D layout raises and channels_last settles it."""
    X = np.random.default_rng(0).random((6, 8, 10, 12)).astype(np.float32)
    with pytest.raises(ValueError, match="channels_last"):
        make_detector(detector_class).fit(X)
    if detector_class._supported_channels is not None:
        # 12 and 8 channels are both refused, with a message that says so
        for channels_last in (True, False):
            with pytest.raises(ValueError, match="channel"):
                make_detector(detector_class, channels_last=channels_last).fit(X)
        return
    last = make_detector(detector_class, channels_last=True).fit(X)
    assert last.image_shape_ == (12, 8, 10)
    np.testing.assert_array_equal(last.decision_function(X), last.decision_scores_)
    first = make_detector(detector_class, channels_last=False).fit(X)
    assert first.image_shape_ == (8, 10, 12)
    np.testing.assert_array_equal(first.decision_function(X), first.decision_scores_)


def check_any_size_from_8x8(detector_class):
    """Check that odd and small sizes work and maps come back at the input's size."""
    rng = np.random.default_rng(0)
    for size in [(8, 8), (13, 11), (28, 28), (33, 20)]:
        X = rng.random((12, *size)).astype(np.float32)
        detector = make_detector(detector_class).fit(X)
        assert detector.decision_function(X).shape == (12,)
        if isinstance(detector, AnomalyMapMixin):
            assert detector.anomaly_map(X).shape == (12, *size)


def _assert_value_error(case, message, method, *args):
    """``method(*args)`` raises a ValueError whose text matches ``message``."""
    try:
        method(*args)
    except ValueError as exc:
        if not re.search(message, str(exc)):
            raise AssertionError(
                f"{case}: the error {str(exc)!r} does not match {message!r}"
            ) from exc
    else:
        raise AssertionError(f"{case}: {method.__name__} raised no ValueError")


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


def check_bad_input_raises_clear_error(detector_class):
    """Check that bad images raise a ValueError that says what is wrong."""
    images = smooth_images(40)
    detector = make_detector(detector_class).fit(images)
    for case, (corrupt, message) in BAD_INPUTS.items():
        bad = corrupt(images)
        _assert_value_error(case, message, make_detector(detector_class).fit, bad)
        _assert_value_error(case, message, detector.decision_function, bad)


def check_too_few_images_to_fit(detector_class):
    """Check that fitting a single image raises, naming how many are needed."""
    images = smooth_images(40)
    with pytest.raises(ValueError, match="at least 2"):
        make_detector(detector_class).fit(images[:1])


def check_shape_mismatch_between_fit_and_predict(detector_class):
    """Check that scoring images of another shape than in fit raises."""
    images = smooth_images(40)
    detector = make_detector(detector_class).fit(images)
    with pytest.raises(ValueError, match="fitted on images of shape"):
        detector.decision_function(smooth_images(3, size=20))
    with pytest.raises(ValueError, match="fitted on images of shape"):
        detector.predict(smooth_images(3, channels=3))


def check_image_shape_that_does_not_match_D(detector_class):
    """Check that image_shape inconsistent with the number of columns raises."""
    images = smooth_images(40)
    flat = images.reshape(len(images), -1)
    with pytest.raises(ValueError, match="image_shape"):
        make_detector(detector_class, image_shape=(15, 15)).fit(flat)
    with pytest.raises(ValueError, match="image_shape"):
        make_detector(detector_class, image_shape=(16, -16)).fit(flat)


def check_not_fitted_error(detector_class):
    """Check that scoring before fit raises scikit-learn's NotFittedError."""
    images = smooth_images(40)
    detector = make_detector(detector_class)
    methods = ["decision_function", "predict", "predict_proba", "predict_confidence"]
    if isinstance(detector, AnomalyMapMixin):
        methods.append("anomaly_map")
    for method in methods:
        with pytest.raises(NotFittedError):
            getattr(detector, method)(images)


#: Invalid values of the parameters every detector has, and of the training
#: parameters of :class:`~skanomaly.base.BaseDeepDetector`.
INVALID_PARAMS = [
    {"contamination": 0.7},
    {"contamination": 0.0},
    {"contamination": "half"},
    {"device": "gpu-please"},
    {"random_state": "seed"},
]
INVALID_TRAINING_PARAMS = [
    {"max_epochs": -1},
    {"batch_size": -1},
    {"lr": 0},
    {"optimizer": "adam"},
]


def check_invalid_parameters_raise_at_fit_not_init(detector_class):
    """Check that invalid parameters are stored by __init__ and rejected by fit."""
    images = smooth_images(40)
    cases = INVALID_PARAMS
    if issubclass(detector_class, BaseDeepDetector):
        cases = cases + INVALID_TRAINING_PARAMS
    for params in cases:
        detector = make_detector(detector_class, **params)
        for name, value in params.items():
            assert getattr(detector, name) == value
        with pytest.raises(ValueError):
            detector.fit(images)


def check_contamination_auto(detector_class):
    """Check that contamination="auto" uses the documented median + 3 MAD rule."""
    images = smooth_images(40)
    X = np.concatenate([images, np.ones((2, 16, 16), np.float32)])
    detector = make_detector(detector_class, contamination="auto").fit(X)
    scores = detector.decision_scores_
    median = np.median(scores)
    mad = median_abs_deviation(scores, scale="normal")
    assert detector.threshold_ == pytest.approx(median + AUTO_THRESHOLD_MADS * mad)
    np.testing.assert_array_equal(detector.labels_, scores > detector.threshold_)
    assert detector.contamination_ == pytest.approx(detector.labels_.mean())
    assert detector.predict(X).shape == (len(X),)
    confidence = detector.predict_confidence(X)
    assert ((confidence >= 0) & (confidence <= 1)).all()
    assert detector.contamination == "auto"


def check_thresholder_object_is_used_as_in_pyod(detector_class):
    """Check that a PyThresh-like thresholder object sets labels and predictions."""
    images = smooth_images(40)

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


def check_clone_and_params(detector_class):
    """Check that clone copies parameters, not fitted state, and set_params works."""
    images = smooth_images(40)
    detector = make_detector(detector_class).fit(images)
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert not hasattr(copy, "module_")
    copy.set_params(contamination=0.2)
    assert copy.contamination == 0.2
    assert detector_class.__name__ in repr(copy)


def check_device_auto_resolves_into_device_(detector_class):
    """Check that device="auto" is kept as given and resolved into device_."""
    images = smooth_images(40)
    detector = make_detector(detector_class, device="auto").fit(images)
    assert detector.device == "auto"
    assert detector.device_ == ("cuda" if torch.cuda.is_available() else "cpu")


def check_y_is_ignored(detector_class):
    """Check that fit ignores y, as unsupervised detectors do in pipelines."""
    images = smooth_images(40)
    a = make_detector(detector_class).fit(images)
    b = make_detector(detector_class).fit(images, np.zeros(len(images)))
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)


def check_fit_adds_no_public_attribute_and_keeps_parameters(detector_class):
    """Check that fit neither changes the parameters nor adds attributes without _.

    The image equivalent of scikit-learn's ``check_dont_overwrite_parameters``
    and ``check_estimators_overwrite_params``.
    """
    images = smooth_images(40)
    detector = make_detector(detector_class)
    params = joblib.hash(detector.get_params(deep=False))
    before = set(vars(detector))
    detector.fit(images)
    assert joblib.hash(detector.get_params(deep=False)) == params
    added = [
        name
        for name in set(vars(detector)) - before
        if not name.startswith("_") and not name.endswith("_")
    ]
    assert not added, f"fit added public attributes not ending in _: {added}"


def check_read_only_and_fortran_ordered_input(detector_class):
    """Check a read-only memory map and Fortran-ordered images score as usual.

    The image equivalent of ``check_readonly_memmap_input`` and
    ``check_f_contiguous_array_estimator``.
    """
    images = smooth_images(40)
    expected = make_detector(detector_class).fit(images)
    scores = expected.decision_function(images)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "images.npy")
        np.save(path, images)
        mapped = np.load(path, mmap_mode="r")
        fitted = make_detector(detector_class).fit(mapped)
        np.testing.assert_allclose(fitted.decision_function(mapped), scores, rtol=1e-5)
        del fitted, mapped
    fortran = np.asfortranarray(images)
    fitted = make_detector(detector_class).fit(fortran)
    np.testing.assert_allclose(fitted.decision_function(fortran), scores, rtol=1e-5)


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, torch.nn.Module):
        return all(
            torch.equal(x, y)
            for x, y in zip(a.state_dict().values(), b.state_dict().values())
        )
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    try:
        return bool(a == b) or a is b
    except (TypeError, ValueError, RuntimeError):
        return a is b


def check_scoring_leaves_the_detector_unchanged(detector_class):
    """Check that scoring methods change no attribute of a fitted detector.

    The image equivalent of scikit-learn's ``check_dict_unchanged``.
    """
    images = smooth_images(40)
    detector = make_detector(detector_class).fit(images)
    before = dict(vars(detector))
    states = {
        name: copy.deepcopy(value.state_dict())
        for name, value in before.items()
        if isinstance(value, torch.nn.Module)
    }
    detector.decision_function(images)
    detector.predict(images)
    detector.predict_proba(images)
    if isinstance(detector, AnomalyMapMixin):
        detector.anomaly_map(images)
    assert set(vars(detector)) == set(before), "scoring added or removed attributes"
    for name, value in vars(detector).items():
        if name in states:
            for key, tensor in value.state_dict().items():
                assert torch.equal(tensor, states[name][key]), f"{name}.{key} changed"
        else:
            assert _same(value, before[name]), f"scoring changed {name}"


def check_empty_input_gets_a_clear_error(detector_class):
    """Check that no images at all, at fit or at scoring, get a clear ValueError.

    The image equivalent of ``check_estimators_empty_data_messages``.
    """
    images = smooth_images(40)
    empty = images[:0]
    with pytest.raises(ValueError, match="Found 0 image"):
        make_detector(detector_class).fit(empty)
    detector = make_detector(detector_class).fit(images)
    with pytest.raises(ValueError, match="Found 0 image"):
        detector.decision_function(empty)


def check_training_labels_are_the_predictions(detector_class):
    """Check that labels_ are the thresholded training scores, as in PyOD.

    The image equivalent of ``check_outliers_fit_predict``: PyOD's
    (deprecated) ``fit_predict`` returns ``labels_``, and where the training
    scores are the scores of the training images (no leave-one-out),
    ``predict`` on them gives the same labels.
    """
    images = smooth_images(40)
    detector = make_detector(detector_class).fit(images)
    np.testing.assert_array_equal(
        detector.labels_, (detector.decision_scores_ > detector.threshold_).astype(int)
    )
    scores = detector.decision_function(images)
    if np.allclose(scores, detector.decision_scores_, rtol=1e-6, atol=1e-9):
        np.testing.assert_array_equal(detector.predict(images), detector.labels_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyOD deprecates fit_predict
        labels = make_detector(detector_class).fit_predict(images)
    np.testing.assert_array_equal(labels, detector.labels_)


def check_scoring_params_are_frozen_at_fit(detector_class):
    """Check that changing how scores are defined after fit raises, and rescore.

    ``threshold_`` belongs to the scores of the fitted settings: a changed
    scoring parameter must not silently label another score; ``rescore``
    gives the other scores of the same fit.
    """
    images = smooth_images(40)
    detector = make_detector(detector_class).fit(images)
    expected = detector.decision_function(images)
    np.testing.assert_array_equal(detector.rescore(images), expected)
    assert set(detector.scoring_params_) == set(detector_class._scoring_params)
    with pytest.raises(ValueError, match="scoring parameters"):
        detector.rescore(images, not_a_scoring_parameter=1)
    for name in detector_class._scoring_params:
        value = getattr(detector, name)
        object.__setattr__(detector, name, _another_value(value))
        with pytest.raises(ValueError, match="fitted with"):
            detector.decision_function(images)
        detector.set_params(**{name: value})
        np.testing.assert_array_equal(detector.decision_function(images), expected)


def _another_value(value):
    """Return a different value of the same kind (it only needs to differ)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return f"{value}-changed"


def _documented_parameters(doc):
    """Names listed in the Parameters section of a numpydoc docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    names, inside = set(), False
    for i, line in enumerate(lines):
        underline = i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}
        if underline:
            inside = line.strip() == "Parameters"
            continue
        if inside and line and not line.startswith(" ") and set(line) != {"-"}:
            names.update(n.strip() for n in line.split(" : ")[0].split(","))
    return names


def check_docstring_documents_every_parameter(detector_class):
    """Check that the class docstring documents each parameter, shared docs expanded."""
    doc = detector_class.__doc__ or ""
    assert "%(" not in doc, "a shared-docs line %(name)s was not expanded"
    params = set(make_detector(detector_class).get_params(deep=False))
    missing = params - _documented_parameters(doc)
    assert not missing, f"parameters not in the docstring: {sorted(missing)}"


# ------------------------------------------------- detectors trained by skorch
def check_max_epochs_zero_scores_the_untrained_network(detector_class):
    """Check that max_epochs=0 fits no epoch and scores the initial network.

    This is the untrained-network ablation of the benchmark: the same module
    and the same score, with the weights it was initialised with.
    """
    images = smooth_images(40)
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


def check_user_callbacks_work(detector_class):
    """Check that skorch callbacks passed by the user run and are not mutated."""
    images = smooth_images(40)
    stopper = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    scheduler = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    # a detector that schedules its learning rate itself takes the user's
    # scheduler once its own is off
    own_schedule = "lr_schedule" in inspect.signature(detector_class).parameters
    detector = make_detector(
        detector_class,
        max_epochs=6,
        callbacks=[stopper, scheduler],
        **({"lr_schedule": "constant"} if own_schedule else {}),
    )
    detector.fit(images)
    assert len(detector.history_) < 6  # stopped early: no epoch improves by 10
    assert stopper.dynamic_threshold_ is None  # the user's object is not trained on
    clone(detector).fit(images)


def check_verbose_shows_progress(detector_class):
    """Check that verbose prints the epoch table and silence is the default."""
    images = smooth_images(40)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        make_detector(detector_class).fit(images)
    assert out.getvalue() == ""
    with contextlib.redirect_stdout(out):
        make_detector(detector_class, verbose=1).fit(images)
    assert "train_loss" in out.getvalue()


class _CtrlCInTraining(Callback):
    """Raises KeyboardInterrupt inside a forward pass of the second training step.

    That is where Ctrl-C lands in a fit: during a training step. (A
    ``KeyboardInterrupt`` raised by a callback itself is skorch's request to
    stop training, as ``EarlyStopping`` makes it, and ends training normally.)
    """

    def on_train_begin(self, net, **kwargs):
        self.batches_ = 0

        def interrupt(module, args):
            if self.batches_ >= 1:
                raise KeyboardInterrupt

        # every submodule: some detectors train parts of their module directly
        self.hooks_ = [
            module.register_forward_pre_hook(interrupt)
            for module in net.module_.modules()
        ]

    def on_batch_end(self, net, **kwargs):
        self.batches_ += 1

    def on_train_end(self, net, **kwargs):
        for hook in self.hooks_:
            hook.remove()


def check_interrupt_stops_fit_and_leaves_it_unfitted(detector_class):
    """Check that Ctrl-C during training propagates out of fit, leaving it unfitted.

    skorch swallows ``KeyboardInterrupt`` in its training loop; a detector
    must not return a half-trained network with a threshold set.
    """
    images = smooth_images(40)
    detector = make_detector(detector_class).fit(images)
    detector.set_params(max_epochs=3, callbacks=[_CtrlCInTraining()])
    with pytest.raises(KeyboardInterrupt):
        detector.fit(images)
    with pytest.raises(NotFittedError):
        detector.decision_function(images)
    fitted = [n for n in vars(detector) if n.endswith("_") and n[0] != "_"]
    assert not fitted, f"fitted attributes left after the interrupt: {fitted}"


_DEEP_CHECKS = [
    check_interrupt_stops_fit_and_leaves_it_unfitted,
    check_max_epochs_zero_scores_the_untrained_network,
    check_user_callbacks_work,
    check_verbose_shows_progress,
]
_DEEP_CHECK_NAMES = {check.__name__ for check in _DEEP_CHECKS}


_COMMON_CHECKS = [
    value
    for name, value in list(globals().items())
    if name.startswith("check_") and name not in _DEEP_CHECK_NAMES
]


def detector_checks(detector_class):
    """Return the checks that apply to a detector class, each ready to call.

    Parameters
    ----------
    detector_class : type
        A subclass of :class:`~skanomaly.base.BaseImageDetector`.

    Returns
    -------
    checks : list of functools.partial
        Each takes no argument and raises ``AssertionError`` (or the
        unexpected error) when the detector fails it.
    """
    checks = list(_COMMON_CHECKS)
    if issubclass(detector_class, BaseDeepDetector):
        checks += _DEEP_CHECKS
    return [functools.partial(check, detector_class) for check in checks]


def _check_id(check):
    return f"{check.args[0].__name__}-{check.func.__name__}"


def parametrize_with_detector_checks(detector_classes):
    """Return a pytest decorator that runs every applicable check on each class.

    Parameters
    ----------
    detector_classes : iterable of type
        Detector classes.

    Returns
    -------
    decorator
        ``pytest.mark.parametrize("check", ...)`` over the checks of all
        classes, with ids ``"<Detector>-<check>"``.
    """
    checks = [c for cls in detector_classes for c in detector_checks(cls)]
    return pytest.mark.parametrize("check", checks, ids=[_check_id(c) for c in checks])


def check_detector(detector_class):
    """Run every applicable check on a detector class; raise on the first failure.

    Parameters
    ----------
    detector_class : type
        A subclass of :class:`~skanomaly.base.BaseImageDetector`.
    """
    for check in detector_checks(detector_class):
        check()
