"""Property tests of the public API: any input scores or gets a clear error.

For every detector, hypothesis draws inputs of random shapes, dtypes, layouts
and NaN positions, tiny and odd sizes included. The detector either returns
finite scores of the right shape or raises ``ValueError`` (with a message);
never another exception. The example counts are small enough for CI.
"""

import functools

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

import skanomaly
from skanomaly.utils.estimator_checks import make_detector, smooth_images

DTYPES = ["float32", "float64", "float16", "uint8", "uint16", "int64", "int8", "bool"]


@functools.cache
def _fitted(cls):
    return make_detector(cls).fit(smooth_images(24))


@st.composite
def arrays(draw):
    """An array of a random layout around 16x16 grey images, or far from it."""
    n = draw(st.integers(0, 4))
    layout = draw(
        st.sampled_from(["grey", "first", "last", "flat", "odd", "1d", "5d", "rgb"])
    )
    size = draw(st.sampled_from([16, 16, 16, 7, 8, 13]))
    shapes = {
        "grey": (n, size, size),
        "first": (n, 1, size, size),
        "last": (n, size, size, 1),
        "flat": (n, size * size),
        "odd": (n, draw(st.integers(1, 20)), draw(st.integers(1, 20))),
        "1d": (size,),
        "5d": (n, 1, 1, size, size),
        "rgb": (n, 3, size, size),
    }
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.random(shapes[layout])
    if dtype.kind in "ui":
        X = np.round(X * np.iinfo(dtype).max * draw(st.sampled_from([0.05, 1.0])))
    X = X.astype(dtype)
    if dtype == np.float64 and draw(st.booleans()):
        X = X * draw(st.sampled_from([255.0, 1e39]))  # raw intensities, overflow
    if dtype.kind == "f" and X.size and draw(st.booleans()):
        X.flat[draw(st.integers(0, X.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf])
        )
    n_images = X.shape[0] if X.ndim else 0
    container = draw(st.sampled_from(["numpy", "numpy", "tensor", "list"]))
    if container == "tensor" and dtype != np.uint16:
        X = torch.from_numpy(X)
        if X.dtype == torch.float32 and draw(st.booleans()):
            X = X.to(torch.bfloat16)
    elif container == "list":
        X = X.tolist()
    return X, n_images


def _check_outcome(call, n):
    try:
        scores = call()
    except (ValueError, NotFittedError) as exc:
        assert str(exc), "an error without a message"
        return
    assert scores.shape == (n,)
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("cls", skanomaly.DETECTORS, ids=lambda c: c.__name__)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=arrays())
def test_scoring_any_input_scores_or_raises_value_error(cls, case):
    """Check decision_function on random inputs: scores or a ValueError."""
    X, n = case
    detector = _fitted(cls)
    _check_outcome(lambda: detector.decision_function(X), n)


@pytest.mark.parametrize("cls", skanomaly.DETECTORS, ids=lambda c: c.__name__)
@settings(max_examples=6, deadline=None)
@given(case=arrays())
def test_fitting_any_input_fits_or_raises_value_error(cls, case):
    """Check fit on random inputs: a fitted detector or a ValueError."""
    X, n = case
    detector = make_detector(cls)
    _check_outcome(lambda: detector.fit(X).decision_scores_, n)


@pytest.mark.parametrize("cls", skanomaly.DETECTORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_identical_constant_training_images_give_finite_scores(cls, value):
    """Check fit on identical constant images: finite scores, no 0 / 0.

    The maps of such training images are all equal, so their per-pixel
    standard deviation is zero (a hypothesis example found UTAD's and
    SelfSupervisedAE's standardized maps at NaN).
    """
    X = np.full((2, 16, 16), value, dtype=np.float32)
    detector = make_detector(cls, random_state=0)
    _check_outcome(lambda: detector.fit(X).decision_scores_, 2)
    _check_outcome(lambda: detector.decision_function(np.random.rand(3, 16, 16)), 3)
