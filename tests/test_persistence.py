"""Pickling, moving between devices, and saving and loading without pickle."""

import io
import json
import os
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping

import skanomaly
from skanomaly.utils.estimator_checks import make_detector, smooth_images


@pytest.fixture(scope="module")
def images():
    return smooth_images(40)


@pytest.fixture(scope="module")
def fitted(images):
    return make_detector(skanomaly.ConvAutoEncoder).fit(images)


def _weight_bytes(module):
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def test_pickle_stores_each_tensor_once(images):
    """Check that a pickle holds the weights once (not per net and optimizer)."""
    detector = make_detector(skanomaly.ConvAutoEncoder, n_filters=32).fit(images)
    weights = _weight_bytes(detector.module_)
    assert weights > 100_000
    data = pickle.dumps(detector)
    # weights once, plus the training scores, the history and the class names
    assert len(data) < 1.2 * weights + 50_000
    loaded = pickle.loads(data)
    assert not any(isinstance(v, NeuralNet) for v in vars(loaded).values())
    np.testing.assert_array_equal(
        loaded.decision_function(images), detector.decision_function(images)
    )
    assert loaded.history_[-1, "epoch"] == detector.history_[-1, "epoch"]


def _pickle_as_if_on_cuda(detector, monkeypatch):
    """Pickle ``detector`` with every storage tagged as CUDA (as skorch's tests do)."""
    detector.device_ = "cuda:0"
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        return pickle.dumps(detector)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a CPU-only machine")
def test_cuda_pickle_loads_on_a_cpu_only_machine(images, monkeypatch):
    """Check that a model pickled on a GPU loads and scores on a CPU, with a warning."""
    detector = make_detector(skanomaly.SelfSupervisedAE).fit(images)
    expected = detector.decision_function(images)
    data = _pickle_as_if_on_cuda(detector, monkeypatch)
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        loaded = pickle.loads(data)
    assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.decision_function(images), expected)


def test_to_moves_the_model_and_sets_device_(fitted, images):
    """Check to("cpu") and the error for a device that is not there."""
    expected = fitted.decision_function(images)
    assert fitted.to("cpu") is fitted and fitted.device_ == "cpu"
    np.testing.assert_array_equal(fitted.decision_function(images), expected)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            fitted.to("cuda")
    with pytest.raises(ValueError, match="not a device torch knows"):
        fitted.to("gpu0")
    with pytest.raises(Exception, match="not fitted"):
        skanomaly.ConvAutoEncoder().to("cpu")


def _rewrite_manifest(path, edit):
    filename = os.path.join(path, "skanomaly.json")
    with open(filename) as f:
        manifest = json.load(f)
    edit(manifest)
    with open(filename, "w") as f:
        json.dump(manifest, f)


def test_load_on_the_cpu_a_model_fitted_on_a_gpu(fitted, images, tmp_path):
    """Check device=None falls back to the CPU with a warning; device="cpu" is quiet."""
    path = fitted.save(tmp_path / "model")
    _rewrite_manifest(path, lambda m: m["fitted"].update(device_="cuda:0"))
    expected = fitted.decision_function(images)
    if not torch.cuda.is_available():
        with pytest.warns(UserWarning, match="loaded on the CPU"):
            assert skanomaly.load(path).device_ == "cpu"
        with pytest.raises(ValueError, match="CUDA is not available"):
            skanomaly.load(path, device="cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = skanomaly.load(path, device="cpu")
    assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.decision_function(images), expected)


def test_tampered_or_truncated_files_get_clear_errors(fitted, tmp_path):
    """Check every kind of damaged save: each raises an error that says what."""
    path = fitted.save(tmp_path / "model")
    weights = os.path.join(path, "weights.safetensors")
    with open(weights, "rb") as f:
        original = f.read()

    with open(weights, "wb") as f:
        f.write(original[: len(original) // 2])
    with pytest.raises(ValueError, match="changed or truncated"):
        skanomaly.load(path)

    tampered = bytearray(original)
    tampered[-5] ^= 0xFF
    with open(weights, "wb") as f:
        f.write(bytes(tampered))
    with pytest.raises(ValueError, match="changed or truncated"):
        skanomaly.load(path)
    with open(weights, "wb") as f:
        f.write(original)

    manifest = os.path.join(path, "skanomaly.json")
    with open(manifest) as f:
        text = f.read()
    with open(manifest, "w") as f:
        f.write(text[: len(text) // 2])
    with pytest.raises(ValueError, match="not valid JSON"):
        skanomaly.load(path)
    with open(manifest, "w") as f:
        f.write(text)

    # a file names code to run: refused, never imported
    _rewrite_manifest(path, lambda m: m.update({"class": "os.system"}))
    with pytest.raises(ValueError, match="not a registered detector"):
        skanomaly.load(path)
    _rewrite_manifest(path, lambda m: m.update({"class": "ConvAutoEncoder"}))
    _rewrite_manifest(
        path, lambda m: m["params"].update(optimizer={"__optimizer__": "system"})
    )
    with pytest.raises(ValueError, match="not an optimizer of torch.optim"):
        skanomaly.load(path)
    _rewrite_manifest(path, lambda m: m["params"].update(optimizer=None, lr=-1.0))
    with pytest.raises(ValueError, match="lr"):
        skanomaly.load(path)

    with pytest.raises(FileNotFoundError, match="detector.save"):
        skanomaly.load(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="does not hold a detector"):
        os.makedirs(tmp_path / "other")
        with open(tmp_path / "other" / "skanomaly.json", "w") as f:
            json.dump({"format": "something else"}, f)
        skanomaly.load(tmp_path / "other")


def test_what_save_does_not_store(images, tmp_path):
    """Check callbacks load as None and thresholder objects are refused clearly."""
    detector = make_detector(
        skanomaly.ConvAutoEncoder,
        callbacks=[EarlyStopping(monitor="train_loss", patience=50)],
    ).fit(images)
    loaded = skanomaly.load(detector.save(tmp_path / "model"))
    assert loaded.callbacks is None
    np.testing.assert_array_equal(
        loaded.decision_function(images), detector.decision_function(images)
    )

    class AboveMean:  # a PyThresh-like thresholder
        def fit(self, scores):
            self.thresh_ = float(np.mean(scores))
            self.labels_ = (scores > self.thresh_).astype(int)
            return self

        def predict(self, scores):
            return (scores > self.thresh_).astype(int)

    thresholded = make_detector(
        skanomaly.ConvAutoEncoder, contamination=AboveMean()
    ).fit(images)
    with pytest.raises(ValueError, match="thresholder object"):
        thresholded.save(tmp_path / "other")


def test_save_needs_a_fitted_detector_and_a_directory(fitted, tmp_path):
    """Check save's errors: an unfitted detector, a path that is a file."""
    with pytest.raises(Exception, match="not fitted"):
        skanomaly.ConvAutoEncoder().save(tmp_path / "model")
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        fitted.save(afile)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_model_moves_and_loads_to_cpu(images, tmp_path):
    """Check that a model trained on CUDA scores the same on the CPU."""
    detector = make_detector(skanomaly.ConvAutoEncoder, device="cuda").fit(images)
    on_gpu = detector.decision_function(images)
    loaded = skanomaly.load(detector.save(tmp_path / "model"), device="cpu")
    np.testing.assert_allclose(
        loaded.decision_function(images), on_gpu, rtol=1e-4, atol=1e-6
    )
    buffer = io.BytesIO()
    pickle.dump(detector, buffer)
    on_cpu = pickle.loads(buffer.getvalue()).to("cpu").decision_function(images)
    np.testing.assert_allclose(on_cpu, on_gpu, rtol=1e-4, atol=1e-6)


def test_one_loaded_detector_scores_in_several_threads(fitted, images, tmp_path):
    """Check that 4 threads scoring one loaded detector at once get serial scores."""
    loaded = skanomaly.load(fitted.save(tmp_path / "model"))
    expected = loaded.decision_function(images)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(loaded.decision_function, [images] * 8))
    for scores in results:
        np.testing.assert_array_equal(scores, expected)
