"""Shared fixtures: images, Fashion-MNIST tasks, the detectors, torch threads.

Fast settings of each detector (its ``presets["test"]``) and the helpers
``make_detector`` and ``smooth_images`` come from
:mod:`skanomaly.utils.estimator_checks`.
"""

import os

import numpy as np
import pytest
import torch

import skanomaly
from skanomaly.datasets import fetch_fashion_mnist, make_one_class_split
from skanomaly.utils.estimator_checks import make_detector, smooth_images

__all__ = [
    "brick_localization",
    "fashion_mnist_task",
    "make_detector",
    "smooth_images",
]


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


def brick_localization(detectors):
    """Pixel ROC AUC of each detector on brick-wall defects, one shared split.

    ``detectors`` maps names to unfitted detectors; each is trained on 300
    defect-free 32x32 crops of the top half of the photograph
    (``make_texture_defects``) and scored on 120 crops of the bottom half,
    half of them with defects. Skips without scikit-image.
    """
    pytest.importorskip("skimage")
    from skanomaly.datasets import make_texture_defects
    from skanomaly.metrics import pixel_roc_auc

    def crops(n, subset, fraction, seed):
        return make_texture_defects(
            n,
            image_size=32,
            texture="brick",
            anomaly_fraction=fraction,
            subset=subset,
            random_state=seed,
        )

    train, test = crops(300, "train", 0.0, 0), crops(120, "test", 0.5, 1)
    localization = {}
    for name, detector in detectors.items():
        detector.fit(train.images)
        maps = detector.anomaly_map(test.images)
        localization[name] = pixel_roc_auc(test.masks, maps)
    return localization


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
