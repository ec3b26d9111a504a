"""Tests of the adapters between scikit-learn's and PyOD's outlier conventions."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import make_detector, smooth_images
from pyod.models.iforest import IForest
from pyod.models.knn import KNN
from pyod.models.lof import LOF
from sklearn.base import BaseEstimator, clone, is_outlier_detector
from sklearn.covariance import EllipticEnvelope
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

import skanomaly
from skanomaly.adapters import PyODToSklearn, SklearnToPyOD


@pytest.fixture(autouse=True)
def _one_thread():
    """Run torch on one thread: tiny inputs gain nothing from more, and on a
    busy machine threads that wait for each other make them many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def sklearn_detectors():
    """The four outlier detectors of scikit-learn, seeded where they draw."""
    return [
        IsolationForest(n_estimators=50, random_state=0),
        LocalOutlierFactor(novelty=True),
        OneClassSVM(gamma="scale", nu=0.1),
        EllipticEnvelope(random_state=0),
    ]


def blobs_with_outliers(seed=0, n_normal=200, n_outliers=10):
    """Gaussian inliers and far-away planted outliers (label 1), in 3-D."""
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=(n_normal, 3))
    direction = rng.normal(size=(n_outliers, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    outliers = 6.0 * direction
    X = np.vstack([normal, outliers])
    y = np.r_[np.zeros(n_normal, dtype=int), np.ones(n_outliers, dtype=int)]
    return X, y


class AboveMean:
    """A PyThresh-like thresholder: outliers score above the mean."""

    def fit(self, scores):
        self.thresh_ = float(np.mean(scores))
        self.labels_ = (scores > self.thresh_).astype(int)
        return self

    def predict(self, scores):
        return (scores > self.thresh_).astype(int)


# ---------------------------------------------------------- scikit-learn checks
_PYOD_CONVENTION = (
    "scikit-learn's outlier checks expect predict in {-1, +1} and "
    "decision_function >= 0 for inliers; SklearnToPyOD follows PyOD's convention "
    "on purpose (0/1, higher = more abnormal), checked by check_pyod_conventions"
)
_SPARSE_PROBA = (
    "scikit-learn's sparse-input check reads classifier_tags whenever "
    "predict_proba exists, and they are None for outlier detectors; sparse input "
    "through PyOD's API is checked by test_sparse_input_is_passed_through"
)


def _expected_failed_checks(estimator):
    if not isinstance(estimator, SklearnToPyOD):
        return {}
    failed = {
        "check_outliers_train": _PYOD_CONVENTION,
        "check_outliers_fit_predict": _PYOD_CONVENTION,
    }
    if get_tags(estimator).input_tags.sparse:
        failed["check_estimator_sparse_array"] = _SPARSE_PROBA
        failed["check_estimator_sparse_matrix"] = _SPARSE_PROBA
    return failed


@parametrize_with_checks(
    [
        PyODToSklearn(IForest(n_estimators=20, random_state=0)),
        PyODToSklearn(KNN()),
        PyODToSklearn(SklearnToPyOD(IsolationForest(n_estimators=20, random_state=0))),
        *[SklearnToPyOD(est) for est in sklearn_detectors()],
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    """Check that scikit-learn's estimator checks pass on tabular detectors."""
    check(estimator)


# --------------------------------------------------------------- SklearnToPyOD
def check_pyod_conventions(detector, X, y):
    """PyOD's contract, checked on a fitted-from-scratch clone of ``detector``.

    ``y`` marks planted outliers (1) that must get the highest scores.
    """
    detector = clone(detector)
    contamination = detector.contamination
    assert detector.fit(X) is detector
    n = len(X)
    scores = detector.decision_scores_
    assert scores.shape == (n,) and scores.dtype == np.float64
    assert np.isscalar(detector.threshold_)
    np.testing.assert_array_equal(
        detector.labels_, (scores > detector.threshold_).astype(int)
    )
    assert detector.labels_.sum() == pytest.approx(contamination * n, abs=1)
    test_scores = detector.decision_function(X)
    assert test_scores.shape == (n,) and test_scores.dtype == np.float64
    assert roc_auc_score(y, test_scores) > 0.95  # higher = more abnormal
    labels = detector.predict(X)
    assert set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(
        labels, (test_scores > detector.threshold_).astype(int)
    )
    for method in ("linear", "unify"):
        proba = detector.predict_proba(X, method=method)
        assert proba.shape == (n, 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert roc_auc_score(y, proba[:, 1]) > 0.95
    confidence = detector.predict_confidence(X)
    assert confidence.shape == (n,)
    assert ((confidence >= 0) & (confidence <= 1)).all()
    labels2, confidence2 = detector.predict(X, return_confidence=True)
    np.testing.assert_array_equal(labels2, labels)
    np.testing.assert_allclose(confidence2, confidence)


@pytest.mark.parametrize(
    "estimator", sklearn_detectors(), ids=lambda est: type(est).__name__
)
def test_sklearn_detectors_follow_pyod_conventions(estimator):
    """Check that each wrapped scikit-learn detector keeps PyOD's contract."""
    X, y = blobs_with_outliers()
    check_pyod_conventions(SklearnToPyOD(estimator, contamination=0.05), X, y)


@pytest.mark.parametrize(
    "estimator", sklearn_detectors(), ids=lambda est: type(est).__name__
)
def test_score_is_negated_score_samples(estimator):
    """Check that the outlier score is exactly minus scikit-learn's score_samples."""
    X, _ = blobs_with_outliers()
    X_new = np.random.default_rng(1).normal(size=(20, 3)) * 3
    detector = SklearnToPyOD(estimator).fit(X)
    reference = clone(estimator).fit(X)
    np.testing.assert_array_equal(
        detector.decision_function(X_new), -reference.score_samples(X_new)
    )
    assert detector.score_method_ == "score_samples"


def test_estimator_with_decision_function_only():
    """Check the fallback on decision_function when there is no score_samples."""

    class DecisionOnly(BaseEstimator):
        def __init__(self, random_state=None):
            self.random_state = random_state

        def fit(self, X, y=None):
            self.forest_ = IsolationForest(random_state=self.random_state).fit(X)
            return self

        def decision_function(self, X):
            return self.forest_.decision_function(X)

    X, y = blobs_with_outliers()
    detector = SklearnToPyOD(DecisionOnly(random_state=0)).fit(X)
    assert detector.score_method_ == "decision_function"
    reference = IsolationForest(random_state=0).fit(X)
    np.testing.assert_allclose(
        detector.decision_function(X), -reference.decision_function(X)
    )
    assert roc_auc_score(y, detector.decision_function(X)) > 0.95


def test_lof_training_scores_match_pyod_lof():
    """Check that LOF's training scores are leave-one-out, as in PyOD's LOF."""
    X, _ = blobs_with_outliers()
    X_new = np.random.default_rng(2).normal(size=(15, 3))
    wrapped = SklearnToPyOD(LocalOutlierFactor(n_neighbors=20, novelty=True)).fit(X)
    pyod_lof = LOF(n_neighbors=20).fit(X)
    np.testing.assert_allclose(wrapped.decision_scores_, pyod_lof.decision_scores_)
    np.testing.assert_allclose(wrapped.threshold_, pyod_lof.threshold_)
    np.testing.assert_allclose(
        wrapped.decision_function(X_new), pyod_lof.decision_function(X_new)
    )


def test_contamination_sets_threshold_not_the_wrapped_estimator():
    """Check that this wrapper's contamination, not the estimator's, thresholds."""
    X, _ = blobs_with_outliers()
    a = SklearnToPyOD(IsolationForest(contamination=0.3, random_state=0)).fit(X)
    b = SklearnToPyOD(IsolationForest(contamination=0.01, random_state=0)).fit(X)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    assert a.threshold_ == b.threshold_
    assert a.labels_.sum() == 21  # 10 % of 210
    strict = SklearnToPyOD(IsolationForest(random_state=0), contamination=0.02)
    assert strict.fit(X).labels_.sum() == pytest.approx(0.02 * len(X), abs=1)


def test_thresholder_object_is_used_as_in_pyod():
    """Check that a PyThresh-like contamination labels the scores."""
    X, _ = blobs_with_outliers()
    detector = SklearnToPyOD(OneClassSVM(), contamination=AboveMean()).fit(X)
    mean = detector.decision_scores_.mean()
    assert detector.threshold_ == pytest.approx(mean)
    np.testing.assert_array_equal(
        detector.predict(X), (detector.decision_function(X) > mean).astype(int)
    )


def test_wrapped_estimator_is_cloned_not_modified():
    """Check that fit clones the user's estimator and leaves it unfitted."""
    X, _ = blobs_with_outliers()
    forest = IsolationForest(n_estimators=10, random_state=0)
    detector = SklearnToPyOD(forest).fit(X)
    assert detector.estimator is forest
    assert detector.estimator_ is not forest
    with pytest.raises(NotFittedError):
        forest.predict(X)
    assert (
        forest.get_params()
        == IsolationForest(n_estimators=10, random_state=0).get_params()
    )


def test_nested_params_clone_and_pickle():
    """Check get_params/set_params reach the wrapped estimator; clone and pickle."""
    X, _ = blobs_with_outliers()
    detector = SklearnToPyOD(IsolationForest(random_state=0), contamination=0.05)
    params = detector.get_params()
    assert params["estimator__n_estimators"] == 100
    detector.set_params(estimator__n_estimators=10, contamination=0.2)
    assert detector.estimator.n_estimators == 10 and detector.contamination == 0.2
    detector.fit(X)
    copy = clone(detector)
    assert not hasattr(copy, "estimator_")
    assert copy.get_params()["estimator__n_estimators"] == 10
    loaded = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(
        loaded.decision_function(X), detector.decision_function(X)
    )
    assert "SklearnToPyOD" in repr(detector)


def test_sparse_input_is_passed_through():
    """Check that PyOD's API works on lists, and sparse input reaches the estimator."""
    X, _ = blobs_with_outliers()
    detector = SklearnToPyOD(IsolationForest(n_estimators=10, random_state=0)).fit(X)
    np.testing.assert_allclose(
        detector.predict_proba(X[:5].tolist()), detector.predict_proba(X[:5])
    )
    X_sparse = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X))
    sparse = clone(detector).fit(X_sparse)
    assert sparse.predict_proba(X_sparse).shape == (len(X), 2)
    assert sparse.predict(X_sparse).shape == (len(X),)


def test_works_in_pipeline_and_with_pyod_tools():
    """Check use inside a Pipeline, where the last step's scores point PyOD's way."""
    X, y = blobs_with_outliers()
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("od", SklearnToPyOD(LocalOutlierFactor(novelty=True))),
        ]
    ).fit(X)
    assert roc_auc_score(y, pipe.decision_function(X)) > 0.95
    assert set(np.unique(pipe.predict(X))) == {0, 1}
    # A whole scikit-learn pipeline ending in an outlier detector can be wrapped.
    inner = Pipeline([("scale", StandardScaler()), ("svm", OneClassSVM())])
    wrapped = SklearnToPyOD(inner).fit(X)
    assert roc_auc_score(y, wrapped.decision_function(X)) > 0.95


def test_lof_without_novelty_says_pass_novelty_true():
    """Check the error for LocalOutlierFactor(novelty=False) names novelty=True."""
    X, _ = blobs_with_outliers()
    with pytest.raises(ValueError, match=r"Pass novelty=True"):
        SklearnToPyOD(LocalOutlierFactor()).fit(X)


@pytest.mark.parametrize(
    "estimator, message",
    [
        (StandardScaler(), "neither score_samples nor decision_function"),
        (KNN(), "already a PyOD detector"),
        ("IsolationForest", "'estimator' parameter"),
    ],
    ids=["no-scoring-method", "pyod-detector", "not-an-estimator"],
)
def test_bad_estimators_raise_clear_errors(estimator, message):
    """Check that estimators that cannot be wrapped are refused with a reason."""
    X, _ = blobs_with_outliers()
    with pytest.raises(ValueError, match=message):
        SklearnToPyOD(estimator).fit(X)


@pytest.mark.parametrize("contamination", [0.0, 0.6, "auto", -1])
def test_invalid_contamination_raises_at_fit(contamination):
    """Check that contamination follows PyOD (float in (0, 0.5] or thresholder)."""
    X, _ = blobs_with_outliers()
    detector = SklearnToPyOD(IsolationForest(), contamination=contamination)
    assert detector.contamination == contamination  # stored unchanged
    with pytest.raises(ValueError, match="contamination"):
        detector.fit(X)


def test_not_fitted_error():
    """Check that scoring before fit raises NotFittedError."""
    with pytest.raises(NotFittedError):
        SklearnToPyOD(IsolationForest()).decision_function(np.zeros((2, 3)))


# --------------------------------------------------------------- PyODToSklearn
def test_pyod_detector_gets_sklearn_api():
    """Check +1/-1 labels, sklearn's sign and offset_ against the PyOD detector."""
    X, y = blobs_with_outliers()
    X_new = np.random.default_rng(3).normal(size=(30, 3)) * 2.5
    model = PyODToSklearn(KNN(contamination=0.05))
    assert is_outlier_detector(model)
    model.fit(X)
    knn = model.detector_
    assert model.offset_ == -knn.threshold_
    np.testing.assert_allclose(
        model.score_samples(X_new), -knn.decision_function(X_new)
    )
    np.testing.assert_allclose(
        model.decision_function(X_new), knn.threshold_ - knn.decision_function(X_new)
    )
    labels = model.predict(X_new)
    assert labels.dtype.kind == "i" and set(np.unique(labels)) == {-1, 1}
    np.testing.assert_array_equal(labels, np.where(knn.predict(X_new) == 1, -1, 1))
    np.testing.assert_array_equal(
        labels, np.where(model.decision_function(X_new) < 0, -1, 1)
    )
    assert roc_auc_score(y, -model.score_samples(X)) > 0.95  # outliers score low
    np.testing.assert_array_equal(model.fit_predict(X), clone(model).fit(X).predict(X))


def test_round_trip_reproduces_isolation_forest():
    """Check that PyODToSklearn(SklearnToPyOD(IsolationForest)) is IsolationForest."""
    X, _ = blobs_with_outliers()
    X_new = np.random.default_rng(4).normal(size=(50, 3)) * 2
    forest = IsolationForest(contamination=0.1, random_state=0).fit(X)
    round_trip = PyODToSklearn(
        SklearnToPyOD(IsolationForest(random_state=0), contamination=0.1)
    ).fit(X)
    assert round_trip.offset_ == pytest.approx(forest.offset_)
    np.testing.assert_allclose(
        round_trip.score_samples(X_new), forest.score_samples(X_new)
    )
    np.testing.assert_allclose(
        round_trip.decision_function(X_new), forest.decision_function(X_new), atol=1e-12
    )
    np.testing.assert_array_equal(round_trip.predict(X_new), forest.predict(X_new))
    np.testing.assert_array_equal(round_trip.predict(X), forest.predict(X))


def test_code_written_for_isolation_forest_runs_unchanged():
    """Check that a function written against IsolationForest accepts the adapter."""

    def outlier_rows(model, X):
        labels = model.fit(X).predict(X)
        assert np.array_equal(labels == -1, model.decision_function(X) < 0)
        return np.flatnonzero(labels == -1)

    X, y = blobs_with_outliers()
    found = outlier_rows(PyODToSklearn(KNN(contamination=0.05)), X)
    reference = outlier_rows(IsolationForest(contamination=0.05, random_state=0), X)
    planted = set(np.flatnonzero(y))
    assert planted <= set(found) and planted <= set(reference)


def test_skanomaly_detector_gets_sklearn_api():
    """Check the reverse adapter on a skanomaly detector and image input."""
    images = smooth_images(30)
    X_new = smooth_images(8, seed=5)
    X_new[:2, :, 4:12] = 1.0  # a bright bar no training image has
    for contamination in (0.1, "auto"):
        detector = make_detector(skanomaly.ConvAutoEncoder, contamination=contamination)
        model = PyODToSklearn(detector).fit(images)
        fitted = model.detector_
        assert model.offset_ == -fitted.threshold_
        assert model.n_features_in_ == 256
        np.testing.assert_array_equal(
            model.predict(X_new), np.where(fitted.predict(X_new) == 1, -1, 1)
        )
        np.testing.assert_allclose(
            model.decision_function(X_new),
            fitted.threshold_ - fitted.decision_function(X_new),
        )
        assert not hasattr(detector, "net_")  # the user's detector is untouched
    assert model.get_params()["detector__contamination"] == "auto"
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        loaded.score_samples(X_new), model.score_samples(X_new)
    )


def test_wrong_number_of_features_is_refused():
    """Check that 2-D input with another number of columns raises a clear error."""
    X, _ = blobs_with_outliers()
    model = PyODToSklearn(KNN()).fit(X)
    assert model.n_features_in_ == 3
    with pytest.raises(
        ValueError, match="X has 2 features, but PyODToSklearn is expecting 3"
    ):
        model.predict(X[:, :2])


def test_sklearn_detector_is_refused():
    """Check that a scikit-learn detector is refused: it needs no adapter."""
    X, _ = blobs_with_outliers()
    with pytest.raises(ValueError, match="already follows scikit-learn's outlier API"):
        PyODToSklearn(IsolationForest()).fit(X)


def test_thresholder_contamination_is_refused():
    """Check that a thresholder object, with no threshold on the scores, is refused."""
    X, _ = blobs_with_outliers()
    with pytest.raises(ValueError, match="thresholder object"):
        PyODToSklearn(KNN(contamination=AboveMean())).fit(X)


def test_detector_without_threshold_is_refused():
    """Check the error for a detector whose fit does not set threshold_."""

    class NoThreshold:
        def get_params(self, deep=True):
            return {}

        def set_params(self, **params):
            return self

        def fit(self, X, y=None):
            return self

        def decision_function(self, X):
            return np.zeros(len(X))

    X, _ = blobs_with_outliers()
    with pytest.raises(ValueError, match="did not set threshold_"):
        PyODToSklearn(NoThreshold()).fit(X)
    with pytest.raises(ValueError, match="'detector' parameter"):
        PyODToSklearn(StandardScaler()).fit(X)


def test_pyod_to_sklearn_in_pipeline():
    """Check use as the last step of a scikit-learn Pipeline."""
    X, y = blobs_with_outliers()
    pipe = Pipeline([("scale", StandardScaler()), ("od", PyODToSklearn(KNN()))])
    labels = pipe.fit(X).predict(X)
    assert set(np.unique(labels)) == {-1, 1}
    assert roc_auc_score(y, -pipe.score_samples(X)) > 0.95
    pipe.set_params(od__detector__n_neighbors=3)
    assert pipe.fit(X).named_steps["od"].detector_.n_neighbors == 3
