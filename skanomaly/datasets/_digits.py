"""The scikit-learn 8x8 handwritten digits, as images in [0, 1]."""

import numpy as np
from sklearn.utils import Bunch

DIGITS_DESCR = """\
.. _digits_dataset:

Handwritten digits (8x8)
------------------------

**Data Set Characteristics:**

:Number of Instances: 1797 (about 180 per class)
:Number of Classes: 10 (the digits 0 to 9)
:Image shape: 8 x 8, one channel
:Pixel values: float32 in [0, 1] (the original counts 0..16 divided by 16)
:Origin: the copy of the UCI "Optical Recognition of Handwritten Digits"
    test set that ships with scikit-learn (``sklearn.datasets.load_digits``)

Each image is a 4x4-block count of the pixels of a 32x32 bitmap of a
handwritten digit, written by one of 43 people. The data set has no official
train/test split; use :func:`skanomaly.datasets.make_one_class_split` to
hold out a stratified test split and build a one-class anomaly detection
task from it.

.. rubric:: References

- Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten
  Digits. UCI Machine Learning Repository.
"""


def load_digits(*, return_X_y=False):
    """Load the 8x8 handwritten digits as images in [0, 1].

    The data are scikit-learn's copy of the UCI digits (1797 images of 10
    classes), rescaled from counts 0..16 to float32 values in [0, 1].

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        images : ndarray of shape (1797, 8, 8), dtype float32
            The images, with values in [0, 1].
        target : ndarray of shape (1797,), dtype int64
            The digit shown by each image, 0 to 9.
        target_names : ndarray of shape (10,)
            The class names, the integers 0 to 9.
        DESCR : str
            A description of the data set.

    (images, target) : tuple if ``return_X_y`` is True
        The two arrays described above.

    See Also
    --------
    make_one_class_split : Turn the classes into a one-class anomaly task.

    Examples
    --------
    >>> from skanomaly.datasets import load_digits
    >>> images, target = load_digits(return_X_y=True)
    >>> images.shape, images.dtype, float(images.max())
    ((1797, 8, 8), dtype('float32'), 1.0)
    """
    from sklearn.datasets import load_digits as _sklearn_load_digits

    digits = _sklearn_load_digits()
    images = (np.asarray(digits.images, dtype=np.float32) / 16.0).astype(np.float32)
    target = np.asarray(digits.target, dtype=np.int64)
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target,
        target_names=np.arange(10),
        DESCR=DIGITS_DESCR,
    )
