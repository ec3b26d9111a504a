"""Transformers that put images into pipelines.

:class:`ImageFlattener` turns images into ``(n, D)`` rows, so that tabular
steps and PyOD's classical detectors can follow it in a
:class:`~sklearn.pipeline.Pipeline` (for example flatten -> PCA -> KNN).
:class:`ImageResizer` resizes images to a fixed size.

Both accept the same inputs as the detectors (see
:func:`skanomaly._validation.check_images`) and never modify the caller's
array.
"""

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._validation import check_images

__all__ = ["ImageFlattener", "ImageResizer"]


class ImageFlattener(TransformerMixin, BaseEstimator):
    """Flatten images into rows of ``C * H * W`` values.

    Images are put channels-first and ``uint8`` is scaled to [0, 1], as in
    the detectors, then each image becomes one row.

    Parameters
    ----------
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)``, for input that is already flattened.
    channels_last : bool, default=None
        Layout of 4-D input; ``None`` infers it when unambiguous.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(C, H, W)`` of the images seen in ``fit``.
    n_features_in_ : int
        ``C * H * W``.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.preprocessing import ImageFlattener
    >>> ImageFlattener().fit_transform(np.zeros((5, 8, 8))).shape
    (5, 64)
    """

    _parameter_constraints = {
        "image_shape": [None, tuple, list],
        "channels_last": [None, "boolean"],
    }

    def __init__(self, *, image_shape=None, channels_last=None):
        self.image_shape = image_shape
        self.channels_last = channels_last

    def fit(self, X, y=None):
        """Record the image shape.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images.
        y : Ignored
            Not used.

        Returns
        -------
        self : object
        """
        self._validate_params()
        images = check_images(
            X, image_shape=self.image_shape, channels_last=self.channels_last
        )
        self.image_shape_ = images.shape[1:]
        self.n_features_in_ = int(np.prod(self.image_shape_))
        return self

    def transform(self, X):
        """Flatten images.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        rows : ndarray of shape (n_samples, C * H * W), dtype float32
        """
        check_is_fitted(self, "image_shape_")
        images = check_images(
            X,
            image_shape=self.image_shape,
            channels_last=self.channels_last,
            expected_shape=self.image_shape_,
        )
        return images.reshape(len(images), -1)

    def inverse_transform(self, X):
        """Fold rows back into images of shape ``(n, C, H, W)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, C * H * W)
            Rows.

        Returns
        -------
        images : ndarray of shape (n_samples, C, H, W)
        """
        check_is_fitted(self, "image_shape_")
        rows = np.asarray(X)
        if rows.ndim != 2 or rows.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Expected rows of shape (n, {self.n_features_in_}), got {rows.shape}."
            )
        return rows.reshape((len(rows), *self.image_shape_)).copy()


class ImageResizer(TransformerMixin, BaseEstimator):
    """Resize images to a fixed height and width.

    Parameters
    ----------
    size : int or tuple of int, default=32
        Output ``(H, W)``; an int gives square images.
    interpolation : {"bilinear", "bicubic", "area", "nearest"}, default="bilinear"
        Interpolation of :func:`torch.nn.functional.interpolate`. Bilinear
        and bicubic use antialiasing when shrinking.
    channels_last : bool, default=None
        Layout of 4-D input; ``None`` infers it when unambiguous.
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)``, for input that is already flattened.

    Attributes
    ----------
    n_channels_ : int
        Channels of the images seen in ``fit``.

    Notes
    -----
    The output is always channels-first, ``(n, C, H, W)``, float32 (``uint8``
    scaled to [0, 1]), which every skanomaly detector accepts.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.preprocessing import ImageResizer
    >>> ImageResizer(size=32).fit_transform(np.zeros((5, 28, 28))).shape
    (5, 1, 32, 32)
    """

    _parameter_constraints = {
        "size": [Interval(numbers.Integral, 1, None, closed="left"), tuple, list],
        "interpolation": [StrOptions({"bilinear", "bicubic", "area", "nearest"})],
        "channels_last": [None, "boolean"],
        "image_shape": [None, tuple, list],
    }

    def __init__(
        self, size=32, *, interpolation="bilinear", channels_last=None, image_shape=None
    ):
        self.size = size
        self.interpolation = interpolation
        self.channels_last = channels_last
        self.image_shape = image_shape

    def _output_size(self):
        size = (self.size, self.size) if isinstance(self.size, int) else self.size
        if len(size) != 2 or not all(
            isinstance(s, numbers.Integral) and s > 0 for s in size
        ):
            raise ValueError(
                f"size must be an int or a tuple (H, W) of positive ints; got "
                f"{self.size!r}."
            )
        return tuple(int(s) for s in size)

    def fit(self, X, y=None):
        """Check parameters and record the number of channels.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images.
        y : Ignored
            Not used.

        Returns
        -------
        self : object
        """
        self._validate_params()
        self._output_size()
        images = check_images(
            X, image_shape=self.image_shape, channels_last=self.channels_last
        )
        self.n_channels_ = images.shape[1]
        return self

    def transform(self, X):
        """Resize images.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images with the number of channels seen in ``fit``.

        Returns
        -------
        images : ndarray of shape (n_samples, C, H, W), dtype float32
        """
        check_is_fitted(self, "n_channels_")
        images = check_images(
            X, image_shape=self.image_shape, channels_last=self.channels_last
        )
        if images.shape[1] != self.n_channels_:
            raise ValueError(
                f"Images have {images.shape[1]} channel(s), but {self.n_channels_} "
                "were seen in fit."
            )
        size = self._output_size()
        if images.shape[2:] == size:
            return images
        antialias = self.interpolation in ("bilinear", "bicubic")
        with torch.inference_mode():
            out = F.interpolate(
                torch.from_numpy(images),
                size=size,
                mode=self.interpolation,
                antialias=antialias,
                **(
                    {}
                    if self.interpolation in ("area", "nearest")
                    else {"align_corners": False}
                ),
            )
        return out.numpy().copy()
