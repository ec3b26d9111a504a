"""SelfSupervisedAE: an autoencoder trained to repair corrupted normal images."""

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions
from skorch.callbacks import LRScheduler

from ...base import (
    AnomalyMapMixin,
    BaseDeepDetector,
    ReconstructionMixin,
    register_detector,
)
from .._torch_utils import gaussian_blur, standardize_map
from .corruption import PATTERN_SOURCES, corrupt
from .torch_model import RepairNetModule

__all__ = ["SelfSupervisedAE"]


@register_detector
class SelfSupervisedAE(ReconstructionMixin, AnomalyMapMixin, BaseDeepDetector):
    """Self-supervised autoencoder that repairs synthetically corrupted images.

    Following Bauer, Nakajima and Müller (arXiv 2206.11723), the network is
    trained on normal images of which random, spatially coherent regions have
    been overwritten (by other images, textures, noise or intensity changes),
    and must output the *clean* image. It thereby learns something close to a
    projection onto the normal images: it keeps what is normal and replaces
    what is not. The reconstruction error, smoothed, both detects and
    localizes anomalies.

    What follows the paper: structured, non-i.i.d. corruptions of normal
    images; the clean image as target over the whole image; an autoencoder
    whose capacity is not restricted (full-resolution gated skips, a dilated
    bottleneck); the smoothed reconstruction error as anomaly map. What is
    this library's choice (the paper's details were not available): the mask
    and pattern generator and its defaults, the layer sizes, MSE loss with
    Adam, and the image score (maximum of the smoothed map by default). See
    ``docs/self_supervised_ae.md``.

    Parameters
    ----------
    n_filters : int, default=16
        Channels at full resolution, doubled at each downsampling stage.
    depth : int, default=2
        Number of stride-2 stages before the bottleneck. Images whose sides
        are not multiples of ``2 ** depth`` are padded inside the network.
    dilations : tuple of int, default=(1,)
        Dilation rates of the parallel branches of each bottleneck block. With the
        defaults an output pixel sees 63 px of input; ``(1, 2, 4, 8)`` with
        two blocks (the earlier default) sees 183 px, which localized texture
        defects less well (``docs/benchmarks/self_supervised_ae_corruption.md``).
    n_bottleneck_blocks : int, default=1
        Number of stacked bottleneck blocks.
    corruption_prob : float, default=0.9
        Probability that a training image is corrupted; the others are shown
        clean. ``0`` trains a plain (identity-prone) autoencoder of the same
        architecture: the ablation.
    max_blobs : int, default=3
        Most ellipses per corruption mask.
    blob_size : tuple of float, default=(0.06, 0.25)
        Range of the ellipses' semi-axes, as fractions of the image side.
    max_area : float, default=0.35
        Largest fraction of the image one corruption may cover.
    opacity : tuple of float, default=(0.3, 1.0)
        Half of the corruptions are opaque; the others have an opacity drawn
        uniformly from this range.
    pattern_sources : tuple of str, default=("image", "texture", "noise", "intensity")
        Content pasted into the masks: another training image, a synthetic
        texture, Gaussian noise, or a brightness change of the image itself.
    noise_std : float, default=0.0
        If > 0, Gaussian noise (std drawn up to this value) added to both the
        corrupted input and the target, the identity-anchoring variant of the
        authors' follow-up (arXiv 2511.07233).
    corrupted_weight : float, default=0.0
        Extra weight of the corrupted pixels in the training loss: the
        squared error of each pixel is weighted by ``1 + corrupted_weight *
        a * m`` (the effective corruption mask), normalised by the mean
        weight. 0 gives the plain mean squared error. With very few
        optimizer steps a large weight slows the copying of clean pixels
        enough to invert the map (see ``docs/self_supervised_ae.md``).
    map_normalization : {"standardize", "none"}, default="standardize"
        ``"standardize"``: before smoothing, the squared error of each pixel
        is standardized by its mean and standard deviation over the training
        images at that position (``error_mean_``, ``error_std_``; the
        standard deviation floored at a tenth of its mean over the image), so
        that places where normal images are always hard to reconstruct
        (edges of objects, image borders) do not outshine a defect.
        ``"none"``: the raw squared error.
    smoothing_sigma : float, default=1.0
        Standard deviation, in pixels, of the Gaussian that smooths the
        (standardized) squared error into the anomaly map. 0 disables
        smoothing.
    score : {"max", "top_k", "mean"}, default="max"
        Image score from the anomaly map: its maximum, the mean of its
        ``top_k`` highest pixels, or its mean (the plain reconstruction error).
    top_k : float, default=0.01
        Fraction of pixels averaged by ``score="top_k"``.
    %(contamination)s
    %(image_shape)s
    %(channels_last)s
    max_epochs : int, default=5
        Passes over the training images (each sees fresh corruptions). With
        the other defaults, 6,000 images of 28x28 (or 1,000 of 64x64) train
        in about two minutes on one CPU thread beside another job (see
        ``docs/benchmarks/standard_protocol.md``); GPU users raise
        ``n_filters`` and ``max_epochs``.
    batch_size : int, default=16
        Images per step, for training and scoring. Small batches give more
        optimizer steps per epoch: on 1,000 texture crops, batches of 16 (315
        steps in 5 epochs, against 80 with batches of 64) localized better.
    lr : float, default=1e-3
        Initial learning rate.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"``: the learning rate decays from ``lr`` towards 0 along a
        cosine over the ``max_epochs`` epochs (stepped once per epoch). With
        the constant rate (``"constant"``, the earlier default) training ends
        at full step size and two Fashion-MNIST classes depended on the seed
        (T-shirt 0.795 ± 0.037 over seeds 0-2); the schedule removed most of
        that spread (``docs/benchmarks/self_supervised_ae_stability.md``).
        To use a scheduler of your own, pass ``"constant"`` and the scheduler
        in ``callbacks``.
    optimizer : torch optimizer class, default=torch.optim.Adam
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks, e.g. ``EarlyStopping``.
    %(device)s
    verbose : int, default=0
        Print the loss per epoch and a progress bar when > 0.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, batch order and the corruptions.

    Attributes
    ----------
    decision_scores_, threshold_, labels_, contamination_
        As in PyOD: scores, threshold and labels of the training images.
    image_shape_ : tuple of int
        ``(C, H, W)`` seen in ``fit``.
    module_ : RepairNetModule
        The trained network.
    error_mean_, error_std_ : ndarray of shape (H, W)
        Mean and standard deviation of the squared reconstruction error
        (mean over channels) of the training images at each pixel, used by
        ``map_normalization="standardize"``.
    net_ : skorch.NeuralNet
        The skorch net that trained it.
    history_ : skorch.History
        ``train_loss`` per epoch.
    device_ : str
        Device used.

    See Also
    --------
    skanomaly.ConvAutoEncoder : the plain autoencoder baseline.
    skanomaly.detectors.self_supervised_ae.corrupt : the corruption generator.

    References
    ----------
    A. Bauer, S. Nakajima, K.-R. Müller. Self-Supervised Training with
    Autoencoders for Visual Anomaly Detection. arXiv:2206.11723 (2022-2024);
    Mathematics 12(24):3988 (2024).

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import SelfSupervisedAE
    >>> X = np.random.default_rng(0).random((16, 8, 8)).astype("float32")
    >>> detector = SelfSupervisedAE(max_epochs=1, n_filters=4, random_state=0)
    >>> detector.fit(X).anomaly_map(X).shape
    (16, 8, 8)
    """

    #: Named settings (see :class:`~skanomaly.base.BaseImageDetector`):
    #: tiny networks for the common checks, 8x8 digits for the demo, and the
    #: benchmark's quick and full runs.
    _scoring_params = ("score", "top_k", "smoothing_sigma", "map_normalization")

    presets = {
        "test": dict(n_filters=4, depth=1, max_epochs=2),
        "demo": dict(
            n_filters=16, depth=2, max_epochs=30, batch_size=16, smoothing_sigma=0.5
        ),
        "quick": dict(n_filters=4, depth=1, max_epochs=2),
        "full": dict(n_filters=16, max_epochs=5),
    }

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "n_filters": [Interval(numbers.Integral, 1, None, closed="left")],
        "depth": [Interval(numbers.Integral, 0, 6, closed="both")],
        "dilations": [tuple, list],
        "n_bottleneck_blocks": [Interval(numbers.Integral, 0, None, closed="left")],
        "corruption_prob": [Interval(numbers.Real, 0, 1, closed="both")],
        "max_blobs": [Interval(numbers.Integral, 1, None, closed="left")],
        "blob_size": [tuple, list],
        "max_area": [Interval(numbers.Real, 0.01, 1, closed="both")],
        "opacity": [tuple, list],
        "pattern_sources": [tuple, list],
        "noise_std": [Interval(numbers.Real, 0, None, closed="left")],
        "corrupted_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "map_normalization": [StrOptions({"standardize", "none"})],
        "smoothing_sigma": [Interval(numbers.Real, 0, None, closed="left")],
        "score": [StrOptions({"max", "top_k", "mean"})],
        "top_k": [Interval(numbers.Real, 0, 1, closed="right")],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
    }

    def __init__(
        self,
        *,
        n_filters=16,
        depth=2,
        dilations=(1,),
        n_bottleneck_blocks=1,
        corruption_prob=0.9,
        max_blobs=3,
        blob_size=(0.06, 0.25),
        max_area=0.35,
        opacity=(0.3, 1.0),
        pattern_sources=PATTERN_SOURCES,
        noise_std=0.0,
        corrupted_weight=0.0,
        map_normalization="standardize",
        smoothing_sigma=1.0,
        score="max",
        top_k=0.01,
        contamination=0.1,
        image_shape=None,
        channels_last=None,
        max_epochs=5,
        batch_size=16,
        lr=1e-3,
        lr_schedule="cosine",
        optimizer=torch.optim.Adam,
        callbacks=None,
        device="auto",
        verbose=0,
        random_state=None,
    ):
        self.n_filters = n_filters
        self.depth = depth
        self.dilations = dilations
        self.n_bottleneck_blocks = n_bottleneck_blocks
        self.corruption_prob = corruption_prob
        self.max_blobs = max_blobs
        self.blob_size = blob_size
        self.max_area = max_area
        self.opacity = opacity
        self.pattern_sources = pattern_sources
        self.noise_std = noise_std
        self.corrupted_weight = corrupted_weight
        self.map_normalization = map_normalization
        self.smoothing_sigma = smoothing_sigma
        self.score = score
        self.top_k = top_k
        self.contamination = contamination
        self.image_shape = image_shape
        self.channels_last = channels_last
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    def _check_params(self, image_shape):
        def check_range(name, value, low, high):
            if (
                len(value) != 2
                or not all(isinstance(v, numbers.Real) for v in value)
                or not low <= value[0] <= value[1] <= high
            ):
                raise ValueError(
                    f"{name} must be a pair (low, high) with {low} <= low <= high "
                    f"<= {high}; got {value!r}."
                )

        check_range("blob_size", self.blob_size, 0.0, 1.0)
        check_range("opacity", self.opacity, 0.0, 1.0)
        unknown = set(self.pattern_sources) - set(PATTERN_SOURCES)
        if not self.pattern_sources or unknown:
            raise ValueError(
                f"pattern_sources must be a non-empty subset of {PATTERN_SOURCES}; "
                f"got {self.pattern_sources!r}."
            )
        if self.lr_schedule != "constant" and any(
            isinstance(cb, LRScheduler)
            or (isinstance(cb, tuple) and isinstance(cb[-1], LRScheduler))
            for cb in self.callbacks or ()
        ):
            raise ValueError(
                f"callbacks holds an LRScheduler while lr_schedule="
                f"{self.lr_schedule!r} schedules the learning rate too; pass "
                f"lr_schedule='constant' to use your own scheduler."
            )
        if not self.dilations or not all(
            isinstance(d, numbers.Integral) and d >= 1 for d in self.dilations
        ):
            raise ValueError(
                f"dilations must be a non-empty tuple of positive ints; got "
                f"{self.dilations!r}."
            )

    def _callbacks(self):
        callbacks = super()._callbacks()
        if self.lr_schedule == "cosine" and self.max_epochs > 0:
            schedule = LRScheduler(
                policy=torch.optim.lr_scheduler.CosineAnnealingLR,
                T_max=self.max_epochs,
            )
            callbacks.append(("lr_schedule", schedule))
        return callbacks

    def _build_module(self, image_shape):
        return RepairNetModule(
            in_channels=image_shape[0],
            n_filters=self.n_filters,
            depth=self.depth,
            dilations=tuple(self.dilations),
            n_bottleneck_blocks=self.n_bottleneck_blocks,
        )

    def _corrupt(self, X):
        """Corrupt a training batch with the detector's settings."""
        return corrupt(
            X,
            generator=self._generator,
            corruption_prob=self.corruption_prob,
            max_blobs=self.max_blobs,
            blob_size=tuple(self.blob_size),
            max_area=self.max_area,
            opacity=tuple(self.opacity),
            pattern_sources=tuple(self.pattern_sources),
            noise_std=self.noise_std,
        )

    def _training_loss(self, module, X):
        corrupted, target, masks = self._corrupt(X)
        if self.corrupted_weight == 0:
            return F.mse_loss(module(corrupted), target)
        weight = 1 + self.corrupted_weight * masks
        error = (module(corrupted) - target).pow(2)
        return (error * weight).mean() / weight.mean()

    @staticmethod
    def _squared_error(module, X):
        """Squared reconstruction error, mean over channels, ``(n, 1, H, W)``."""
        return (X - module(X)).pow(2).mean(dim=1, keepdim=True)

    def _fit_statistics(self, X):
        errors = self._batched(X, self._squared_error)[:, 0].astype(np.float64)
        self.error_mean_ = errors.mean(axis=0).astype(np.float32)
        self.error_std_ = errors.std(axis=0).astype(np.float32)

    def _anomaly_map_batch(self, module, X):
        error = self._squared_error(module, X)
        if self.map_normalization == "standardize":
            error = standardize_map(error, self.error_mean_, self.error_std_)
        return gaussian_blur(error, self.smoothing_sigma)[:, 0]

    def _score_and_map_batch(self, module, X, with_map):
        maps = self._anomaly_map_batch(module, X)
        flat = maps.flatten(1)
        if self.score == "max":
            scores = flat.amax(dim=1)
        elif self.score == "mean":
            scores = flat.mean(dim=1)
        else:
            k = max(1, int(round(self.top_k * flat.shape[1])))
            scores = flat.topk(k, dim=1).values.mean(dim=1)
        return scores, maps if with_map else None
