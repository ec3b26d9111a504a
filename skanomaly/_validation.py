"""Input validation shared by every detector and transformer.

One function, :func:`check_images`, turns what a user passes (numpy arrays,
array-likes, torch tensors; grey, channels-first, channels-last or flattened
images) into a fresh ``float32`` array of shape ``(n, C, H, W)``. Nothing is
guessed: when the layout of a 4-D array is ambiguous, the error names the
parameter that settles it.
"""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp

__all__ = [
    "FAR_OUTSIDE_UNIT_RANGE",
    "MIN_IMAGE_SIZE",
    "check_images",
    "check_image_shape",
]

#: Smallest height and width accepted, in pixels.
MIN_IMAGE_SIZE = 8

#: A dimension this small or smaller can be a channel axis; one this large or
#: larger can only be spatial (images are at least ``MIN_IMAGE_SIZE`` wide).
_MAX_CHANNELS = 4


#: Integer dtypes scaled to [0, 1], by the largest value they can hold; other
#: integer dtypes are rejected as ambiguous.
_SCALED_INTEGERS = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}

#: Non-uint8 images whose largest absolute value exceeds this get a warning:
#: they are probably unscaled intensities (0..255, 0..16), not [0, 1] images
#: or standardized ones.
FAR_OUTSIDE_UNIT_RANGE = 10.0


def _to_numpy(X):
    """Return X as a numpy array without copying more than needed."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        torch = None
    if torch is not None and isinstance(X, torch.Tensor):
        X = X.detach().cpu()
        if X.dtype in (torch.bfloat16, torch.float16):
            X = X.float()  # numpy has no bfloat16: half precision becomes float32
        return X.numpy()
    if isinstance(X, np.ndarray):
        return X
    try:
        return np.asarray(X)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            "Expected images as a numeric array (numpy array, nested lists or "
            f"torch tensor); could not convert the input: {exc}"
        ) from exc


def check_image_shape(image_shape, name="image_shape"):
    """Validate an ``image_shape`` parameter and return it as ``(C, H, W)``.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` for grey images or ``(C, H, W)`` for images with channels.
    name : str, default="image_shape"
        Name used in error messages.

    Returns
    -------
    shape : tuple of int
        ``(C, H, W)``.
    """
    if (
        not isinstance(image_shape, (tuple, list))
        or len(image_shape) not in (2, 3)
        or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
            for s in image_shape
        )
    ):
        raise ValueError(
            f"{name} must be a tuple of positive ints, (H, W) for grey images or "
            f"(C, H, W) for images with channels; got {image_shape!r}."
        )
    shape = tuple(int(s) for s in image_shape)
    return (1, *shape) if len(shape) == 2 else shape


def _channels_first(X, channels_last):
    """Return a 4-D array in (n, C, H, W) order, resolving the layout."""
    if channels_last is True:
        return np.moveaxis(X, -1, 1)
    if channels_last is False:
        return X
    first_small = X.shape[1] <= _MAX_CHANNELS
    last_small = X.shape[3] <= _MAX_CHANNELS
    if first_small and not last_small:
        return X
    if last_small and not first_small:
        return np.moveaxis(X, -1, 1)
    raise ValueError(
        f"Cannot tell whether images of shape {X.shape} are channels-first "
        "(n, C, H, W) or channels-last (n, H, W, C). Pass channels_last=False "
        "for (n, C, H, W) or channels_last=True for (n, H, W, C)."
    )


def check_images(
    X,
    *,
    image_shape=None,
    channels_last=None,
    min_samples=1,
    expected_shape=None,
):
    """Validate images and return a new float32 array of shape (n, C, H, W).

    Parameters
    ----------
    X : array-like or torch.Tensor
        Images as ``(n, H, W)`` (grey), ``(n, C, H, W)``, ``(n, H, W, C)`` or
        flattened ``(n, D)`` rows together with ``image_shape``.
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)``; required for flattened ``(n, D)`` input,
        where ``D`` must equal the product of its entries. For images given
        with their own shape it is checked against that shape.
    channels_last : bool, default=None
        Layout of 4-D input. ``None`` infers it only when it is unambiguous:
        a channel axis holds at most 4 entries and images are at least
        ``MIN_IMAGE_SIZE`` pixels wide, so ``(n, 3, 32, 32)`` is channels-first
        and ``(n, 32, 32, 3)`` channels-last, but ``(n, 8, 16, 16)`` needs the
        parameter.
    min_samples : int, default=1
        Fewest images accepted.
    expected_shape : tuple of int, default=None
        ``(C, H, W)`` the images must have (the shape seen in ``fit``).

    Returns
    -------
    images : ndarray of shape (n, C, H, W), dtype float32
        A copy; ``uint8`` and ``uint16`` input is scaled to [0, 1] (by 1/255
        and 1/65535), other integer dtypes are rejected as ambiguous, floats
        and booleans are used as given (with a warning when its values reach beyond
        ``FAR_OUTSIDE_UNIT_RANGE`` in absolute value).

    Raises
    ------
    ValueError
        If the input is not numeric, has the wrong number of dimensions,
        contains NaN or infinity, has too few images, images smaller than
        ``MIN_IMAGE_SIZE``, or a shape that does not match ``image_shape`` or
        ``expected_shape``.
    """
    if sp.issparse(X):
        raise ValueError(
            "Sparse input is not supported: images must be dense arrays. Convert "
            "with X.toarray() first."
        )
    X = _to_numpy(X)
    if X.dtype == object:
        try:
            X = X.astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                "Expected numeric images, got an array of dtype object whose "
                "entries are not all numbers. Convert the images to numbers "
                "(uint8 in [0, 255] or floats) first."
            ) from exc
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise ValueError(
            f"Expected numeric images, got an array of dtype {X.dtype}. Convert "
            "the images to numbers (uint8 in [0, 255] or floats) first."
        )
    if np.iscomplexobj(X):
        raise ValueError("Complex data not supported: expected real-valued images.")
    if np.issubdtype(X.dtype, np.integer) and X.dtype not in _SCALED_INTEGERS:
        raise ValueError(
            f"Images of dtype {X.dtype} are ambiguous: skanomaly scales uint8 "
            "images by 1/255 and uint16 images by 1/65535, and uses floats as "
            "given (networks and defaults are made for [0, 1]). Convert them: "
            "X.astype(np.uint8) for 0..255 intensities, X.astype(np.uint16) "
            "for 16-bit ones, or X / X.max() for other ranges."
        )

    declared = None if image_shape is None else check_image_shape(image_shape)
    if X.ndim == 2:
        if declared is None:
            raise ValueError(
                f"Got a 2-D array of shape {X.shape}, read as flattened images "
                "(n, D). Pass image_shape=(H, W) or (C, H, W) so that D can be "
                "folded back into images."
            )
        if X.shape[1] != int(np.prod(declared)):
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} holds {int(np.prod(declared))} "
                f"values per image, but X has D={X.shape[1]} columns."
            )
        X = X.reshape((X.shape[0], *declared))
    elif X.ndim == 3:
        if X.shape[2] <= _MAX_CHANNELS and min(X.shape[:2]) >= MIN_IMAGE_SIZE:
            raise ValueError(
                f"Got a 3-D array of shape {X.shape}: read as {X.shape[0]} grey "
                f"images of {X.shape[1]}x{X.shape[2]} pixels, too small to be "
                "images. If it is one channels-last image (H, W, C), add the "
                "batch axis: X[None] (or X[np.newaxis])."
            )
        X = X[:, None, :, :]
    elif X.ndim == 4:
        X = _channels_first(X, channels_last)
    else:
        raise ValueError(
            f"Expected images as a 2-D (n, D), 3-D (n, H, W) or 4-D (n, C, H, W) "
            f"or (n, H, W, C) array; got {X.ndim} dimension(s) with shape "
            f"{X.shape}."
        )
    if declared is not None and X.shape[1:] != declared:
        raise ValueError(
            f"image_shape={tuple(image_shape)!r} does not match the images' shape "
            f"(C, H, W)={X.shape[1:]}."
        )

    n_samples = X.shape[0]
    if n_samples < min_samples:
        raise ValueError(
            f"Found {n_samples} image(s), but at least {min_samples} are required."
        )
    height, width = X.shape[2:]
    if min(height, width) < MIN_IMAGE_SIZE:
        raise ValueError(
            f"Images must be at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels; "
            f"got {height}x{width} (C, H, W = {X.shape[1:]})."
        )
    if expected_shape is not None and X.shape[1:] != tuple(expected_shape):
        raise ValueError(
            f"Images have shape (C, H, W)={X.shape[1:]}, but the detector was "
            f"fitted on images of shape {tuple(expected_shape)}."
        )

    scale = _SCALED_INTEGERS.get(X.dtype)
    if scale is None and X.dtype != bool and not np.isfinite(X).all():
        raise ValueError(
            "Images contain NaN or infinity; remove or impute those values first."
        )
    with np.errstate(over="ignore"):
        out = np.array(X, dtype=np.float32, copy=True, order="C")
    if scale is not None:
        out /= scale
    elif not np.isfinite(out).all():
        raise ValueError(
            f"Images have values up to {float(np.abs(X).max()):g}, beyond the "
            "range of float32 that the networks compute in; rescale them first "
            "(e.g. X / X.max())."
        )
    else:
        largest = float(np.abs(out).max()) if out.size else 0.0
        if largest > FAR_OUTSIDE_UNIT_RANGE:
            warnings.warn(
                f"Images of dtype {X.dtype} have values up to {largest:g} and are "
                "used as given: skanomaly scales only uint8 and uint16 images, "
                "and its networks and defaults are made for values in [0, 1]. "
                "If these are intensities such as 0..255 or 0..16, divide by "
                "their maximum first (e.g. X / 255.0).",
                UserWarning,
                stacklevel=4,
            )
    return out
