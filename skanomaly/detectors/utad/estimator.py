"""UTAD: unsupervised two-stage anomaly detection (arXiv 2103.11671)."""

import numbers

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ...base import (
    AnomalyMapMixin,
    BaseDeepDetector,
    ReconstructionMixin,
    register_detector,
)
from .._torch_utils import (
    gaussian_blur,
    knn_scores,
    pad_to_multiple,
    standardize_map,
)
from .expert_net import ExpertGenerator, ExpertNet
from .impression_net import ImpressionNet
from .losses import ImpressionTrainer, expert_loss, impression_loss
from .torch_model import UTADModule, euclidean

__all__ = ["UTAD"]


@register_detector
class UTAD(ReconstructionMixin, AnomalyMapMixin, BaseDeepDetector):
    """Two-stage anomaly detection: anomaly-free impression, then faithful detail.

    A coarse reconstruction flags normal detail as anomalous; a faithful one
    copies the anomaly. UTAD (Liu, Zhuang and Lu, arXiv 2103.11671) avoids
    both in two stages trained one after the other inside ``fit``:

    1. the **IE-Net**, a low-capacity inception encoder-decoder, learns to
       reconstruct normal images into a coarse, anomaly-free *impression*;
    2. the **Expert-Net**, two AdaIN autoencoders trained on the pairs
       (image, impression) of the training set, restores the detail: the
       reconstruction takes its *content* from the impression and only a
       small *global* detail code from the input, so it is faithful to
       normal detail but cannot copy a local anomaly.

    The anomaly map combines the residuals of the input against the
    reconstruction and against the "naive impressions" (the input's own
    content rendered as an impression), minus the differences the Expert-Net
    explains (reconstruction vs impression) and the variance of the
    reconstruction over sampled detail codes. Scores point the PyOD way:
    higher means more abnormal. The intermediate images are part of the API:
    :meth:`impression` and :meth:`reconstruct`.

    What follows the released code: inception blocks and the IE-Net layout
    (reduced), the info head with its KL prior, the MUNIT-style Expert-Net
    (content and 4-stage global detail encoders, AdaIN decoder, reflection
    padding), ``K`` sampled detail codes and the residual combination of its
    post-processing (with its min-max renormalization of the Expert-Net
    outputs as an option, ``renormalize``). What is this library's choice
    (the released code has no training loop and no image-level score): the
    loss forms inferred from its configuration, the paired reconstruction
    term, computing the map in float on [0, 1] with ``variance_weight=1``
    and without renormalization by default, a CPU-sized network, Adam with
    one learning rate for both stages, the image score (maximum of the
    smoothed map, or the k-NN distance in the IE-Net's latent space), and
    the adversarial and mutual-information terms being off by default. See
    ``docs/utad.md``.

    Parameters
    ----------
    stages : {1, 2}, default=2
        ``2`` trains both stages and scores with the two-stage map. ``1``
        trains only the IE-Net and uses the impression's residual
        ``(x - m)**2`` as the map: the ablation. Read again when scoring, so
        that a detector fitted with ``stages=2`` can be scored as its own
        first stage with ``set_params(stages=1)`` (the same IE-Net as a fit
        with ``stages=1`` and the same seed).
    impression_filters : tuple of int, default=(4, 8, 16)
        Branch widths of the IE-Net's inception blocks, shallow to deep. Its
        length is the number of 2x poolings before the bottleneck.
    impression_channels : int, default=16
        Channels of the IE-Net's bottleneck. The bottleneck holds
        ``impression_channels * H * W / 4 ** len(impression_filters)``
        values (256 at 32x32, 1,024 at 64x64): small, so that the impression
        stays coarse.
    impression_latent_dim : int, default=16
        Size of the Gaussian code of the IE-Net's info head (KL prior,
        latent k-NN score).
    impression_epochs : int, default=None
        Epochs of stage 1; ``None`` uses ``max_epochs``.
    recon_weight : float, default=100.0
        Weight of the IE-Net's mean squared reconstruction error.
    kl_weight : float, default=0.1
        Weight of ``KL(N(mu, sigma^2) || N(0, I))`` on the info head.
    adversarial_weight : float, default=0.0
        Weight of the least-squares GAN term of a two-scale image
        discriminator on impressions; the released configuration uses 0.1.
        ``0`` builds no discriminator.
    mi_local_weight, mi_global_weight : float, default=0.0
        Weights of the Deep-InfoMax terms between the latent mean and the
        deepest encoder features, per position and pooled; the released
        configuration uses 1.5 and 0.5. ``0`` builds no critic.
    discriminator_lr : float, default=1e-4
        Learning rate of the image discriminator.
    expert_dim : int, default=8
        Channels of the Expert-Net's first convolutions (the released code
        uses 64).
    expert_n_downsample : int, default=1
        Stride-2 stages of the content encoders.
    expert_n_res : int, default=1
        Residual blocks in the content encoders and the decoders.
    detail_dim : int, default=8
        Size of the global detail code.
    expert_mlp_dim : int, default=64
        Hidden units of the MLP that maps a detail code to AdaIN parameters.
    expert_epochs : int, default=None
        Epochs of stage 2; ``None`` uses ``max_epochs``.
    expert_recon_weight : float, default=10.0
        Weight of the within-domain L1 reconstructions.
    paired_weight : float, default=10.0
        Weight of the paired term ``|Dec_i(Enc^c_m(m), Enc^s_i(x)) - x|_1``.
    latent_recon_weight : float, default=0.0
        Weight of the latent (content and detail code) reconstruction of
        translations with random detail codes (MUNIT's, released weight 1);
        ``0`` skips them, which saves about a third of stage 2's time. The
        default map does not translate with random codes; the naive
        impressions of ``combination="released"`` do.
    n_detail_samples : int, default=4
        Number of detail codes sampled for the naive impressions and the
        reconstruction variance (released: 10).
    detail_jitter : float, default=0.1
        Standard deviation of the noise added to the input's detail code to
        sample reconstructions.
    combination : {"reconstruction", "released"}, default="reconstruction"
        The two-stage map. ``"reconstruction"``: the residual of the
        high-fidelity reconstruction less its variance over the sampled
        detail codes, ``max(0, R(x, x_hat) - variance_weight * Var(x_hat))``.
        ``"released"``: the combination of the released post-processing,
        which also adds the residual of the naive impressions and subtracts
        the difference between reconstruction and impression,
        ``max(0, R(x, x_hat) + R(x, m_hat) - variance_weight * Var(x_hat)
        - R(x_hat, m))``; on the texture defects and on Fashion-MNIST its
        extra terms make the map worse than the reconstruction residual
        alone (see ``docs/utad.md``).
    variance_weight : float, default=1.0
        Weight of the reconstruction variance subtracted in the map.
    renormalize : bool, default=False
        Min-max renormalize each sampled reconstruction to the range of the
        impression, and each naive impression to the range of the input, per
        image and channel, before the residuals, as the released
        post-processing does. Off by default: here both networks are trained
        on the same [0, 1] scale as the input, so their outputs need no
        rescaling, and the stretch to the coarse impression's range adds
        residuals of its own (see ``docs/utad.md``).
    map_normalization : {"standardize", "none"}, default="standardize"
        ``"standardize"``: before smoothing, the map of each pixel is
        standardized by its mean and standard deviation over the training
        images at that position (``map_mean_``, ``map_std_``; the standard
        deviation floored at a tenth of its mean over the image), so that
        places every normal image reconstructs badly (image borders, object
        edges) do not outshine a defect. ``"none"``: the raw map.
    smoothing_sigma : float, default=2.0
        Standard deviation, in pixels, of the Gaussian that smooths the map
        (0 disables it).
    score : {"max", "latent_knn"}, default="max"
        Image score: the maximum of the smoothed map, or the mean distance of
        the IE-Net's latent mean to its ``n_neighbors`` nearest training
        latents (the training images' latents include their own, so their
        scores, and ``threshold_``, come out lower than for unseen images).
    n_neighbors : int, default=5
        Neighbours of ``score="latent_knn"``.
    %(contamination)s
    %(image_shape)s
    %(channels_last)s
    max_epochs : int, default=2
        Epochs of each stage unless ``impression_epochs``/``expert_epochs``
        are given. Sized for about two minutes of fit on 1,000 texture crops
        of 64x64 on two CPU cores (see ``docs/utad.md`` for the measured
        times); on a GPU, raise it with the network's width.
    batch_size : int, default=32
        Images per step, for training and scoring.
    lr : float, default=1e-3
        Learning rate of both stages.
    optimizer : torch optimizer class, default=torch.optim.Adam
    callbacks : list of skorch callbacks, default=None
        Copied to each stage's net.
    %(device)s
    verbose : int, default=0
        Print the losses per epoch and a progress bar when > 0.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, batch order, the random detail codes of
        training and the detail codes sampled for scoring.

    Attributes
    ----------
    decision_scores_, threshold_, labels_, contamination_
        As in PyOD: scores, threshold and labels of the training images.
    image_shape_ : tuple of int
        ``(C, H, W)`` seen in ``fit``.
    map_kinds_ : tuple of str
        The maps whose statistics are stored: ``"impression"`` (the first
        stage's map) and, with ``stages=2``, ``"reconstruction"`` and
        ``"released"`` (the two ``combination`` options).
    map_mean_, map_std_ : ndarray of shape (n_kinds, H, W)
        Per-pixel mean and standard deviation of the training images'
        unsmoothed maps of each kind (``n_kinds = len(map_kinds_)``), at
        the ``variance_weight`` and ``renormalize`` of the fit. Used by
        ``map_normalization="standardize"``.
    module_ : UTADModule
        Both trained stages (``module_.impression_net``,
        ``module_.expert_net``) and the inference computations.
    impression_net_ : skorch.NeuralNet
        The net that trained the IE-Net (stage 1).
    expert_net_ : skorch.NeuralNet or None
        The net that trained the Expert-Net (stage 2); ``None`` when fitted
        with ``stages=1``.
    net_ : skorch.NeuralNet
        The last stage's net: ``expert_net_``, or ``impression_net_`` with
        ``stages=1``.
    impression_history_ : skorch.History
        Stage 1 per epoch: ``train_loss``, ``impression_recon``,
        ``impression_kl`` and, when enabled, ``impression_adversarial``,
        ``impression_discriminator``, ``impression_mi``.
    history_ : skorch.History
        History of ``net_``; with ``stages=2``, stage 2: ``train_loss``,
        ``expert_recon``, ``expert_paired``, ``expert_latent``.
    device_ : str
        Device used.

    See Also
    --------
    skanomaly.ConvAutoEncoder : a single-stage reconstruction baseline.
    skanomaly.SelfSupervisedAE : repairs anomalies instead of never seeing them.

    References
    ----------
    Y. Liu, C. Zhuang, F. Lu. Unsupervised Two-Stage Anomaly Detection.
    arXiv:2103.11671 (2021). Code: github.com/DreamtaleCore/UTAD.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import UTAD
    >>> X = np.random.default_rng(0).random((16, 16, 16)).astype("float32")
    >>> detector = UTAD(max_epochs=1, impression_filters=(4, 4), expert_dim=4,
    ...                 n_detail_samples=2, random_state=0).fit(X)
    >>> detector.anomaly_map(X).shape, detector.impression(X).shape
    ((16, 16, 16), (16, 1, 16, 16))
    """

    #: Named settings (see :class:`~skanomaly.base.BaseImageDetector`):
    #: tiny networks for the common checks, 8x8 digits for the demo, and the
    #: benchmark's quick and full runs.
    presets = {
        "test": dict(impression_filters=(4, 4), expert_dim=4, max_epochs=2),
        "demo": dict(
            impression_filters=(8, 16),
            impression_channels=4,
            expert_dim=8,
            max_epochs=20,
            batch_size=16,
            smoothing_sigma=0.5,
        ),
        "quick": dict(impression_filters=(4, 4), expert_dim=4, max_epochs=2),
        "full": dict(
            impression_filters=(4, 8, 16),
            expert_dim=8,
            n_detail_samples=4,
            batch_size=32,
            max_epochs=6,
        ),
    }

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "stages": [Interval(numbers.Integral, 1, 2, closed="both")],
        "impression_filters": [tuple, list],
        "impression_channels": [Interval(numbers.Integral, 1, None, closed="left")],
        "impression_latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "impression_epochs": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "recon_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "kl_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "adversarial_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "mi_local_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "mi_global_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "discriminator_lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "expert_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "expert_n_downsample": [Interval(numbers.Integral, 0, 3, closed="both")],
        "expert_n_res": [Interval(numbers.Integral, 0, None, closed="left")],
        "detail_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "expert_mlp_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "expert_epochs": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "expert_recon_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "paired_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "latent_recon_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "n_detail_samples": [Interval(numbers.Integral, 2, None, closed="left")],
        "detail_jitter": [Interval(numbers.Real, 0, None, closed="left")],
        "combination": [StrOptions({"reconstruction", "released"})],
        "variance_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "renormalize": ["boolean"],
        "map_normalization": [StrOptions({"standardize", "none"})],
        "smoothing_sigma": [Interval(numbers.Real, 0, None, closed="left")],
        "score": [StrOptions({"max", "latent_knn"})],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    #: Two skorch nets train two networks: the benchmark cannot score a
    #: half-trained UTAD (see ``run_benchmark(checkpoints=...)``).
    _checkpointable = False
    #: ``variance_weight`` and ``renormalize`` change the maps whose training
    #: statistics ``fit`` stores (``map_mean_``, ``map_std_``): they are not
    #: scoring parameters.
    _scoring_params = (
        "stages",
        "score",
        "n_neighbors",
        "combination",
        "map_normalization",
        "smoothing_sigma",
    )

    _logged_losses = (
        "impression_recon",
        "impression_kl",
        "impression_adversarial",
        "impression_discriminator",
        "impression_mi",
        "expert_recon",
        "expert_paired",
        "expert_latent",
    )

    def __init__(
        self,
        *,
        stages=2,
        impression_filters=(4, 8, 16),
        impression_channels=16,
        impression_latent_dim=16,
        impression_epochs=None,
        recon_weight=100.0,
        kl_weight=0.1,
        adversarial_weight=0.0,
        mi_local_weight=0.0,
        mi_global_weight=0.0,
        discriminator_lr=1e-4,
        expert_dim=8,
        expert_n_downsample=1,
        expert_n_res=1,
        detail_dim=8,
        expert_mlp_dim=64,
        expert_epochs=None,
        expert_recon_weight=10.0,
        paired_weight=10.0,
        latent_recon_weight=0.0,
        n_detail_samples=4,
        detail_jitter=0.1,
        combination="reconstruction",
        variance_weight=1.0,
        renormalize=False,
        map_normalization="standardize",
        smoothing_sigma=2.0,
        score="max",
        n_neighbors=5,
        contamination=0.1,
        image_shape=None,
        channels_last=None,
        max_epochs=2,
        batch_size=32,
        lr=1e-3,
        optimizer=torch.optim.Adam,
        callbacks=None,
        device="auto",
        verbose=0,
        random_state=None,
    ):
        self.stages = stages
        self.impression_filters = impression_filters
        self.impression_channels = impression_channels
        self.impression_latent_dim = impression_latent_dim
        self.impression_epochs = impression_epochs
        self.recon_weight = recon_weight
        self.kl_weight = kl_weight
        self.adversarial_weight = adversarial_weight
        self.mi_local_weight = mi_local_weight
        self.mi_global_weight = mi_global_weight
        self.discriminator_lr = discriminator_lr
        self.expert_dim = expert_dim
        self.expert_n_downsample = expert_n_downsample
        self.expert_n_res = expert_n_res
        self.detail_dim = detail_dim
        self.expert_mlp_dim = expert_mlp_dim
        self.expert_epochs = expert_epochs
        self.expert_recon_weight = expert_recon_weight
        self.paired_weight = paired_weight
        self.latent_recon_weight = latent_recon_weight
        self.n_detail_samples = n_detail_samples
        self.detail_jitter = detail_jitter
        self.combination = combination
        self.variance_weight = variance_weight
        self.renormalize = renormalize
        self.map_normalization = map_normalization
        self.smoothing_sigma = smoothing_sigma
        self.score = score
        self.n_neighbors = n_neighbors
        self.contamination = contamination
        self.image_shape = image_shape
        self.channels_last = channels_last
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    # ---------------------------------------------------------------- fitting
    def _check_params(self, image_shape):
        filters = self.impression_filters
        if (
            len(filters) == 0
            or len(filters) > 6
            or not all(
                isinstance(f, numbers.Integral) and not isinstance(f, bool) and f > 0
                for f in filters
            )
        ):
            raise ValueError(
                "impression_filters must be a tuple of 1 to 6 positive ints (the "
                f"inception widths, shallow to deep); got {filters!r}."
            )

    def _multiple(self):
        """Sides are padded to a multiple of this for both stages."""
        return max(
            2 ** len(self.impression_filters),
            2 ** max(self.expert_n_downsample, ExpertGenerator.detail_downsample),
        )

    def _impression_loss(self, module, X):
        x = pad_to_multiple(X, self._multiple())
        return impression_loss(
            module,
            x,
            recon_weight=self.recon_weight,
            kl_weight=self.kl_weight,
            adversarial_weight=self.adversarial_weight,
            mi_local_weight=self.mi_local_weight,
            mi_global_weight=self.mi_global_weight,
        )

    def _expert_loss(self, module, X):
        channels = X.shape[1] // 2
        return expert_loss(
            module,
            2 * X[:, :channels] - 1,
            2 * X[:, channels:] - 1,
            generator=self._generator,
            recon_weight=self.expert_recon_weight,
            paired_weight=self.paired_weight,
            latent_weight=self.latent_recon_weight,
        )

    def _fit_networks(self, X):
        low, high = float(X.min()), float(X.max())
        scale = high - low if high > low else 1.0

        # stage 1: the IE-Net, on the training images mapped to [0, 1]
        trainer = self._new_module(
            lambda: ImpressionTrainer(
                self._impression_net(),
                adversarial=self.adversarial_weight > 0,
                mi_local=self.mi_local_weight > 0,
                mi_global=self.mi_global_weight > 0,
            )
        )
        extra = {}
        if trainer.discriminator is not None:
            extra["optimizer__param_groups"] = [
                ("discriminator.*", {"lr": self.discriminator_lr})
            ]
        self.impression_net_ = self._make_net(trainer, len(X), **extra)
        self.impression_net_.max_epochs = self.impression_epochs or self.max_epochs
        self.impression_net_.loss_fn = self._impression_loss
        self.impression_net_.fit((X - low) / scale, None)
        self.impression_history_ = self.impression_net_.history
        impression_net = self.impression_net_.module_.net

        expert = None
        if self.stages == 2:
            expert = self._new_module(self._expert_net)
        # the sampled detail codes are drawn on the CPU, whatever the device
        codes = self._new_generator("cpu")
        self.module_ = self._utad_module(
            impression_net, expert, data_min=low, data_scale=scale, generator=codes
        ).to(self.device_)
        if expert is None:
            self.expert_net_ = None
            self.net_ = self.impression_net_
            return

        # stage 2: the Expert-Net, on (image, impression) pairs, both padded
        pairs = self._batched(X, lambda module, x: torch.cat(module.prepare(x), 1))
        self.expert_net_ = self._make_net(expert, len(X))
        self.expert_net_.max_epochs = self.expert_epochs or self.max_epochs
        self.expert_net_.loss_fn = self._expert_loss
        self.expert_net_.fit(pairs, None)
        self.module_.expert_net = self.expert_net_.module_
        self.net_ = self.expert_net_

    def _impression_net(self):
        return ImpressionNet(
            self.image_shape_[0],
            filters=tuple(self.impression_filters),
            latent_channels=self.impression_channels,
            latent_dim=self.impression_latent_dim,
        )

    def _expert_net(self):
        return ExpertNet(
            self.image_shape_[0],
            dim=self.expert_dim,
            n_downsample=self.expert_n_downsample,
            n_res=self.expert_n_res,
            detail_dim=self.detail_dim,
            mlp_dim=self.expert_mlp_dim,
        )

    def _utad_module(self, impression, expert, **kwargs):
        return UTADModule(
            impression,
            expert,
            multiple=self._multiple(),
            n_detail_samples=self.n_detail_samples,
            detail_jitter=self.detail_jitter,
            **kwargs,
        )

    def _module_for_loading(self):
        expert = self._expert_net() if self.stages == 2 else None
        return self._utad_module(self._impression_net(), expert)

    def _map_kind(self):
        return "impression" if self.stages == 1 else self.combination

    def _fit_statistics(self, X):
        latents = self._batched(X, lambda module, x: module.latent_mean(x))
        with torch.inference_mode(False):
            self.module_.train_latents = torch.tensor(latents, device=self.device_)
        kinds = ["impression"]
        if self.module_.expert_net is not None:
            kinds += ["reconstruction", "released"]

        def maps(module, x):
            found = module.anomaly_maps(
                x, kinds, self.variance_weight, self.renormalize
            )
            return torch.cat([found[kind] for kind in kinds], dim=1)

        raw = self._batched(X, maps)
        self.map_kinds_ = tuple(kinds)
        self.map_mean_ = raw.mean(axis=0, dtype=np.float64).astype(np.float32)
        self.map_std_ = raw.std(axis=0, dtype=np.float64).astype(np.float32)
        # the training scores reuse these maps instead of a second pass
        if self._map_kind() in kinds:
            self._training_maps = raw[:, kinds.index(self._map_kind())]

    # ---------------------------------------------------------------- scoring
    def _training_scores(self, X):
        maps = self.__dict__.pop("_training_maps", None)
        if self.score != "latent_knn":
            if maps is None:
                return super()._training_scores(X)
            return self._batched(
                maps[:, None],
                lambda module, raw: self._finish_map(raw).flatten(1).amax(dim=1),
            ).astype(np.float64)
        # each training latent is its own nearest neighbour: leave it out, as
        # PyOD's KNN does, so that threshold_ means something
        latents = self.module_.train_latents
        with torch.inference_mode():
            scores = knn_scores(
                latents,
                latents,
                self.n_neighbors,
                euclidean,
                self.batch_size,
                leave_out_self=True,
            )
        return scores.float().cpu().numpy().astype(np.float64)

    def _check_scoring(self):
        if self.stages not in (1, 2):
            raise ValueError(f"stages must be 1 or 2; got {self.stages!r}.")
        if self.stages == 2 and self.module_.expert_net is None:
            raise ValueError(
                "This detector was fitted with stages=1, so its Expert-Net was "
                "not trained. Refit with stages=2, or score with stages=1."
            )

    def _finish_map(self, maps):
        """Standardize (``map_normalization``) and smooth raw maps ``(n, 1, H, W)``."""
        if self.map_normalization == "standardize":
            i = self.map_kinds_.index(self._map_kind())
            maps = standardize_map(maps, self.map_mean_[i], self.map_std_[i])
        return gaussian_blur(maps, self.smoothing_sigma)[:, 0]

    def _anomaly_map_batch(self, module, X):
        maps = module.anomaly_map(
            X,
            stages=self.stages,
            variance_weight=self.variance_weight,
            renormalize=self.renormalize,
            combination=self.combination,
        )
        return self._finish_map(maps)

    def _score_batch(self, module, X):
        if self.score == "latent_knn":
            return module.latent_knn_distance(X, self.n_neighbors)
        return self._anomaly_map_batch(module, X).flatten(1).amax(dim=1)

    def _score_and_map_batch(self, module, X, with_map):
        if self.score == "latent_knn" or not with_map:
            return super()._score_and_map_batch(module, X, with_map)
        maps = self._anomaly_map_batch(module, X)
        return maps.flatten(1).amax(dim=1), maps

    def anomaly_map(self, X, return_scores=False):
        """Per-pixel anomaly map of each image, higher = more abnormal.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.
        return_scores : bool, default=False
            Also return the images' scores (``decision_function(X)``), from
            the same pass of the networks.

        Returns
        -------
        maps : ndarray of shape (n_samples, H, W)
            The smoothed map ``e`` (or, with ``stages=1``, the smoothed
            squared residual of the impression), at the input's size, on the
            scale of images mapped to [0, 1] by the training set's range.
        scores : ndarray of shape (n_samples,)
            Only with ``return_scores=True``.
        """
        return super().anomaly_map(X, return_scores=return_scores)

    def impression(self, X):
        """Return the IE-Net's impression of each image: coarse and anomaly-free.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        impressions : ndarray of shape (n_samples, C, H, W)
            Channels-first, in the value range of the training images.
        """
        X = self._check_images(X)
        return self._batched(X, lambda module, x: module.impression(x))

    def _reconstruct_batch(self, module, X):
        return module.reconstruct(X)

    def reconstruct(self, X):
        """Return the Expert-Net's high-fidelity reconstruction of each image.

        Content from the image's impression, detail from its global detail
        code (without jitter).

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        reconstructions : ndarray of shape (n_samples, C, H, W)
            Channels-first, in the value range of the training images.
        """
        return super().reconstruct(X)

    def latent_mean(self, X):
        """Mean of the IE-Net's latent Gaussian for each image.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        latents : ndarray of shape (n_samples, impression_latent_dim)
        """
        X = self._check_images(X)
        return self._batched(X, lambda module, x: module.latent_mean(x)).astype(
            np.float32
        )
