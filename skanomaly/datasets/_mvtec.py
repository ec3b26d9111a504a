"""Loader for image folders laid out like an MVTec AD category."""

import numbers
import os

import numpy as np
from sklearn.utils import Bunch

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NORMAL_FOLDER = "good"
MASK_SUFFIX = "_mask.png"


def _import_pil_image():
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            "load_mvtec_folder needs Pillow to read images: pip install pillow "
            "(or pip install 'skanomaly[images]')"
        ) from exc
    return Image


def _check_image_size(image_size):
    if image_size is None:
        return None
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
            for s in image_size
        )
    ):
        return int(image_size[0]), int(image_size[1])
    raise ValueError(
        "image_size must be None, a positive int or a (height, width) pair of "
        f"positive ints; got {image_size!r}"
    )


def _list_images(folder):
    return sorted(
        name
        for name in os.listdir(folder)
        if name.lower().endswith(IMAGE_EXTENSIONS)
        and os.path.isfile(os.path.join(folder, name))
    )


def _read_image(Image, path, mode, size):
    """Return the image as a uint8 array, and its original (height, width)."""
    with Image.open(path) as image:
        original = (image.height, image.width)
        image = image.convert(mode)
        if size is not None and original != size:
            resample = getattr(Image, "Resampling", Image).BILINEAR
            image = image.resize((size[1], size[0]), resample)
        return np.array(image, dtype=np.uint8), original


def _read_mask(Image, path, size):
    with Image.open(path) as mask:
        original = (mask.height, mask.width)
        binary = (np.asarray(mask.convert("L")) > 0).astype(np.uint8)
    if size is not None and original != size:
        nearest = getattr(Image, "Resampling", Image).NEAREST
        resized = Image.fromarray(binary * 255).resize((size[1], size[0]), nearest)
        binary = (np.asarray(resized) > 0).astype(np.uint8)
    return binary, original


def _check_same_shape(arrays, names, root):
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        first = arrays[0].shape
        other = next(i for i, a in enumerate(arrays) if a.shape != first)
        raise ValueError(
            f"The images under {root} have different sizes: {names[0]} has shape "
            f"{first} and {names[other]} has shape {arrays[other].shape}; pass "
            "image_size to resize them all to one size"
        )


def load_mvtec_folder(root, *, image_size=None, grayscale=False):
    """Load one category of an MVTec AD-style anomaly detection data set.

    The folder must be laid out as in MVTec AD::

        root/train/good/*.png                  normal training images
        root/test/good/*.png                   normal test images
        root/test/<defect>/*.png               defective test images
        root/ground_truth/<defect>/<name>_mask.png
                                               their pixel masks

    Files are read in sorted order; ``test/good`` comes first, then the
    defect folders in alphabetical order. Images may be PNG, JPEG, BMP or
    TIFF files; masks are PNG files, any non-zero pixel marking a defect.

    Parameters
    ----------
    root : str or path-like
        The category folder, e.g. ``".../mvtec_anomaly_detection/bottle"``.
    image_size : int or tuple of (int, int), default=None
        If given, resize every image to this (height, width) (an int means a
        square), bilinearly; masks are resized with nearest neighbours. If
        None, all images must have the same size.
    grayscale : bool, default=False
        If True, convert the images to one grey channel; otherwise to RGB.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        X_train : ndarray of shape (n_train, H, W, 3) or (n_train, H, W)
            The normal training images, uint8, channels last, or without a
            channel axis if ``grayscale`` is True.
        X_test : ndarray of shape (n_test, H, W, 3) or (n_test, H, W)
            The test images, likewise.
        y_test : ndarray of shape (n_test,), dtype int64
            0 for the images of ``test/good``, 1 for defective ones.
        masks_test : ndarray of shape (n_test, H, W), dtype uint8
            1 on the defective pixels, 0 elsewhere; all 0 for good images.
        defect_type : ndarray of shape (n_test,), dtype str
            The name of each test image's folder ("good" for normal ones).
        filenames : ndarray of shape (n_test,), dtype str
            The test image paths, relative to ``root``, with "/" separators.
        filenames_train : ndarray of shape (n_train,), dtype str
            The training image paths, relative to ``root``.

    Raises
    ------
    FileNotFoundError
        If ``root``, ``root/train/good`` or ``root/test`` is missing.
    ValueError
        If a defective image has no mask, if a mask and its image differ in
        size, if a folder holds no image, or if the images differ in size and
        ``image_size`` is None.

    Notes
    -----
    Requires Pillow (``pip install pillow``).

    Examples
    --------
    >>> from skanomaly.datasets import load_mvtec_folder
    >>> data = load_mvtec_folder("mvtec/bottle", image_size=128)  # doctest: +SKIP
    >>> data.X_train.shape  # doctest: +SKIP
    (209, 128, 128, 3)
    """
    Image = _import_pil_image()
    size = _check_image_size(image_size)
    root = os.fspath(root)
    mode = "L" if grayscale else "RGB"
    if not os.path.isdir(root):
        raise FileNotFoundError(f"The folder {root} does not exist")
    train_dir = os.path.join(root, "train", NORMAL_FOLDER)
    test_dir = os.path.join(root, "test")
    for folder, what in ((train_dir, "train/good"), (test_dir, "test")):
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"The folder {folder} does not exist; expected an MVTec AD-style "
                f"layout with normal training images in {root}/train/good and "
                f"test images in {root}/test/<defect type> (missing: {what})"
            )

    train_names = [f"train/{NORMAL_FOLDER}/{n}" for n in _list_images(train_dir)]
    if not train_names:
        raise ValueError(f"{train_dir} holds no image file {IMAGE_EXTENSIONS}")
    X_train = [
        _read_image(Image, os.path.join(root, n), mode, size)[0] for n in train_names
    ]

    defects = sorted(
        d for d in os.listdir(test_dir) if os.path.isdir(os.path.join(test_dir, d))
    )
    defects.sort(key=lambda d: d != NORMAL_FOLDER)
    X_test, masks, kinds, test_names = [], [], [], []
    for defect in defects:
        for name in _list_images(os.path.join(test_dir, defect)):
            relative = f"test/{defect}/{name}"
            image, original = _read_image(
                Image, os.path.join(root, relative), mode, size
            )
            if defect == NORMAL_FOLDER:
                mask = np.zeros(image.shape[:2], dtype=np.uint8)
            else:
                stem = os.path.splitext(name)[0]
                mask_path = os.path.join(
                    root, "ground_truth", defect, stem + MASK_SUFFIX
                )
                if not os.path.isfile(mask_path):
                    raise ValueError(
                        f"The defective image {relative} has no mask: expected "
                        f"the file {mask_path}"
                    )
                mask, mask_original = _read_mask(Image, mask_path, size)
                if mask_original != original:
                    raise ValueError(
                        f"The mask {mask_path} has size {mask_original} but its "
                        f"image {relative} has size {original}; expected equal "
                        "(height, width)"
                    )
            X_test.append(image)
            masks.append(mask)
            kinds.append(defect)
            test_names.append(relative)
    if not X_test:
        raise ValueError(f"{test_dir} holds no image in any of its subfolders")

    _check_same_shape(X_train + X_test, train_names + test_names, root)
    kinds = np.array(kinds)
    return Bunch(
        X_train=np.stack(X_train),
        X_test=np.stack(X_test),
        y_test=(kinds != NORMAL_FOLDER).astype(np.int64),
        masks_test=np.stack(masks),
        defect_type=kinds,
        filenames=np.array(test_names),
        filenames_train=np.array(train_names),
    )
