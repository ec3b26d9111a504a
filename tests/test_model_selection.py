import warnings

import numpy as np
import pytest
from pyod.models.knn import KNN
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skanomaly.model_selection import OneClassKFold, one_class_train_test_split

pytestmark = pytest.mark.filterwarnings(
    # PyOD detectors warn when GridSearchCV hands y to their fit.
    "ignore:y should not be presented:UserWarning"
)


def _sorted_data(n_normal=60, n_anomalies=12, seed=0):
    """Gaussian normal samples first, then planted far-away outliers."""
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.randn(n_normal, 2), rng.randn(n_anomalies, 2) + 6])
    y = np.r_[np.zeros(n_normal, dtype=int), np.ones(n_anomalies, dtype=int)]
    return X, y


@pytest.mark.parametrize("shuffle, random_state", [(True, 0), (False, None)])
@pytest.mark.parametrize("n_splits", [2, 3, 5])
def test_one_class_kfold_split_structure(n_splits, shuffle, random_state):
    """Check that train folds are normal-only and test folds partition the data."""
    X, y = _sorted_data(n_normal=23, n_anomalies=7)
    cv = OneClassKFold(n_splits, shuffle=shuffle, random_state=random_state)
    splits = list(cv.split(X, y))
    assert len(splits) == cv.get_n_splits() == n_splits
    tested = []
    for train, test in splits:
        assert np.all(y[train] == 0)
        assert set(y[test]) == {0, 1}
        assert not set(train) & set(test)
        # Train holds every normal sample not tested in this fold.
        assert set(train) | set(test[y[test] == 0]) == set(np.flatnonzero(y == 0))
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        tested.append(test)
    tested = np.concatenate(tested)
    np.testing.assert_array_equal(np.sort(tested), np.arange(len(y)))
    sizes = [len(test) for _, test in splits]
    assert max(sizes) - min(sizes) <= 2


def test_one_class_kfold_random_state():
    """Check that splits are reproducible with an int seed and vary without."""
    X, y = _sorted_data()
    first = list(OneClassKFold(3, random_state=42).split(X, y))
    second = list(OneClassKFold(3, random_state=42).split(X, y))
    other = list(OneClassKFold(3, random_state=7).split(X, y))
    for (a_train, a_test), (b_train, b_test) in zip(first, second):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)
    assert any(
        not np.array_equal(a_test, c_test)
        for (_, a_test), (_, c_test) in zip(first, other)
    )
    unshuffled = list(OneClassKFold(3, shuffle=False).split(X, y))
    np.testing.assert_array_equal(unshuffled[0][1], np.r_[0:20, 60:64])


def test_one_class_kfold_repr_and_get_n_splits():
    """Check that the splitter has a scikit-learn style repr and n_splits."""
    cv = OneClassKFold(4, random_state=0)
    assert repr(cv) == "OneClassKFold(n_splits=4, random_state=0, shuffle=True)"
    assert cv.get_n_splits() == 4
    assert cv.get_n_splits(np.zeros((10, 2)), np.zeros(10), None) == 4


def test_cross_val_score_with_pyod_detector():
    """Check that cross_val_score with a PyOD KNN gives finite, high ROC AUCs."""
    X, y = _sorted_data()
    scores = cross_val_score(
        KNN(n_neighbors=5),
        X,
        y,
        cv=OneClassKFold(3, random_state=0),
        scoring="roc_auc",
    )
    assert scores.shape == (3,)
    assert np.all(np.isfinite(scores))
    assert np.all(scores > 0.8)


def test_grid_search_with_pyod_detector():
    """Check that GridSearchCV with OneClassKFold never yields NaN scores."""
    X, y = _sorted_data()
    search = GridSearchCV(
        KNN(),
        {"n_neighbors": [3, 10]},
        cv=OneClassKFold(3, random_state=0),
        scoring="roc_auc",
    )
    search.fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_score_ > 0.8


def test_plain_integer_cv_yields_nan_on_sorted_data():
    """Check that cv=3 gives NaN on sorted one-class data, OneClassKFold does not."""
    X, y = _sorted_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = cross_val_score(KNN(), X, y, cv=3, scoring="roc_auc")
        unshuffled_kfold = cross_val_score(KNN(), X, y, cv=KFold(3), scoring="roc_auc")
    assert np.isnan(plain).any()
    assert np.isnan(unshuffled_kfold).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", "y should not be presented")
        fixed = cross_val_score(
            KNN(), X, y, cv=OneClassKFold(3, random_state=0), scoring="roc_auc"
        )
    assert np.all(np.isfinite(fixed))


def test_one_class_kfold_accepts_bool_and_list_labels():
    """Check that y may be given as bools or a list."""
    X, y = _sorted_data(n_normal=9, n_anomalies=3)
    expected = list(OneClassKFold(3, random_state=0).split(X, y))
    for labels in (y.astype(bool), y.tolist(), y.astype(float)):
        got = list(OneClassKFold(3, random_state=0).split(X.tolist(), labels))
        for (a_train, a_test), (b_train, b_test) in zip(expected, got):
            np.testing.assert_array_equal(a_train, b_train)
            np.testing.assert_array_equal(a_test, b_test)


def test_one_class_kfold_does_not_modify_y():
    """Check that split leaves the caller's labels untouched."""
    X, y = _sorted_data()
    y_copy = y.copy()
    list(OneClassKFold(3, random_state=0).split(X, y))
    np.testing.assert_array_equal(y, y_copy)


def test_one_class_kfold_validates_labels():
    """Check that split rejects missing, non-binary or too few labels."""
    X, y = _sorted_data(n_normal=10, n_anomalies=2)
    cv = OneClassKFold(3)
    with pytest.raises(ValueError, match="needs the anomaly labels"):
        list(cv.split(X))
    with pytest.raises(ValueError, match="needs the anomaly labels"):
        list(cv.split(X, None))
    with pytest.raises(ValueError, match="binary"):
        list(cv.split(X, y * 2))
    with pytest.raises(ValueError, match="binary"):
        list(cv.split(X, np.where(y == 1, "anomaly", "normal")))
    with pytest.raises(ValueError, match="2 anomalies into n_splits=3"):
        list(cv.split(X, y))
    with pytest.raises(ValueError, match="0 anomalies"):
        list(cv.split(X, np.zeros_like(y)))
    with pytest.raises(ValueError, match="0 normal samples"):
        list(cv.split(X, np.ones_like(y)))
    with pytest.raises(ValueError, match="same number of samples"):
        list(cv.split(X, y[:-1]))
    with pytest.raises(ValueError, match="1-D"):
        list(cv.split(X, np.c_[y, y]))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_splits": 1}, "n_splits"),
        ({"n_splits": 2.0}, "n_splits"),
        ({"n_splits": True}, "n_splits"),
        ({"shuffle": "yes"}, "shuffle"),
        ({"shuffle": False, "random_state": 0}, "random_state"),
    ],
)
def test_one_class_kfold_validates_parameters(params, match):
    """Check that invalid constructor parameters raise a ValueError."""
    with pytest.raises(ValueError, match=match):
        OneClassKFold(**params)


def test_one_class_train_test_split():
    """Check that the training set is normal-only and the test set has all anomalies."""
    X, y = _sorted_data(n_normal=40, n_anomalies=8)
    X_train, X_test, y_train, y_test = one_class_train_test_split(X, y, random_state=0)
    assert len(X_train) == 30 and len(X_test) == 18
    assert np.all(y_train == 0) and y_test.sum() == 8
    rows = {tuple(row) for row in X}
    assert {tuple(r) for r in X_train} | {tuple(r) for r in X_test} == rows
    assert not {tuple(r) for r in X_train} & {tuple(r) for r in X_test}
    again = one_class_train_test_split(X, y, random_state=0)
    np.testing.assert_array_equal(again[0], X_train)
    n_fixed = one_class_train_test_split(X, y, test_size=5, random_state=0)
    assert len(n_fixed[0]) == 35 and len(n_fixed[1]) == 13
    lists = one_class_train_test_split(X.tolist(), y.tolist(), random_state=0)
    assert isinstance(lists[0], list) and len(lists[0]) == 30


def test_one_class_train_test_split_validates_input():
    """Check that one_class_train_test_split rejects bad labels and sizes."""
    X, y = _sorted_data(n_normal=10, n_anomalies=2)
    with pytest.raises(ValueError, match="both normal samples"):
        one_class_train_test_split(X, np.zeros_like(y))
    with pytest.raises(ValueError, match="binary"):
        one_class_train_test_split(X, y + 1)
    for test_size in (0, 10, 1.0, 0.0, -0.5, "0.2", True):
        with pytest.raises(ValueError, match="test_size"):
            one_class_train_test_split(X, y, test_size=test_size)
