"""Cross-validation for the one-class protocol of anomaly detection.

In the one-class (or "clean training") protocol a detector is fitted on
normal samples only and evaluated on held-out normal and anomalous samples.
:class:`OneClassKFold` produces such splits for
:class:`~sklearn.model_selection.GridSearchCV`,
:func:`~sklearn.model_selection.cross_val_score` and friends, and
:func:`one_class_train_test_split` makes a single one.

When the training data may be contaminated (anomalies allowed in the
training set, the usual setting of PyOD), use scikit-learn's
``StratifiedKFold(n_splits, shuffle=True, random_state=...)`` instead.
"""

import numbers

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import _safe_indexing, check_random_state, indexable
from sklearn.utils.validation import _num_samples

__all__ = ["OneClassKFold", "one_class_train_test_split"]


def _check_anomaly_labels(y, n_samples=None):
    """Validate anomaly labels and return them as a 1-D bool array."""
    if y is None:
        raise ValueError(
            "The one-class protocol needs the anomaly labels: pass y, with 0 for "
            "normal samples and 1 for anomalies."
        )
    if hasattr(y, "detach") and hasattr(y, "cpu"):  # a torch.Tensor
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"y must be a 1-D array of anomaly labels; got shape {y.shape}."
        )
    if n_samples is not None and y.shape[0] != n_samples:
        raise ValueError(
            f"X and y must have the same number of samples; got {n_samples} "
            f"samples in X and {y.shape[0]} labels in y."
        )
    if y.dtype == bool:
        return y
    if y.dtype == object or not np.issubdtype(y.dtype, np.number):
        raise ValueError(
            "y must hold binary anomaly labels, 0 (normal) or 1 (anomaly); got an "
            f"array of dtype {y.dtype}."
        )
    is_normal = y == 0
    if not (is_normal | (y == 1)).all():
        found = np.unique(y)
        shown = ", ".join(str(v) for v in found[:5]) + (
            ", ..." if found.size > 5 else ""
        )
        raise ValueError(
            "y must hold binary anomaly labels, 0 (normal) or 1 (anomaly); got "
            f"values [{shown}]."
        )
    return ~is_normal


def _check_n_splits(n_splits):
    if (
        not isinstance(n_splits, numbers.Integral)
        or isinstance(n_splits, bool)
        or n_splits < 2
    ):
        raise ValueError(
            f"n_splits must be an int >= 2, the number of folds; got {n_splits!r}."
        )


class OneClassKFold(BaseCrossValidator):
    """K-fold cross-validator for detectors trained on normal samples only.

    The normal samples are split into ``n_splits`` folds and so are the
    anomalies. Split ``k`` trains on the normal samples outside normal fold
    ``k`` and tests on normal fold ``k`` together with anomaly fold ``k``.
    No anomaly ever enters a training set, every anomaly is tested exactly
    once, every normal sample is tested exactly once, and every test set
    holds both classes, so ranking metrics such as ``scoring="roc_auc"`` are
    always defined.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2. There must be at least as many normal
        samples and as many anomalies as folds.
    shuffle : bool, default=True
        Whether to shuffle the normal samples and the anomalies before
        cutting them into folds. Without shuffling, the folds follow the
        order of the data within each class.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling when ``shuffle=True``; pass an int for
        reproducible splits across calls. Must be None when
        ``shuffle=False``.

    See Also
    --------
    one_class_train_test_split : A single split under the same protocol.
    sklearn.model_selection.StratifiedKFold : Folds for contaminated training
        data, where anomalies may be used for training.

    Notes
    -----
    Why not ``cv=3``? For a detector, which scikit-learn does not treat as a
    classifier, an integer ``cv`` means an *unshuffled*
    :class:`~sklearn.model_selection.KFold`. One-class datasets are usually
    stored sorted, normal samples first and anomalies last, so the first
    test folds contain normal samples only: ROC AUC is undefined there and
    :func:`~sklearn.model_selection.cross_val_score` or
    :class:`~sklearn.model_selection.GridSearchCV` silently report NaN
    (with no more than an ``UndefinedMetricWarning``), while the last folds
    train on the anomalies they should detect.

    If anomalies may legitimately appear in the training data (the
    contaminated, "unsupervised" protocol of PyOD), a stratified split is the
    right tool: ``StratifiedKFold(n_splits, shuffle=True, random_state=0)``
    keeps the anomaly ratio in every fold and also gives defined scores.

    The detector still receives ``y`` in ``fit`` (all zeros, as training sets
    hold normal samples only), which PyOD detectors ignore.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.model_selection import OneClassKFold
    >>> X = np.arange(16).reshape(8, 2)
    >>> y = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    >>> cv = OneClassKFold(n_splits=2, shuffle=False)
    >>> cv
    OneClassKFold(n_splits=2, random_state=None, shuffle=False)
    >>> for train, test in cv.split(X, y):
    ...     print(train, test)
    [3 4 5] [0 1 2 6]
    [0 1 2] [3 4 5 7]
    """

    def __init__(self, n_splits=5, *, shuffle=True, random_state=None):
        _check_n_splits(n_splits)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ValueError(f"shuffle must be True or False; got {shuffle!r}.")
        if not shuffle and random_state is not None:
            raise ValueError(
                "Setting a random_state has no effect since shuffle is False. "
                "Leave random_state=None or set shuffle=True."
            )
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        """Generate indices to split data into training and test sets.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples; only their number is used.
        y : array-like of shape (n_samples,)
            Anomaly labels, 0 for normal samples and 1 for anomalies.
            Required; the default None raises a ValueError.
        groups : object, default=None
            Ignored; present for API compatibility.

        Yields
        ------
        train : ndarray of int
            Sorted indices of the training set, normal samples only.
        test : ndarray of int
            Sorted indices of the test set, normal samples and anomalies.

        Raises
        ------
        ValueError
            If ``y`` is missing, not binary or of the wrong length, or if
            there are fewer normal samples or fewer anomalies than
            ``n_splits``.
        """
        _check_n_splits(self.n_splits)
        is_anomaly = _check_anomaly_labels(y, _num_samples(X))
        normal = np.flatnonzero(~is_anomaly)
        anomalous = np.flatnonzero(is_anomaly)
        for name, indices in (("normal samples", normal), ("anomalies", anomalous)):
            if indices.size < self.n_splits:
                raise ValueError(
                    f"Cannot split {indices.size} {name} into n_splits="
                    f"{self.n_splits} folds: every test fold needs normal samples "
                    "and anomalies. Lower n_splits or provide more labelled data."
                )
        if self.shuffle:
            rng = check_random_state(self.random_state)
            normal = rng.permutation(normal)
            anomalous = rng.permutation(anomalous)
        normal_folds = np.array_split(normal, self.n_splits)
        anomaly_folds = np.array_split(anomalous, self.n_splits)
        for k in range(self.n_splits):
            train = np.concatenate(normal_folds[:k] + normal_folds[k + 1 :])
            test = np.concatenate([normal_folds[k], anomaly_folds[k]])
            yield np.sort(train), np.sort(test)

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splitting iterations.

        Parameters
        ----------
        X, y, groups : object, default=None
            Ignored; present for API compatibility.

        Returns
        -------
        n_splits : int
            The number of folds.
        """
        return self.n_splits


def one_class_train_test_split(X, y, *, test_size=0.25, random_state=None):
    """Split data into a normal-only training set and a mixed test set.

    A fraction ``test_size`` of the normal samples, drawn at random, joins all
    anomalies in the test set; the other normal samples form the training
    set.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples: an array (images included), a list or a dataframe.
    y : array-like of shape (n_samples,)
        Anomaly labels, 0 for normal samples and 1 for anomalies.
    test_size : float or int, default=0.25
        A float in (0, 1) is the fraction of the normal samples held out for
        testing; an int is their number.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw of the held-out normal samples.

    Returns
    -------
    X_train : array-like
        Normal training samples, same type as ``X``.
    X_test : array-like
        Held-out normal samples followed by all anomalies, same type as ``X``.
    y_train : array-like
        Labels of ``X_train``, all 0.
    y_test : array-like
        Labels of ``X_test``.

    Raises
    ------
    ValueError
        If ``y`` is not binary or of the wrong length, if there is no normal
        sample or no anomaly, or if ``test_size`` leaves no normal sample for
        training or none for testing.

    See Also
    --------
    OneClassKFold : Cross-validation under the same protocol.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.model_selection import one_class_train_test_split
    >>> X = np.arange(10).reshape(10, 1)
    >>> y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    >>> X_train, X_test, y_train, y_test = one_class_train_test_split(
    ...     X, y, test_size=2, random_state=0)
    >>> X_train.shape, X_test.shape, int(y_train.sum()), int(y_test.sum())
    ((6, 1), (4, 1), 0, 2)
    """
    X, y = indexable(X, y)
    is_anomaly = _check_anomaly_labels(y, _num_samples(X))
    normal = np.flatnonzero(~is_anomaly)
    anomalous = np.flatnonzero(is_anomaly)
    if normal.size == 0 or anomalous.size == 0:
        raise ValueError(
            "y must contain both normal samples (0) and anomalies (1); got "
            f"{normal.size} normal samples and {anomalous.size} anomalies."
        )
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif isinstance(test_size, numbers.Real) and 0.0 < test_size < 1.0:
        n_test = int(np.ceil(test_size * normal.size))
    else:
        raise ValueError(
            "test_size must be a float in (0, 1), the fraction of normal samples "
            f"held out, or an int, their number; got {test_size!r}."
        )
    if not 0 < n_test < normal.size:
        raise ValueError(
            f"test_size={test_size!r} holds out {n_test} of the {normal.size} "
            "normal samples; at least one must go to the test set and one to the "
            "training set."
        )
    rng = check_random_state(random_state)
    normal = rng.permutation(normal)
    train = np.sort(normal[n_test:])
    test = np.concatenate([np.sort(normal[:n_test]), anomalous])
    return (
        _safe_indexing(X, train),
        _safe_indexing(X, test),
        _safe_indexing(y, train),
        _safe_indexing(y, test),
    )
