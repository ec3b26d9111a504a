"""Checks every detector registered in skanomaly must pass.

The detector-contract checks live in :mod:`skanomaly.testing` (so that
detectors written elsewhere can run them too) and run here on every class of
``skanomaly.DETECTORS``, with the class's ``presets["test"]`` settings;
scikit-learn's own estimator checks run beside them, except those listed,
with the reason, in ``skanomaly.testing.SKLEARN_CHECKS_THAT_DO_NOT_APPLY``.
"""

import io
import pickle
import warnings

import numpy as np
import pytest
import torch
from pyod.models.base import BaseDetector
from sklearn.utils.estimator_checks import parametrize_with_checks

import skanomaly
from skanomaly.base import BaseImageDetector
from skanomaly.testing import (
    SKLEARN_CHECKS_THAT_DO_NOT_APPLY,
    make_detector,
    parametrize_with_detector_checks,
    smooth_images,
)


def test_every_detector_is_registered_and_exported():
    """Check that every detector has test settings and is exported by name."""
    assert len(skanomaly.DETECTORS) >= 5
    for cls in skanomaly.DETECTORS:
        assert "test" in cls.presets and "demo" in cls.presets
        assert issubclass(cls, BaseImageDetector)
        assert issubclass(cls, BaseDetector)
        assert cls.__name__ in skanomaly.__all__
        assert getattr(skanomaly, cls.__name__) is cls
    assert set(skanomaly.DETECTORS) <= set(skanomaly.registered_detectors())


@parametrize_with_checks(
    [make_detector(cls) for cls in skanomaly.DETECTORS],
    expected_failed_checks=lambda est: SKLEARN_CHECKS_THAT_DO_NOT_APPLY,
)
def test_sklearn_compatible(estimator, check):
    """Check that scikit-learn's estimator checks that apply pass."""
    check(estimator)


@parametrize_with_detector_checks(skanomaly.DETECTORS)
def test_detector_contract(check):
    """Check the detector contract (skanomaly.testing) for every detector."""
    check()


def test_unscaled_intensities_get_a_warning():
    """Check that 0..255 floats and 0..16 integers warn, and [0, 1] images do not.

    Only uint8 is scaled; other dtypes are used as given, so a user passing
    raw intensities of another dtype hears about it instead of training on
    values the defaults were not made for.
    """
    images = smooth_images(40)
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


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(detector_class):
    """Check that training and scoring on CUDA work and pickle back to the CPU."""
    images = smooth_images(40)
    detector = make_detector(detector_class, device="cuda").fit(images)
    assert detector.device_ == "cuda"
    scores = detector.decision_function(images)
    assert scores.shape == (len(images),) and np.isfinite(scores).all()
    buffer = io.BytesIO()
    pickle.dump(detector, buffer)
    assert (
        pickle.loads(buffer.getvalue()).decision_function(images).shape == scores.shape
    )


def test_shared_parameter_docs_are_expanded_and_checked():
    """Check the shared-docs substitution and that the doc check can fail."""
    from skanomaly.testing import check_docstring_documents_every_parameter

    class Documented(skanomaly.ConvAutoEncoder):
        """Parameters
        ----------
        %(contamination)s
        """

    assert "Expected proportion of outliers" in Documented.__doc__
    assert "%(" not in Documented.__doc__
    with pytest.raises(AssertionError, match="not in the docstring"):
        check_docstring_documents_every_parameter(Documented)
