import numpy as np
import pytest

from skanomaly.datasets import load_digits, make_one_class_split


def _identified_data(n_per_class=600, n_classes=10, offset=0):
    """Images whose pixels all equal a unique id, with balanced labels."""
    n_samples = n_per_class * n_classes
    ids = np.arange(offset, offset + n_samples)
    X = np.repeat(ids, 4).reshape(n_samples, 2, 2).astype(np.float64)
    y = np.repeat(np.arange(n_classes), n_per_class)
    return X, y


def _ids(X):
    return X[:, 0, 0].astype(int)


@pytest.mark.parametrize(
    "contamination, n_normal, expected",
    [(0.0, 600, 0), (0.05, 600, 31), (0.1, 600, 66), (0.2, 400, 100), (0.5, 10, 10)],
)
def test_contamination_count_follows_formula(contamination, n_normal, expected):
    """Check that floor(p * N / (1 - p)) anomalies contaminate the training set."""
    X, y = _identified_data(n_per_class=n_normal, n_classes=3)
    X_test, y_test = _identified_data(n_per_class=5, n_classes=3, offset=10**6)
    X_train, y_train, _, _ = make_one_class_split(
        X,
        y,
        1,
        X_test=X_test,
        y_test=y_test,
        contamination=contamination,
        random_state=0,
    )
    assert X_train.shape[0] == n_normal + expected
    assert int(y_train.sum()) == expected
    assert y_train.dtype == np.int64


def test_labels_and_provenance_with_official_test_split():
    """Check that train holds the normal class plus anomalies from other classes."""
    X, y = _identified_data()
    X_test, y_test_classes = _identified_data(n_per_class=100, offset=10**6)
    X_train, y_train, X_te, y_te = make_one_class_split(
        X,
        y,
        3,
        X_test=X_test,
        y_test=y_test_classes,
        contamination=0.05,
        random_state=0,
    )
    train_classes = y[_ids(X_train)]
    np.testing.assert_array_equal(train_classes == 3, y_train == 0)
    assert len(np.unique(_ids(X_train))) == X_train.shape[0]
    # every normal training image is used
    assert np.sum(train_classes == 3) == 600
    # the whole test split, normal class -> 0, other classes -> 1
    np.testing.assert_array_equal(X_te, X_test)
    np.testing.assert_array_equal(y_te, (y_test_classes != 3).astype(int))
    assert set(_ids(X_train)).isdisjoint(_ids(X_te))


def test_uncontaminated_training_set_keeps_order():
    """Check that without contamination the training set is the normal class."""
    X, y = _identified_data(n_per_class=20)
    X_train, y_train, _, _ = make_one_class_split(X, y, 2, X_test=X[:5], y_test=y[:5])
    np.testing.assert_array_equal(X_train, X[y == 2])
    assert not y_train.any()


def test_held_out_split_is_stratified_and_disjoint():
    """Check that without a test split one is held out per class, no leakage."""
    X, y = _identified_data(n_per_class=40, n_classes=5)
    X_train, y_train, X_test, y_test = make_one_class_split(
        X, y, 0, test_size=0.25, contamination=0.2, random_state=0
    )
    test_classes = y[_ids(X_test)]
    np.testing.assert_array_equal(np.bincount(test_classes), [10] * 5)
    np.testing.assert_array_equal(y_test, (test_classes != 0).astype(int))
    assert set(_ids(X_train)).isdisjoint(_ids(X_test))
    # 30 normal training images left, floor(0.2 * 30 / 0.8) = 7 anomalies
    assert X_train.shape[0] == 37
    assert int(y_train.sum()) == 7


def test_digits_one_class_task():
    """Check the protocol end to end on the digits, which lack a test split."""
    images, target = load_digits(return_X_y=True)
    X_train, y_train, X_test, y_test = make_one_class_split(
        images, target, 7, random_state=0
    )
    assert X_train.shape[1:] == (8, 8)
    assert X_train.shape[0] + np.sum(y_test == 0) == np.sum(target == 7)
    assert X_train.shape[0] + X_test.shape[0] < images.shape[0]
    assert 0.85 < y_test.mean() < 0.95


def test_multiple_normal_classes():
    """Check that a list of classes may form the normal data."""
    X, y = _identified_data(n_per_class=30, n_classes=4)
    X_test, y_test = _identified_data(n_per_class=3, n_classes=4, offset=10**6)
    X_train, y_train, _, y_te = make_one_class_split(
        X,
        y,
        [0, 2],
        X_test=X_test,
        y_test=y_test,
        contamination=0.1,
        random_state=1,
    )
    classes = y[_ids(X_train)]
    np.testing.assert_array_equal(np.isin(classes, [0, 2]), y_train == 0)
    assert np.sum(y_train == 0) == 60
    assert int(y_train.sum()) == 6
    np.testing.assert_array_equal(y_te, (~np.isin(y_test, [0, 2])).astype(int))


def test_reproducible_with_random_state():
    """Check that an int random_state gives identical splits, others differ."""
    X, y = _identified_data(n_per_class=50, n_classes=4)
    kwargs = dict(contamination=0.1, test_size=0.3)
    first = make_one_class_split(X, y, 1, random_state=42, **kwargs)
    second = make_one_class_split(X, y, 1, random_state=42, **kwargs)
    other = make_one_class_split(X, y, 1, random_state=7, **kwargs)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_inputs_are_not_modified():
    """Check that the caller's arrays are left untouched and not shared."""
    X, y = _identified_data(n_per_class=30, n_classes=3)
    X_test, y_test = _identified_data(n_per_class=5, n_classes=3, offset=10**6)
    copies = [a.copy() for a in (X, y, X_test, y_test)]
    outputs = make_one_class_split(
        X, y, 0, X_test=X_test, y_test=y_test, contamination=0.1, random_state=0
    )
    for original, copy in zip((X, y, X_test, y_test), copies):
        np.testing.assert_array_equal(original, copy)
    for out in outputs:
        for original in (X, y, X_test, y_test):
            assert not np.shares_memory(out, original)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(normal_class=9), "normal_class 9 does not occur"),
        (dict(normal_class=[0, 9]), "normal_class 9 does not occur"),
        (dict(normal_class=[]), "empty"),
        (dict(contamination=1.0), r"contamination must be a float in \[0, 1\)"),
        (dict(contamination=-0.1), r"contamination must be a float in \[0, 1\)"),
        (dict(contamination=0.9), "needs 45 anomalies"),
        (dict(y=np.zeros(7)), "same number of samples"),
        (dict(y=np.zeros((20, 1))), "1-d array"),
        (dict(X=np.zeros(20)), "at least 2 dimensions"),
        (dict(X_test=np.zeros((4, 2, 2))), "given together"),
        (dict(X_test=np.zeros((4, 3, 2)), y_test=np.zeros(4)), "same shape"),
        (dict(X_test=np.zeros((4, 2, 2)), y_test=np.zeros(3)), "same number"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    """Check that bad arguments raise a ValueError explaining the problem."""
    X, y = _identified_data(n_per_class=10, n_classes=2)
    params = dict(X=X, y=y, normal_class=0)
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_one_class_split(**params)
