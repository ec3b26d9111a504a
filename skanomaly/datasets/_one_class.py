"""The one-class protocol: one class is normal, every other class anomalous."""

import math
import numbers

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state


def _check_labels(y, n_samples, name, X_name):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-d array of class labels; got an array of shape "
            f"{y.shape}"
        )
    if y.shape[0] != n_samples:
        raise ValueError(
            f"{X_name} and {name} must have the same number of samples; got "
            f"{n_samples} and {y.shape[0]}"
        )
    return y


def _check_images(X, name):
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(
            f"{name} must be an array of shape (n_samples, ...) with at least "
            f"2 dimensions; got shape {X.shape}"
        )
    return X


def _normal_classes(normal_class):
    classes = np.asarray(normal_class, dtype=object).ravel().tolist()
    if not classes:
        raise ValueError("normal_class must not be an empty list of classes")
    return [c.item() if isinstance(c, np.generic) else c for c in classes]


def make_one_class_split(
    X,
    y,
    normal_class,
    *,
    X_test=None,
    y_test=None,
    test_size=0.5,
    contamination=0.0,
    random_state=None,
):
    """Build a one-class anomaly detection task from a labelled data set.

    The usual protocol of deep one-class anomaly detection papers: the
    training set holds the training images of ``normal_class`` only, and the
    test set is the whole test split, where ``normal_class`` is labelled 0
    (normal) and every other class 1 (anomaly).

    If no test split is given (``X_test`` and ``y_test`` are None), a
    stratified fraction ``test_size`` of every class of ``(X, y)`` is held out
    first and serves as the test split.

    With ``contamination`` p > 0 the training set is polluted with
    ``floor(p * n_normal / (1 - p))`` images drawn uniformly without
    replacement from the other classes of the training split, so that a
    fraction p (rounded down) of it is anomalous; it is then shuffled.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        The training split (or the whole data set if ``X_test`` is None),
        e.g. images of shape (n_samples, height, width).
    y : array-like of shape (n_samples,)
        The class labels of ``X``.
    normal_class : label or list of labels
        The class, or the classes, regarded as normal.
    X_test : array-like of shape (n_test, ...), default=None
        The official test split. If None, one is held out from ``X``.
    y_test : array-like of shape (n_test,), default=None
        The class labels of ``X_test``; given if and only if ``X_test`` is.
    test_size : float or int, default=0.5
        When ``X_test`` is None: the fraction (float in (0, 1)) or the number
        (int) of samples held out as the test split, stratified by class.
    contamination : float, default=0.0
        The fraction p in [0, 1) of anomalies in the training set.
    random_state : int, RandomState instance or None, default=None
        Controls the held-out split, the draw of the contaminating images and
        the shuffling of a contaminated training set. Pass an int for
        reproducible output.

    Returns
    -------
    X_train : ndarray of shape (n_train, ...)
        The training images: the normal class, plus contaminating anomalies.
    y_train : ndarray of shape (n_train,), dtype int64
        0 for normal training images, 1 for contaminating anomalies.
    X_test : ndarray of shape (n_test, ...)
        The test images.
    y_test : ndarray of shape (n_test,), dtype int64
        0 for the normal class, 1 for every other class.

    Notes
    -----
    The returned arrays are new arrays; the inputs are not modified. Without
    contamination the training images keep their original order.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.datasets import make_one_class_split
    >>> X = np.arange(40, dtype=float).reshape(10, 2, 2)
    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    >>> X_train, y_train, X_test, y_test = make_one_class_split(
    ...     X[:7], y[:7], 0, X_test=X[7:], y_test=y[7:])
    >>> X_train.shape, y_train.tolist(), y_test.tolist()
    ((4, 2, 2), [0, 0, 0, 0], [1, 1, 1])
    """
    X = _check_images(X, "X")
    y = _check_labels(y, X.shape[0], "y", "X")
    if (X_test is None) != (y_test is None):
        raise ValueError(
            "X_test and y_test must be given together or both left to None; "
            f"got X_test {'None' if X_test is None else 'given'} and y_test "
            f"{'None' if y_test is None else 'given'}"
        )
    if not isinstance(contamination, numbers.Real) or not 0 <= contamination < 1:
        raise ValueError(
            f"contamination must be a float in [0, 1); got {contamination!r}"
        )
    classes = _normal_classes(normal_class)
    missing = [c for c in classes if not np.any(y == c)]
    if missing:
        raise ValueError(
            f"normal_class {missing[0]!r} does not occur in y; expected one of "
            f"the classes {np.unique(y).tolist()}"
        )
    rng = check_random_state(random_state)

    if X_test is None:
        indices = np.arange(X.shape[0])
        train_idx, test_idx = train_test_split(
            indices, test_size=test_size, stratify=y, random_state=rng
        )
        train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
        X_test, y_test = X[test_idx], y[test_idx]
        X, y = X[train_idx], y[train_idx]
    else:
        X_test = _check_images(X_test, "X_test")
        y_test = _check_labels(y_test, X_test.shape[0], "y_test", "X_test")
        if X_test.shape[1:] != X.shape[1:]:
            raise ValueError(
                "X and X_test must hold samples of the same shape; got "
                f"{X.shape[1:]} and {X_test.shape[1:]}"
            )
        X_test = X_test.copy()

    is_normal = np.isin(y, classes)
    normal_idx = np.flatnonzero(is_normal)
    if normal_idx.size == 0:
        raise ValueError(
            f"normal_class {normal_class!r} has no sample left in the training "
            "split; lower test_size"
        )
    n_anomalies = math.floor(
        contamination * normal_idx.size / (1 - contamination) + 1e-9
    )
    other_idx = np.flatnonzero(~is_normal)
    if n_anomalies > other_idx.size:
        raise ValueError(
            f"contamination={contamination} with {normal_idx.size} normal "
            f"training samples needs {n_anomalies} anomalies, but the training "
            f"split holds only {other_idx.size} samples of other classes"
        )

    if n_anomalies > 0:
        anomaly_idx = rng.choice(other_idx, size=n_anomalies, replace=False)
        train_idx = np.concatenate([normal_idx, anomaly_idx])
        y_train = np.concatenate(
            [np.zeros(normal_idx.size, np.int64), np.ones(n_anomalies, np.int64)]
        )
        order = rng.permutation(train_idx.size)
        train_idx, y_train = train_idx[order], y_train[order]
    else:
        train_idx = normal_idx
        y_train = np.zeros(normal_idx.size, np.int64)

    X_train = X[train_idx]
    y_test = (~np.isin(y_test, classes)).astype(np.int64)
    return X_train, y_train, X_test, y_test
