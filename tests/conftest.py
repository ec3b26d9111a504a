"""Shared fixtures and the registry of detectors the common tests run on."""

import os

import numpy as np
import pytest
import torch

import skanomaly
from skanomaly.datasets import fetch_fashion_mnist, make_one_class_split

#: Settings that make each exported detector train in well under a second on
#: tiny images. A detector exported in ``skanomaly.DETECTORS`` without an entry
#: here fails ``test_every_detector_is_registered``.
FAST_PARAMS = {
    "ConvAutoEncoder": dict(n_filters=4, depth=2, latent_dim=4, max_epochs=2),
    "EncoderGAN": dict(n_filters=4, latent_dim=8, max_epochs=2),
    "InfoTheoreticAD": dict(n_filters=4, depth=2, projection_dim=4, max_epochs=2),
    "SelfSupervisedAE": dict(n_filters=4, depth=1, max_epochs=2),
    "UTAD": dict(impression_filters=(4, 4), expert_dim=4, max_epochs=2),
}

#: scikit-learn checks that do not apply to skanomaly's detectors, with why.
_TABULAR = (
    "generates tabular data with a handful of features; skanomaly's detectors "
    "take images of at least 8x8 pixels, and flattened rows only with "
    "image_shape (the same property is checked on images in test_common.py)"
)
SKLEARN_CHECKS_THAT_DO_NOT_APPLY = {
    name: _TABULAR
    for name in (
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_estimators_empty_data_messages",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_outliers_fit_predict",
        "check_outliers_train",
        "check_classifier_data_not_an_array",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    )
}


def make_detector(cls, **params):
    """An instance of ``cls`` with the fast settings and a fixed seed."""
    settings = {"random_state": 0, "device": "cpu", **FAST_PARAMS[cls.__name__]}
    settings.update(params)
    return cls(**settings)


def smooth_images(n, size=16, channels=None, seed=0):
    """Smooth random images in [0, 1]: a sum of two oriented gradients."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    shape = (n, size, size) if channels is None else (n, channels, size, size)
    a = rng.uniform(-1, 1, shape[:-2] + (1, 1))
    b = rng.uniform(-1, 1, shape[:-2] + (1, 1))
    images = 0.5 + 0.25 * (a * xx + b * yy)
    return images.astype(np.float32)


def fashion_mnist_task(normal_class, n_train=1000, n_test=2000):
    """Fashion-MNIST one-class task, or skip when the data are not installed.

    Training: the first ``n_train`` training images of ``normal_class``. Test:
    ``n_test`` test images drawn with seed 0, labelled 1 unless of that class.
    """
    try:
        train = fetch_fashion_mnist(subset="train", download_if_missing=False)
        test = fetch_fashion_mnist(subset="test", download_if_missing=False)
    except OSError as exc:
        pytest.skip(f"Fashion-MNIST not available offline: {exc}")
    index = np.random.default_rng(0).choice(len(test.images), n_test, replace=False)
    X_train, _, X_test, y_test = make_one_class_split(
        train.images,
        train.target,
        normal_class,
        X_test=test.images[index],
        y_test=test.target[index],
    )
    return X_train[:n_train], X_test, y_test


@pytest.fixture(params=skanomaly.DETECTORS, ids=lambda cls: cls.__name__)
def detector_class(request):
    return request.param


@pytest.fixture
def images():
    return smooth_images(40)


#: Torch threads the tests run with: ``SKANOMALY_TEST_THREADS`` when set (CI
#: runs the suite once with 1 and once with 2, so that no verdict depends on
#: the thread count), otherwise at most two.
TEST_THREADS = os.environ.get("SKANOMALY_TEST_THREADS")


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep torch to the machine's two cores and avoid oversubscription."""
    previous = torch.get_num_threads()
    threads = int(TEST_THREADS) if TEST_THREADS else min(previous, 2)
    torch.set_num_threads(threads)
    yield
    torch.set_num_threads(previous)
