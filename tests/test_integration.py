"""Detectors inside scikit-learn and PyOD tooling, and quality floors."""

import numpy as np
import pytest
from conftest import fashion_mnist_task, make_detector, smooth_images
from pyod.models.knn import KNN
from pyod.utils.data import evaluate_print
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from skanomaly import ConvAutoEncoder
from skanomaly.model_selection import OneClassKFold
from skanomaly.preprocessing import ImageFlattener


def _planted_square(images, rng, size=5, value=1.0):
    """Copies of ``images`` with a bright square pasted at a random place."""
    out = images.copy()
    side = images.shape[-1]
    for image in out:
        top, left = rng.integers(0, side - size, size=2)
        image[..., top : top + size, left : left + size] = value
    return out


def _toy_task(n_normal=80, n_anomalous=20, seed=0):
    rng = np.random.default_rng(seed)
    normal = smooth_images(n_normal, seed=seed)
    anomalous = _planted_square(smooth_images(n_anomalous, seed=seed + 1), rng)
    X = np.concatenate([normal, anomalous])
    y = np.r_[np.zeros(n_normal, int), np.ones(n_anomalous, int)]
    return X, y


def test_planted_anomalies_rank_first():
    """Check that ConvAutoEncoder ranks images with a planted square above normal."""
    X, y = _toy_task()
    detector = ConvAutoEncoder(
        n_filters=8,
        depth=2,
        latent_dim=4,
        max_epochs=30,
        batch_size=16,
        device="cpu",
        random_state=0,
    ).fit(X[y == 0])
    scores = detector.decision_function(X)
    assert roc_auc_score(y, scores) > 0.95
    maps = detector.anomaly_map(X[y == 1])
    normal_maps = detector.anomaly_map(X[y == 0])
    assert maps.max(axis=(1, 2)).mean() > 3 * normal_maps.max(axis=(1, 2)).mean()


def test_grid_search_with_one_class_splitter():
    """Check that GridSearchCV with roc_auc and OneClassKFold picks and refits."""
    X, y = _toy_task()
    search = GridSearchCV(
        make_detector(ConvAutoEncoder, max_epochs=3),
        {"latent_dim": [2, 8], "lr": [1e-3, 1e-2]},
        scoring="roc_auc",
        cv=OneClassKFold(n_splits=3, random_state=0),
    )
    search.fit(X, y)
    mean = search.cv_results_["mean_test_score"]
    assert np.isfinite(mean).all()
    # the chosen parameters are those of the best mean ROC AUC across folds
    assert search.best_params_ == search.cv_results_["params"][int(np.argmax(mean))]
    # and the refitted detector is a plain fit of them on all the images
    best = make_detector(ConvAutoEncoder, max_epochs=3, **search.best_params_)
    refit = best.fit(X)
    np.testing.assert_array_equal(
        search.decision_function(X), refit.decision_function(X)
    )
    assert search.best_estimator_.max_epochs == 3


def test_cross_val_with_contaminated_training_folds():
    """Check that StratifiedKFold(shuffle=True) works for contaminated folds."""
    X, y = _toy_task()
    scores = cross_val_score(
        make_detector(ConvAutoEncoder),
        X,
        y,
        scoring="roc_auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    )
    assert np.isfinite(scores).all()


def test_pipeline_flatten_pca_pyod_knn():
    """Check that ImageFlattener lets PyOD's KNN follow pixels or PCA on images."""
    X, y = _toy_task()
    pixels = make_pipeline(ImageFlattener(), KNN()).fit(X[y == 0])
    assert roc_auc_score(y, pixels.decision_function(X)) > 0.95
    reduced = make_pipeline(ImageFlattener(), PCA(n_components=10), KNN())
    reduced.fit(X[y == 0])
    assert reduced.decision_function(X).shape == (len(X),)
    assert set(np.unique(reduced.predict(X))) <= {0, 1}


def test_detector_after_tabular_steps_with_image_shape():
    """Check that a detector takes flattened rows from a pipeline via image_shape."""
    X, y = _toy_task()
    pipeline = make_pipeline(
        ImageFlattener(), make_detector(ConvAutoEncoder, image_shape=(16, 16))
    )
    pipeline.fit(X[y == 0])
    assert pipeline.decision_function(X).shape == (len(X),)
    assert pipeline[-1].image_shape_ == (1, 16, 16)


def test_pyod_evaluate_print(capsys):
    """Check that PyOD's evaluate_print reads skanomaly scores."""
    X, y = _toy_task()
    detector = make_detector(ConvAutoEncoder, max_epochs=10).fit(X[y == 0])
    evaluate_print("ConvAutoEncoder", y, detector.decision_function(X))
    out = capsys.readouterr().out
    assert "ConvAutoEncoder ROC:" in out and "precision @ rank n:" in out


# Measured with the settings below (seed 0, 2 CPU cores, 1,000 training
# images, 2,000 test images): class 7 (sneaker) 0.977 (untrained 0.727, pixel
# KNN 0.981), class 9 (ankle boot) 0.928 (0.409, 0.968), class 0 (T-shirt, a
# hard class) 0.902 (0.446, 0.916). The fixed floors leave room for numerical
# differences across platforms and torch builds; the relative floors compare
# with baselines computed in the test. The autoencoder does not beat KNN on
# pixels on this task, so the second one only bounds how far it falls behind.
FASHION_MNIST_FLOOR = {7: 0.90, 9: 0.90}
#: class: (least gain over the untrained network, most loss against pixel KNN)
FASHION_MNIST_MARGINS = {0: (0.2, 0.05), 7: (0.1, 0.05), 9: (0.2, 0.08)}


@pytest.mark.slow
@pytest.mark.parametrize("normal_class", sorted(FASHION_MNIST_MARGINS))
def test_conv_autoencoder_quality_floor_fashion_mnist(normal_class):
    """Check that ConvAutoEncoder learns, and stays near KNN on Fashion-MNIST."""
    X_train, X_test, y_test = fashion_mnist_task(normal_class)
    detector = ConvAutoEncoder(max_epochs=5, device="cpu", random_state=0)
    detector.fit(X_train)
    auc = roc_auc_score(y_test, detector.decision_function(X_test))
    if normal_class in FASHION_MNIST_FLOOR:
        assert auc > FASHION_MNIST_FLOOR[normal_class]
    untrained = ConvAutoEncoder(max_epochs=0, device="cpu", random_state=0)
    untrained.fit(X_train)
    untrained_auc = roc_auc_score(y_test, untrained.decision_function(X_test))
    flat = X_train.reshape(len(X_train), -1) / 255.0
    knn = KNN().fit(flat).decision_function(X_test.reshape(len(X_test), -1) / 255.0)
    knn_auc = roc_auc_score(y_test, knn)
    gain, loss = FASHION_MNIST_MARGINS[normal_class]
    assert auc > untrained_auc + gain
    assert auc > knn_auc - loss
