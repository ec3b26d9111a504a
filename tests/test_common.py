"""Checks every detector registered in skanomaly must pass.

The detector-contract checks live in :mod:`skanomaly.utils.estimator_checks` (so that
detectors written elsewhere can run them too) and run here on every class of
``skanomaly.DETECTORS``, with the class's ``presets["test"]`` settings;
scikit-learn's own estimator checks run beside them, except those listed,
with the reason, in ``SKLEARN_CHECKS_THAT_DO_NOT_APPLY`` of
``skanomaly.utils.estimator_checks``.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from pyod.models.base import BaseDetector
from sklearn.utils.estimator_checks import parametrize_with_checks

import skanomaly
from skanomaly.base import BaseImageDetector
from skanomaly.utils.estimator_checks import (
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
    # detectors whose optional packages are installed (the others' checks skip)
    [
        make_detector(cls)
        for cls in skanomaly.DETECTORS
        if cls._missing_dependencies() is None
    ],
    expected_failed_checks=lambda est: SKLEARN_CHECKS_THAT_DO_NOT_APPLY,
)
def test_sklearn_compatible(estimator, check):
    """Check that scikit-learn's estimator checks that apply pass."""
    check(estimator)


@parametrize_with_detector_checks(skanomaly.DETECTORS)
def test_detector_contract(check):
    """Check the detector contract (utils.estimator_checks) for every detector."""
    check()


def test_unscaled_intensities_get_a_warning():
    """Check that 0..255 floats warn, and [0, 1] or standardized images do not.

    uint8 and uint16 are scaled; floats are used as given, so a user passing
    raw intensities as floats hears about it instead of training on values
    the defaults were not made for.
    """
    images = smooth_images(40)
    detector = make_detector(skanomaly.ConvAutoEncoder)
    with pytest.warns(UserWarning, match="divide by their maximum"):
        detector.fit(images * 255)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detector.fit(images)
        detector.fit((images * 255).astype(np.uint8))
        detector.fit((images - 0.5) * 6)  # standardized images are fine


def test_integer_dtypes_are_scaled_or_rejected():
    """Check uint16 scaling and the message for ambiguous integer images."""
    images = smooth_images(40)
    as_uint8 = make_detector(skanomaly.ConvAutoEncoder).fit(
        np.round(images * 255).astype(np.uint8)
    )
    as_uint16 = make_detector(skanomaly.ConvAutoEncoder).fit(
        np.round(images * 255).astype(np.uint16) * 257  # 255 * 257 = 65535
    )
    np.testing.assert_allclose(
        as_uint16.decision_scores_, as_uint8.decision_scores_, rtol=1e-5
    )
    for dtype in (np.int64, np.int32, np.int8, np.uint32):
        with pytest.raises(ValueError, match="ambiguous.*astype"):
            make_detector(skanomaly.ConvAutoEncoder).fit(
                np.round(images * 16).astype(dtype)
            )


def test_other_input_mistakes_get_clear_messages():
    """Check half-precision tensors, a single image and values beyond float32."""
    images = smooth_images(40)
    detector = make_detector(skanomaly.ConvAutoEncoder).fit(images)
    expected = detector.decision_function(images)
    for dtype in (torch.bfloat16, torch.float16):
        half = torch.from_numpy(images).to(dtype)
        scores = detector.decision_function(half)
        np.testing.assert_allclose(scores, expected, rtol=0.05, atol=1e-3)
    rgb = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"one channels-last image.*X\[None\]"):
        make_detector(skanomaly.ConvAutoEncoder).fit(rgb)
    huge = images.astype(np.float64) * 1e39
    with pytest.raises(ValueError, match="beyond the range of float32"):
        make_detector(skanomaly.ConvAutoEncoder).fit(huge)
    nan = images.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        make_detector(skanomaly.ConvAutoEncoder).fit(nan)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(detector_class):
    """Check that one fitted model scores the same on CUDA and on the CPU.

    A CUDA fit moved to the CPU (through a pickle, as to a machine without a
    GPU) and a CPU fit moved to CUDA score as they did (up to TF32 and kernel
    rounding).
    """
    images = smooth_images(40)
    detector = make_detector(detector_class, device="cuda").fit(images)
    assert detector.device_ == "cuda"
    on_gpu = detector.decision_function(images)
    assert on_gpu.shape == (len(images),) and np.isfinite(on_gpu).all()
    moved = pickle.loads(pickle.dumps(detector)).to("cpu")
    assert moved.device_ == "cpu"
    np.testing.assert_allclose(
        moved.decision_function(images), on_gpu, rtol=1e-2, atol=1e-4
    )
    cpu_fit = make_detector(detector_class, device="cpu").fit(images)
    on_cpu = cpu_fit.decision_function(images)
    np.testing.assert_allclose(
        cpu_fit.to("cuda").decision_function(images), on_cpu, rtol=1e-2, atol=1e-4
    )


def test_shared_parameter_docs_are_expanded_and_checked():
    """Check the shared-docs substitution and that the doc check can fail."""
    from skanomaly.utils.estimator_checks import (
        check_docstring_documents_every_parameter,
    )

    class Documented(skanomaly.ConvAutoEncoder):
        """Parameters
        ----------
        %(contamination)s
        """

    assert "Expected proportion of outliers" in Documented.__doc__
    assert "%(" not in Documented.__doc__
    with pytest.raises(AssertionError, match="not in the docstring"):
        check_docstring_documents_every_parameter(Documented)
