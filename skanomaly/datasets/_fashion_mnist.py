"""Fashion-MNIST: from the cache, from the Debian package, or downloaded once."""

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
import warnings
import zlib

import numpy as np
from sklearn.utils import Bunch

from ._base import _resolve_data_home

# Where the files are downloaded from; the environment variable, when set,
# takes precedence over this constant.
FASHION_MNIST_URL = (
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"
)
FASHION_MNIST_URL_ENV = "SKANOMALY_FASHION_MNIST_URL"

# Folders where a system package may have installed the files (read in place).
FASHION_MNIST_SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)

# Subfolder of the data home holding the downloaded files.
FASHION_MNIST_SUBDIR = "fashion-mnist"

# file name -> (MD5 of the .gz file as published by Zalando,
#               MD5 of its decompressed content).
# A file is accepted when either matches: Debian re-compresses the files, so
# its .gz bytes differ from Zalando's while the decompressed data are equal.
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    ),
    "train-labels-idx1-ubyte.gz": (
        "25c81989df183df01b3e8a0aad5dffbe",
        "9018921c3c673c538a1fc5bad174d6f9",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "bef4ecab320f06d8554ea6380940ec79",
        "8181f5470baa50b63fa0f6fddb340f0a",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "bb300cfdad3c16e7a12a480ee83cd310",
        "15d484375f8d13e6eb1aabb0c3f46965",
    ),
}

DOWNLOAD_TIMEOUT = 60.0

_SUBSET_FILES = {
    "train": (("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),),
    "test": (("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),),
}
_SUBSET_FILES["all"] = _SUBSET_FILES["train"] + _SUBSET_FILES["test"]

#: The names of the ten Fashion-MNIST classes: the label of an image is the
#: index of its class here.
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

FASHION_MNIST_DESCR = """\
.. _fashion_mnist_dataset:

Fashion-MNIST
-------------

**Data Set Characteristics:**

:Number of Instances: 70000 (60000 train, 10000 test; 7000 per class)
:Number of Classes: 10
:Image shape: 28 x 28, one channel, uint8 in [0, 255]
:Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat,
    5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot
:License: MIT (Zalando SE)
:Source: https://github.com/zalandoresearch/fashion-mnist

Zalando's article images, a drop-in replacement for MNIST that is harder
to classify. For one-class anomaly detection the usual protocol trains on
the training images of one class and tests on the whole test split, the
other nine classes being anomalies (see
:func:`skanomaly.datasets.make_one_class_split`).

The files are read, in order of preference, from the skanomaly cache
folder, from the Debian/Ubuntu package ``dataset-fashion-mnist``, or
downloaded once into the cache and verified against published MD5 sums.

.. rubric:: References

- Xiao, H., Rasul, K. and Vollgraf, R. (2017). Fashion-MNIST: a Novel Image
  Dataset for Benchmarking Machine Learning Algorithms. arXiv:1708.07747.
"""


class _ChecksumError(OSError):
    """A data file is corrupt or does not match its published checksum."""


def _md5(data):
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _read_verified(path, filename):
    """Return the decompressed bytes of ``path`` after checking its MD5."""
    gz_md5, raw_md5 = FASHION_MNIST_FILES[filename]
    with open(path, "rb") as f:
        payload = f.read()
    try:
        raw = gzip.decompress(payload)
    except (OSError, EOFError, zlib.error) as exc:
        raise _ChecksumError(f"{path} is not a valid gzip file ({exc})") from exc
    if _md5(payload) != gz_md5 and _md5(raw) != raw_md5:
        raise _ChecksumError(
            f"{path} does not match the published checksum of {filename}: "
            f"expected MD5 {gz_md5} for the .gz file or {raw_md5} for its "
            f"content, got {_md5(payload)} and {_md5(raw)}"
        )
    return raw


def _parse_idx(raw, expected_ndim, source):
    """Parse the bytes of an uncompressed IDX file holding unsigned bytes."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{source} is not an IDX file: expected the magic number to start "
            f"with two zero bytes, got {raw[:4]!r}"
        )
    if raw[2] != 0x08:
        raise ValueError(
            f"{source} holds IDX data of type code {raw[2]:#04x}; expected "
            "0x08 (unsigned bytes)"
        )
    ndim = raw[3]
    if ndim != expected_ndim:
        raise ValueError(
            f"{source} holds an IDX array of {ndim} dimensions; expected "
            f"{expected_ndim}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{source} is truncated inside its IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    size = int(np.prod(shape, dtype=np.int64))
    if len(raw) != header + size:
        raise ValueError(
            f"{source} has {len(raw) - header} data bytes; its IDX header "
            f"announces shape {shape}, that is {size} bytes"
        )
    return np.frombuffer(raw, np.uint8, size, offset=header).reshape(shape).copy()


def _download(url, cache_dir, filename):
    """Download ``url`` to ``cache_dir/filename``; return the verified content.

    The file is written to a temporary file in the same folder, verified, and
    only then renamed to its final name, so the cache never holds a partial
    or corrupt file.
    """
    os.makedirs(cache_dir, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        prefix=f".{filename}.", suffix=".part", dir=cache_dir
    )
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                while True:
                    chunk = response.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
        try:
            raw = _read_verified(tmp_path, filename)
        except _ChecksumError as exc:
            raise _ChecksumError(
                f"The file downloaded from {url} is corrupt and was deleted: "
                f"{exc}. Try again later, or obtain the file another way."
            ) from None
        os.replace(tmp_path, os.path.join(cache_dir, filename))
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    return raw


def _not_found_message(filename, looked, cache_dir, url=None, error=None):
    files = ", ".join(FASHION_MNIST_FILES)
    message = (
        f"Fashion-MNIST file {filename!r} was not found; looked in "
        + ", ".join(looked)
        + "."
    )
    if url is None:
        message += " Downloading is disabled (download_if_missing=False)."
    else:
        message += f" Downloading it from {url} failed: {error}."
    message += (
        " To obtain the data, install the Debian/Ubuntu package "
        "(`sudo apt-get install dataset-fashion-mnist`), or connect to the "
        "internet and call fetch_fashion_mnist(download_if_missing=True), or "
        f"place the four files ({files}) in {cache_dir}"
    )
    return message


def _fetch_file(filename, cache_dir, download_if_missing):
    """Return the decompressed, verified content of one Fashion-MNIST file."""
    looked = []
    cache_path = os.path.join(cache_dir, filename)
    if os.path.isfile(cache_path):
        try:
            return _read_verified(cache_path, filename)
        except _ChecksumError as exc:
            warnings.warn(f"{exc}; removing the corrupt cached copy", stacklevel=3)
            os.remove(cache_path)
    looked.append(cache_path)

    for folder in FASHION_MNIST_SYSTEM_DIRS:
        path = os.path.join(os.fspath(folder), filename)
        if os.path.isfile(path):
            try:
                return _read_verified(path, filename)
            except _ChecksumError as exc:
                warnings.warn(f"{exc}; ignoring it", stacklevel=3)
        looked.append(path)

    if not download_if_missing:
        raise FileNotFoundError(_not_found_message(filename, looked, cache_dir))

    base_url = os.environ.get(FASHION_MNIST_URL_ENV) or FASHION_MNIST_URL
    url = base_url.rstrip("/") + "/" + filename
    try:
        return _download(url, cache_dir, filename)
    except _ChecksumError:
        raise
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise FileNotFoundError(
            _not_found_message(filename, looked, cache_dir, url, exc)
        ) from exc


def fetch_fashion_mnist(
    *, subset="train", data_home=None, download_if_missing=True, return_X_y=False
):
    """Load the Fashion-MNIST images, downloading them once if needed.

    Each of the four data files is looked up, in this order, in the
    ``fashion-mnist`` subfolder of the data home (see
    :func:`get_data_home`), in the folder of the Debian/Ubuntu package
    ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``, read in
    place), and finally downloaded from Zalando's GitHub repository into the
    data home. Every file is checked against its published MD5 checksum.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        Which split to load: the 60000 training images, the 10000 test
        images, or all 70000 (training images first).
    data_home : str or path-like, default=None
        The cache folder. If None, use the ``SKANOMALY_DATA`` environment
        variable, or ``~/skanomaly_data``.
    download_if_missing : bool, default=True
        If False, raise an error instead of downloading missing files.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        images : ndarray of shape (n_samples, 28, 28), dtype uint8
            The images, with values in [0, 255].
        target : ndarray of shape (n_samples,), dtype int64
            The class of each image, 0 to 9.
        target_names : list of str
            The names of the ten classes.
        DESCR : str
            A description of the data set.

    (images, target) : tuple if ``return_X_y`` is True
        The two arrays described above.

    Raises
    ------
    FileNotFoundError
        If a file is missing and cannot be downloaded; the message says where
        it was looked for and how to obtain it.
    OSError
        If a downloaded file does not match its checksum (it is deleted).

    Notes
    -----
    The download URL can be changed with the ``SKANOMALY_FASHION_MNIST_URL``
    environment variable, e.g. to point at a local mirror holding the four
    ``.gz`` files.

    Examples
    --------
    >>> from skanomaly.datasets import fetch_fashion_mnist
    >>> X, y = fetch_fashion_mnist(subset="test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'))
    """
    if subset not in _SUBSET_FILES:
        raise ValueError(
            f"subset must be one of 'train', 'test' or 'all'; got {subset!r}"
        )
    cache_dir = os.path.join(_resolve_data_home(data_home), FASHION_MNIST_SUBDIR)

    images, targets = [], []
    for images_file, labels_file in _SUBSET_FILES[subset]:
        X = _parse_idx(
            _fetch_file(images_file, cache_dir, download_if_missing), 3, images_file
        )
        y = _parse_idx(
            _fetch_file(labels_file, cache_dir, download_if_missing), 1, labels_file
        )
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"{images_file} holds {X.shape[0]} images but {labels_file} "
                f"holds {y.shape[0]} labels; expected as many of each"
            )
        if y.size and y.max() >= len(FASHION_MNIST_CLASSES):
            raise ValueError(
                f"{labels_file} holds the label {int(y.max())}; expected labels "
                f"0 to {len(FASHION_MNIST_CLASSES) - 1}"
            )
        images.append(X)
        targets.append(y.astype(np.int64))

    if len(images) == 1:
        images, target = images[0], targets[0]
    else:
        images, target = np.concatenate(images), np.concatenate(targets)
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target,
        target_names=list(FASHION_MNIST_CLASSES),
        DESCR=FASHION_MNIST_DESCR,
    )
