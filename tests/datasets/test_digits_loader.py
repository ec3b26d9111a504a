import numpy as np

from skanomaly.datasets import load_digits


def test_load_digits_bunch():
    """Check that load_digits returns float32 8x8 images in [0, 1] and labels."""
    data = load_digits()
    assert data.images.shape == (1797, 8, 8)
    assert data.images.dtype == np.float32
    assert data.images.min() == 0.0
    assert data.images.max() == 1.0
    assert data.target.shape == (1797,)
    assert np.issubdtype(data.target.dtype, np.integer)
    np.testing.assert_array_equal(np.unique(data.target), np.arange(10))
    np.testing.assert_array_equal(data.target_names, np.arange(10))
    assert "digits" in data.DESCR.lower()


def test_load_digits_matches_sklearn_scaled():
    """Check that the images are scikit-learn's digits divided by 16."""
    from sklearn.datasets import load_digits as sk_load_digits

    images, target = load_digits(return_X_y=True)
    reference = sk_load_digits()
    np.testing.assert_allclose(images, reference.images / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(target, reference.target)
