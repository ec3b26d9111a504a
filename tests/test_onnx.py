"""ONNX export: ONNX Runtime gives the scores, labels and maps of the detector.

Every registered detector is fitted on real images (scikit-learn's digits),
exported with :func:`skanomaly.export.to_onnx` and run in ONNX Runtime on
held-out digits, at batch sizes other than the export's.
"""

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

import skanomaly
from skanomaly.base import AnomalyMapMixin, BaseImageDetector
from skanomaly.export import prepare_images, read_onnx_metadata, to_onnx
from skanomaly.utils.estimator_checks import make_detector

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
if tuple(int(p) for p in torch.__version__.split(".")[:2]) < (2, 6):
    pytest.skip("ONNX export needs torch 2.6 or later", allow_module_level=True)

#: ONNX Runtime's operators round differently from torch's: scores agree to
#: this relative tolerance (of each score, or of the largest for scores near 0).
RTOL = 1e-5


@pytest.fixture(scope="module")
def digits():
    images = (load_digits().images / 16.0).astype(np.float32)
    return images[:300], images[300:400]


def _run(path, images):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"images": images})))


def _assert_close(actual, expected, atol=0.0):
    expected = np.asarray(expected)
    np.testing.assert_allclose(
        actual, expected, rtol=RTOL, atol=max(atol, RTOL * np.abs(expected).max())
    )


def _check_parity(detector, path, X, atol=0.0):
    for n in (len(X), 1, 7):  # the export's batch was 2
        out = _run(path, prepare_images(detector, X[:n]))
        assert out["scores"].dtype == np.float64
        _assert_close(out["scores"], detector.decision_function(X[:n]), atol)
        np.testing.assert_array_equal(out["labels"], detector.predict(X[:n]))
        if isinstance(detector, AnomalyMapMixin):
            assert out["maps"].shape == (n, *X.shape[1:])
            _assert_close(out["maps"], detector.anomaly_map(X[:n]))
        else:
            assert "maps" not in out


def test_onnx_runtime_equals_the_detector(detector_class, digits, tmp_path):
    X_train, X_test = digits
    detector = make_detector(detector_class, contamination=0.2).fit(X_train)
    before = detector.decision_function(X_test)
    path = detector.to_onnx(tmp_path / "detector.onnx")
    _check_parity(detector, path, X_test)
    # some test digits are outliers at this threshold: labels are checked
    assert 0 < detector.predict(X_test).sum() < len(X_test)
    # exporting changes nothing in the detector
    np.testing.assert_array_equal(detector.decision_function(X_test), before)

    meta = read_onnx_metadata(path)
    assert meta["detector"] == detector_class.__name__
    assert float(meta["threshold"]) == detector.threshold_
    assert json.loads(meta["image_shape"]) == [1, 8, 8]
    assert json.loads(meta["params"])["contamination"] == 0.2
    assert "higher means more abnormal" in meta["score_convention"]
    assert meta["version"] == skanomaly.__version__


#: Scoring options off the defaults that take other code paths.
VARIANTS = [
    # a cosine distance 1 - a.b between float32 unit codes: about 1e-7 apart
    # between runtimes whatever its size (1e-4 here), so compared absolutely
    ("InfoTheoreticAD", dict(score="knn")),
    ("InfoTheoreticAD", dict(mi_estimator="rotation")),
    ("EncoderGAN", dict(score="combined")),
    ("SelfSupervisedAE", dict(score="top_k")),
    ("UTAD", dict(score="latent_knn", stages=1)),  # its maps: the first stage's
]


@pytest.mark.parametrize(
    "name, params", VARIANTS, ids=[f"{n}-{p}" for n, p in VARIANTS]
)
def test_onnx_scoring_variants(name, params, digits, tmp_path):
    X_train, X_test = digits
    detector = make_detector(getattr(skanomaly, name), **params).fit(X_train)
    path = to_onnx(detector, tmp_path / "detector.onnx")
    atol = 1e-6 if params.get("score") == "knn" else 0.0
    _check_parity(detector, path, X_test[:20], atol)


def test_prepare_images_scales_uint8_as_decision_function(digits, tmp_path):
    X_train, X_test = digits
    detector = make_detector(skanomaly.ConvAutoEncoder).fit(X_train)
    path = detector.to_onnx(tmp_path / "detector.onnx")
    as_uint8 = np.round(X_test * 255).astype(np.uint8)
    copy = as_uint8.copy()
    images = prepare_images(detector, as_uint8)
    np.testing.assert_array_equal(as_uint8, copy)  # the caller's data untouched
    assert images.dtype == np.float32 and images.shape == (len(X_test), 1, 8, 8)
    _assert_close(_run(path, images)["scores"], detector.decision_function(as_uint8))


def test_unfitted_detector_is_refused(tmp_path):
    with pytest.raises(NotFittedError):
        to_onnx(skanomaly.ConvAutoEncoder(), tmp_path / "x.onnx")


def test_non_detector_is_refused(tmp_path):
    from sklearn.ensemble import IsolationForest

    with pytest.raises(TypeError, match="BaseImageDetector"):
        to_onnx(IsolationForest(), tmp_path / "x.onnx")


def test_thresholder_contamination_is_refused(digits, tmp_path):
    class Thresholder:  # labels through its own predict, as PyThresh objects
        def fit(self, scores):
            self.thresh_ = float(np.median(scores))
            self.labels_ = (scores > self.thresh_).astype(int)
            return self

        def predict(self, scores):
            return (scores > self.thresh_).astype(int)

    detector = make_detector(skanomaly.ConvAutoEncoder, contamination=Thresholder())
    detector.fit(digits[0])
    with pytest.raises(NotImplementedError, match="float contamination or 'auto'"):
        detector.to_onnx(tmp_path / "x.onnx")


def test_a_detector_names_what_blocks_its_export(digits, tmp_path):
    class _NumpyScored(BaseImageDetector):
        """A detector scoring in numpy: not a graph."""

        def __init__(
            self,
            contamination=0.1,
            image_shape=None,
            channels_last=None,
            device="cpu",
            random_state=None,
        ):
            self.contamination = contamination
            self.image_shape = image_shape
            self.channels_last = channels_last
            self.device = device
            self.random_state = random_state

        def _fit_model(self, X):
            self.module_ = torch.nn.Identity()

        def _score_batch(self, module, X):
            return X.flatten(1).mean(dim=1)

        def _module_for_loading(self):
            return torch.nn.Identity()

        def _onnx_blocker(self):
            return "its scores are computed in numpy"

    detector = _NumpyScored().fit(digits[0])
    with pytest.raises(NotImplementedError, match="computed in numpy"):
        detector.to_onnx(tmp_path / "x.onnx")


def test_missing_onnx_packages_give_the_install_message(digits, tmp_path, monkeypatch):
    import sys

    detector = make_detector(skanomaly.ConvAutoEncoder).fit(digits[0])
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ImportError, match=r"skanomaly\[onnx\]"):
        detector.to_onnx(tmp_path / "x.onnx")
