"""Adapters between scikit-learn's and PyOD's outlier-detection conventions.

scikit-learn and PyOD disagree on two things:

=====================  ==================================  ===========================
                       scikit-learn (``IsolationForest``)  PyOD and skanomaly
=====================  ==================================  ===========================
``predict``            ``+1`` inlier, ``-1`` outlier       ``0`` inlier, ``1`` outlier
``decision_function``  higher = more *normal*, outliers    higher = more *abnormal*
                       below 0 (``score_samples -
                       offset_``)
=====================  ==================================  ===========================

:class:`SklearnToPyOD` brings a scikit-learn outlier detector
(``IsolationForest``, ``LocalOutlierFactor(novelty=True)``, ``OneClassSVM``,
``EllipticEnvelope``, ...) into PyOD's convention, so that it can be compared,
combined and thresholded like any PyOD or skanomaly detector.
:class:`PyODToSklearn` goes the other way: it gives any PyOD or skanomaly
detector scikit-learn's outlier API, for code written against
``IsolationForest``.

Both are ordinary scikit-learn meta-estimators: they clone the wrapped
estimator in ``fit`` (the caller's object is never fitted or modified), and
``get_params``/``set_params`` reach its parameters with the ``estimator__``
or ``detector__`` prefix.
"""

import numbers

import numpy as np
from pyod.models.base import BaseDetector
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

__all__ = ["PyODToSklearn", "SklearnToPyOD"]


def _name(estimator):
    return type(estimator).__name__


def _n_columns(X):
    """Return the number of columns of 2-D input, or None for other input."""
    shape = getattr(X, "shape", None)
    if shape is None:
        try:
            shape = np.asarray(X).shape
        except (ValueError, TypeError):  # ragged input: let the estimator decide
            return None
    return int(shape[1]) if len(shape) == 2 else None


def _copy_input_tags(tags, inner):
    """Copy the input tags of a wrapped estimator instance onto ``tags``."""
    try:
        inner_tags = get_tags(inner)
    except (AttributeError, TypeError):  # not a scikit-learn estimator instance
        return tags
    for name in ("allow_nan", "sparse", "three_d_array", "positive_only"):
        setattr(tags.input_tags, name, getattr(inner_tags.input_tags, name))
    tags.non_deterministic = inner_tags.non_deterministic
    return tags


class SklearnToPyOD(BaseDetector):
    """A scikit-learn outlier detector in PyOD's convention.

    Wraps an estimator that follows scikit-learn's outlier API (``fit`` and
    ``score_samples`` or ``decision_function``, higher = more normal) into a
    :class:`pyod.models.base.BaseDetector`: ``decision_function`` returns
    outlier scores where **higher means more abnormal**, ``predict`` returns
    ``0`` for inliers and ``1`` for outliers, and ``fit`` sets
    ``decision_scores_``, ``threshold_`` and ``labels_`` on the training data.
    ``predict_proba``, ``predict_confidence`` and the rest of PyOD's API are
    inherited.

    The outlier score is the negated ``score_samples`` of the wrapped
    estimator (its negated ``decision_function`` if it has no
    ``score_samples``). The threshold comes from this wrapper's
    ``contamination``, as in PyOD; the wrapped estimator's own
    ``contamination`` and ``offset_`` play no part in it.

    Parameters
    ----------
    estimator : estimator object
        A scikit-learn outlier detector, e.g. ``IsolationForest()``,
        ``LocalOutlierFactor(novelty=True)``, ``OneClassSVM()`` or
        ``EllipticEnvelope()``; a :class:`~sklearn.pipeline.Pipeline` ending
        in one works too. It is cloned in ``fit``, never modified.
    contamination : float in (0, 0.5] or thresholder, default=0.1
        Expected proportion of outliers in the training data, which sets
        ``threshold_`` (PyOD's convention); or an object with ``fit`` and
        ``predict`` (a PyThresh thresholder) that labels the scores.

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone of ``estimator``.
    score_method_ : {"score_samples", "decision_function"}
        The method of ``estimator_`` whose negation is the outlier score.
    decision_scores_ : ndarray of shape (n_samples,)
        Outlier scores of the training data, higher = more abnormal. For
        estimators that score their training data leave-one-out
        (``LocalOutlierFactor``: ``negative_outlier_factor_``), those scores
        are used, as PyOD's own LOF does; otherwise the scores of
        ``decision_function`` on the training data.
    threshold_ : float
        Scores above it are outliers: the ``1 - contamination`` quantile of
        ``decision_scores_``.
    labels_ : ndarray of shape (n_samples,)
        Labels of the training data, 0 inlier, 1 outlier.
    n_features_in_ : int
        Number of features seen in ``fit`` (when the wrapped estimator
        records it).

    See Also
    --------
    PyODToSklearn : the reverse adapter.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skanomaly.adapters import SklearnToPyOD
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(95, 2)), rng.normal(6, 1, size=(5, 2))])
    >>> detector = SklearnToPyOD(IsolationForest(random_state=0), contamination=0.05)
    >>> detector.fit(X).labels_[-5:]
    array([1, 1, 1, 1, 1])
    >>> bool(detector.decision_function([[6.0, 6.0]])[0] > detector.threshold_)
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"])],
        "contamination": [
            Interval(numbers.Real, 0, 0.5, closed="right"),
            HasMethods(["fit", "predict"]),
        ],
    }

    def __init__(self, estimator, *, contamination=0.1):
        self.estimator = estimator
        self.contamination = contamination

    def _score_method(self):
        """Name of the wrapped estimator's method that scores new samples."""
        estimator = self.estimator
        name = _name(estimator)
        if isinstance(estimator, BaseDetector):
            raise ValueError(
                f"{name} is already a PyOD detector (higher score = more "
                "abnormal, predict returns 0/1); use it directly instead of "
                "wrapping it in SklearnToPyOD."
            )
        if hasattr(estimator, "novelty") and not estimator.novelty:
            raise ValueError(
                f"{name}(novelty=False) only labels its training data and cannot "
                f"score new samples. Pass novelty=True, e.g. {name}(novelty=True), "
                "to use it as a detector."
            )
        for method in ("score_samples", "decision_function"):
            if hasattr(estimator, method):
                return method
        raise ValueError(
            f"{name} has neither score_samples nor decision_function. "
            "SklearnToPyOD expects a scikit-learn outlier detector with fit and "
            "one of those methods (higher = more normal), such as "
            "IsolationForest, LocalOutlierFactor(novelty=True), OneClassSVM or "
            "EllipticEnvelope."
        )

    def fit(self, X, y=None, **fit_params):
        """Fit a clone of the wrapped estimator and set PyOD's attributes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, in whatever form the wrapped estimator accepts.
        y : Ignored
            Not used; present for API consistency (unsupervised training).
        **fit_params : dict
            Passed to the wrapped estimator's ``fit`` (e.g. ``sample_weight``).

        Returns
        -------
        self : object
            The fitted detector.
        """
        self._validate_params()
        self.score_method_ = self._score_method()
        self.estimator_ = clone(self.estimator, safe=False).fit(X, **fit_params)
        self._classes = 2
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(self.estimator_, attr):
                setattr(self, attr, getattr(self.estimator_, attr))
        if hasattr(self.estimator_, "negative_outlier_factor_"):
            scores = -np.asarray(self.estimator_.negative_outlier_factor_)
            self.decision_scores_ = scores.astype(np.float64).ravel()
        else:
            self.decision_scores_ = self._scores(X)
        self._process_decision_scores()
        return self

    def _scores(self, X):
        scores = getattr(self.estimator_, self.score_method_)(X)
        return -np.asarray(scores, dtype=np.float64).ravel()

    def decision_function(self, X):
        """Outlier score of each sample: higher means more abnormal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, in whatever form the wrapped estimator accepts.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            The negated ``score_samples`` (or ``decision_function``) of the
            wrapped estimator, float64.
        """
        check_is_fitted(self, "estimator_")
        return self._scores(X)

    def predict_proba(self, X, method="linear", return_confidence=False):
        """Probability of each sample being an outlier, as in PyOD.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        method : {"linear", "unify"}, default="linear"
            ``"linear"`` min-max scales scores with the training scores;
            ``"unify"`` uses the Gaussian scaling of Kriegel et al. (2011).
        return_confidence : bool, default=False
            Also return :meth:`predict_confidence`.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Columns: probability of inlier, probability of outlier.
        """
        if not hasattr(X, "shape"):
            X = np.asarray(X)
        return super().predict_proba(
            X, method=method, return_confidence=return_confidence
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        return _copy_input_tags(tags, self.estimator)


class PyODToSklearn(OutlierMixin, BaseEstimator):
    """scikit-learn's outlier API for a PyOD or skanomaly detector.

    Wraps a detector that follows PyOD's convention (``decision_function``
    higher = more abnormal, ``fit`` sets ``threshold_``) so that it behaves
    like scikit-learn's ``IsolationForest``:

    * ``predict`` returns ``+1`` for inliers and ``-1`` for outliers;
    * ``score_samples`` is higher for more normal samples (the negated
      PyOD score);
    * ``decision_function = score_samples - offset_`` is negative exactly for
      outliers, with ``offset_ = -threshold_`` of the detector;
    * ``fit_predict(X)`` is ``fit(X).predict(X)``.

    ``predict`` flags the same samples as the detector's own ``predict``.

    Parameters
    ----------
    detector : PyOD or skanomaly detector
        E.g. ``pyod.models.knn.KNN()`` or ``skanomaly.ConvAutoEncoder()``.
        It is cloned in ``fit``, never modified; its ``contamination`` (a
        float, or ``"auto"`` for skanomaly's detectors) sets the threshold.
        Tune it as ``detector__contamination``.

    Attributes
    ----------
    detector_ : detector object
        The fitted clone of ``detector``.
    offset_ : float
        ``-detector_.threshold_``: ``decision_function`` is
        ``score_samples - offset_``, as in scikit-learn.
    n_features_in_ : int
        Number of features seen in ``fit``, for 2-D input (or as recorded by
        the detector).

    See Also
    --------
    SklearnToPyOD : the reverse adapter.

    Notes
    -----
    Some PyOD detectors score their training data leave-one-out
    (``KNN``, ``LOF``): ``detector_.labels_`` then flags exactly a fraction
    ``contamination`` of the training data, while ``fit_predict`` (which
    scores the training data like new samples, as scikit-learn requires)
    can flag fewer.

    Examples
    --------
    >>> import numpy as np
    >>> from pyod.models.knn import KNN
    >>> from skanomaly.adapters import PyODToSklearn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2))
    >>> model = PyODToSklearn(KNN(contamination=0.05)).fit(X)
    >>> model.predict([[0.0, 0.0], [8.0, 8.0]])
    array([ 1, -1])
    """

    _parameter_constraints = {
        "detector": [HasMethods(["fit", "decision_function"])],
    }

    def __init__(self, detector):
        self.detector = detector

    def _check_detector(self):
        detector = self.detector
        if isinstance(detector, BaseDetector):
            return
        try:
            estimator_type = get_tags(detector).estimator_type
        except (AttributeError, TypeError):  # not a scikit-learn estimator
            return
        if estimator_type == "outlier_detector":
            raise ValueError(
                f"{_name(detector)} already follows scikit-learn's outlier API "
                "(predict returns +1/-1); use it directly instead of wrapping it "
                "in PyODToSklearn, which expects a PyOD or skanomaly detector."
            )

    def fit(self, X, y=None, **fit_params):
        """Fit a clone of the wrapped detector.

        Parameters
        ----------
        X : array-like
            Training data, in whatever form the detector accepts (rows for
            PyOD's detectors, images for skanomaly's).
        y : Ignored
            Not used; present for API consistency (unsupervised training).
        **fit_params : dict
            Passed to the detector's ``fit``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        self._check_detector()
        detector = clone(self.detector).fit(X, **fit_params)
        name = _name(detector)
        if not hasattr(detector, "threshold_"):
            raise ValueError(
                f"{name}.fit did not set threshold_. PyODToSklearn expects a PyOD "
                "or skanomaly detector: decision_function higher = more abnormal "
                "and a threshold_ on that score set by fit."
            )
        contamination = getattr(detector, "contamination", None)
        if contamination is not None and not isinstance(
            contamination, (numbers.Real, str)
        ):
            raise ValueError(
                f"{name} labels its scores with a thresholder object "
                f"({_name(contamination)}), which has no fixed threshold on the "
                "score scale, so scikit-learn's decision_function cannot be "
                "defined. Use a float contamination (or 'auto' for skanomaly's "
                "detectors)."
            )
        self.detector_ = detector
        self.offset_ = -float(detector.threshold_)
        n_features = getattr(detector, "n_features_in_", None)
        if n_features is None:
            n_features = _n_columns(X)
        if n_features is not None:
            self.n_features_in_ = int(n_features)
        return self

    def _check_columns(self, X):
        expected = getattr(self, "n_features_in_", None)
        n_columns = _n_columns(X)
        if expected is not None and n_columns is not None and n_columns != expected:
            raise ValueError(
                f"X has {n_columns} features, but {type(self).__name__} is "
                f"expecting {expected} features as input."
            )

    def score_samples(self, X):
        """Return the normality score of each sample: higher means more normal.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            The negated outlier score of the detector, float64.
        """
        check_is_fitted(self, "detector_")
        self._check_columns(X)
        scores = self.detector_.decision_function(X)
        return -np.asarray(scores, dtype=np.float64).ravel()

    def decision_function(self, X):
        """Shifted normality score: negative for outliers, as in scikit-learn.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``, i.e. ``threshold_ - score`` of
            the detector.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each sample: +1 for an inlier, -1 for an outlier.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function`` is negative, i.e. where the
            detector's score exceeds its ``threshold_``.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        return _copy_input_tags(tags, self.detector)
