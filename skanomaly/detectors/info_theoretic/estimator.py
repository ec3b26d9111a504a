"""InfoTheoreticAD: maximize I(X; Z) while minimizing H(Z) on normal images."""

import math
import numbers

import numpy as np
import torch
from sklearn.covariance import ledoit_wolf_shrinkage
from sklearn.utils._param_validation import Interval, StrOptions

from ...base import BaseDeepDetector, knn_scores
from .augment import AUGMENTATIONS, augment
from .loss import (
    compactness_entropy,
    entropy_floor,
    gaussian_entropy,
    infonce_bound,
    reconstruction_bound,
)
from .torch_model import InfoTheoreticModule

__all__ = ["InfoTheoreticAD"]


class InfoTheoreticAD(BaseDeepDetector):
    """Representation learning that trades ``I(X; Z)`` against ``H(Z)``.

    Ye, Zheng, Huang and Zhang (arXiv 2012.04837) start from the direct goal
    of anomaly detection, separating normal and anomalous data in the joint
    distribution of images and representations, and show that under a
    separability assumption an unsupervised lower bound of it is

        ``I(X; Z) - beta * H(Z)``

    for representations ``Z`` of normal images: keep the information about
    the image (high mutual information) while concentrating normal
    representations (low entropy). Surrogate tasks such as reconstruction or
    contrastive learning only bound the first term; the paper's direction of
    improvement is to penalize the second one explicitly. This detector
    trains an encoder on normal images with that objective and scores images
    by how unlikely their representation is under the normal ones. Here
    ``Z`` is the encoder's unit-norm feature vector (see :meth:`encode`),
    and the same ``Z`` is trained, penalized and scored.

    What follows the paper: the objective, its two terms, the surrogate tasks
    as special cases (``beta=0``), and a score that is low where the normal
    representations concentrate. What is this library's own instantiation
    (the paper's estimators, architecture and score could not be consulted):
    the InfoNCE and Gaussian-decoder bounds on ``I(X; Z)``, the Gaussian and
    isotropic (compactness) upper bounds on ``H(Z)``, the encoder, the
    augmentations and the Mahalanobis and k-NN scores. See
    ``docs/info_theoretic.md``.

    Per training batch the loss is ``-mi_bound + beta * entropy``, shifted by
    constants so that it is non-negative; both estimates are logged, so
    ``history_[:, "mi_bound"]`` and ``history_[:, "entropy"]`` show the two
    terms move, epoch by epoch.

    Parameters
    ----------
    mi_estimator : {"infonce", "reconstruction"}, default="infonce"
        Lower bound on ``I(X; Z)``. ``"infonce"``: InfoNCE (NT-Xent) over two
        augmented views of each image, ``log(2B - 1) - L_NCE`` nats per image
        for batches of ``B`` images. ``"reconstruction"``: the Barber-Agakov
        bound ``E log q(x | z)`` of a Gaussian decoder from the code, whose
        standard deviation is that of the training pixels, in nats per pixel
        and without the constant ``H(X) / D`` (the images are not augmented).
    temperature : float, default=0.2
        Temperature of InfoNCE.
    beta : float, default=0.1
        Weight of the entropy term; ``0`` is the pure surrogate task.
    entropy_estimator : {"gaussian", "compactness"}, default="gaussian"
        Upper bound on ``H(Z)`` computed on each training batch of codes:
        ``"gaussian"`` is ``1/2 log det(2 pi e (Sigma + entropy_eps I))`` with
        ``Sigma`` the batch covariance; ``"compactness"`` only uses the mean
        squared distance of the codes to their centre (the isotropic
        Gaussian of that spread), a looser bound.
    entropy_eps : float, default=1e-3
        Added to the covariance's diagonal: the floor below which a direction
        of the codes no longer lowers the entropy estimate.
    n_filters : int, default=32
        Channels of the encoder's first stage, doubled at every stage.
    depth : int, default=3
        Encoder stages; ``Z`` has ``n_filters * 2 ** (depth - 1)`` dimensions.
    projection_dim : int, default=32
        Output size of the projection head that compares views for InfoNCE
        (part of the critic, not of ``Z``).
    augmentations : tuple of str, default=("crop", "affine", "noise")
        Views for InfoNCE, any of ``"crop"``, ``"affine"``, ``"flip"``,
        ``"jitter"``, ``"noise"`` (see
        :func:`skanomaly.detectors.info_theoretic.augment`). No flip by
        default: digits and clothes have an orientation.
    crop_scale : tuple of float, default=(0.7, 1.0)
        Range of the area fraction kept by ``"crop"``.
    max_rotation : float, default=10.0
        Largest rotation of ``"affine"``, in degrees.
    max_translation : float, default=0.1
        Largest shift of ``"affine"``, as a fraction of the side.
    noise_std : float, default=0.05
        Standard deviation of ``"noise"``.
    score : {"mahalanobis", "knn"}, default="mahalanobis"
        ``"mahalanobis"``: squared Mahalanobis distance of ``z`` to the mean
        of the training codes, with a shrunk covariance: minus the
        log-density, up to constants, of the Gaussian whose entropy the
        default estimator bounds. ``"knn"``: mean cosine distance to the
        ``n_neighbors`` nearest training codes (for the training images' own
        scores, each image is left out of its neighbours, as in PyOD).
    shrinkage : float in [0, 1] or "auto", default="auto"
        Shrinkage of the covariance toward a multiple of the identity for
        ``score="mahalanobis"``; ``"auto"`` is the Ledoit-Wolf estimate.
    n_neighbors : int, default=1
        Neighbours averaged by ``score="knn"``; fewer than the training
        images.
    contamination : float in (0, 0.5], "auto" or thresholder, default=0.1
        Expected proportion of outliers in the training images; sets
        ``threshold_`` (PyOD's convention). ``"auto"``: median + 3 robust
        standard deviations of the training scores.
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)`` for flattened ``(n, D)`` input.
    channels_last : bool, default=None
        Layout of 4-D input; ``None`` infers it when unambiguous.
    max_epochs : int, default=30
        Passes over the training images (each draws fresh views).
    batch_size : int, default=64
        Images per step, for training and scoring. InfoNCE contrasts the
        ``2 * batch_size`` views of a batch, and the entropy is estimated on
        them, so it should stay above the dimension of ``Z``.
    lr : float, default=1e-3
        Learning rate.
    optimizer : torch optimizer class, default=torch.optim.Adam
    callbacks : list of skorch callbacks, default=None
        E.g. ``LRScheduler(policy="CosineAnnealingLR", T_max=max_epochs)``.
    device : str or torch.device, default="auto"
        ``"auto"`` picks CUDA when available; the device used is ``device_``.
    verbose : int, default=0
        Print the loss, MI bound and entropy per epoch when > 0.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, batch order and the augmentations.

    Attributes
    ----------
    decision_scores_, threshold_, labels_, contamination_
        As in PyOD: scores, threshold and labels of the training images.
    image_shape_ : tuple of int
        ``(C, H, W)`` seen in ``fit``.
    module_ : InfoTheoreticModule
        The trained network, kept in float64 for scoring (pass it float64
        images to use it directly).
    net_ : skorch.NeuralNet
        The skorch net that trained it.
    history_ : skorch.History
        Per epoch: ``train_loss``, ``mi_bound`` and ``entropy`` (means over
        the epoch's batches).
    location_ : ndarray of shape (n_dims,)
        Mean of the training codes (``score="mahalanobis"``).
    precision_ : ndarray of shape (n_dims, n_dims)
        Inverse of their shrunk covariance (``score="mahalanobis"``).
    shrinkage_ : float
        Shrinkage used (``score="mahalanobis"``).
    train_codes_ : ndarray of shape (n_samples, n_dims)
        Codes of the training images (``score="knn"``).
    reconstruction_scale_ : float
        Standard deviation of the training pixels (at least 1e-3), that of
        ``q(x | z)`` for ``mi_estimator="reconstruction"``.
    device_ : str
        Device used.

    See Also
    --------
    skanomaly.ConvAutoEncoder : a reconstruction baseline scored by its
        reconstruction error.
    skanomaly.detectors.info_theoretic.gaussian_entropy : the entropy
        estimate, usable on any batch of codes.

    Notes
    -----
    Scores follow PyOD: higher means more abnormal. An image's score does not
    depend on the other images scored with it (batch norm uses its running
    statistics at scoring time).

    References
    ----------
    F. Ye, H. Zheng, C. Huang, Y. Zhang. Deep Unsupervised Image Anomaly
    Detection: An Information Theoretic Framework. arXiv:2012.04837 (2020);
    ICIP 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import InfoTheoreticAD
    >>> X = np.random.default_rng(0).random((32, 8, 8)).astype("float32")
    >>> detector = InfoTheoreticAD(max_epochs=1, n_filters=4, random_state=0)
    >>> detector.fit(X).decision_function(X).shape
    (32,)
    >>> sorted(set(detector.history_[0].keys()) & {"mi_bound", "entropy"})
    ['entropy', 'mi_bound']
    """

    #: Settings of ``skanomaly.benchmark`` for its quick and full presets (the
    #: full one is that of ``benchmarks/info_theoretic.py``).
    benchmark_presets = {
        "quick": dict(n_filters=4, depth=2, projection_dim=4, max_epochs=2),
        "full": dict(n_filters=16, max_epochs=5),
    }

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "mi_estimator": [StrOptions({"infonce", "reconstruction"})],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "entropy_estimator": [StrOptions({"gaussian", "compactness"})],
        "entropy_eps": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_filters": [Interval(numbers.Integral, 1, None, closed="left")],
        "depth": [Interval(numbers.Integral, 1, 6, closed="both")],
        "projection_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "augmentations": [tuple, list],
        "crop_scale": [tuple, list],
        "max_rotation": [Interval(numbers.Real, 0, 180, closed="both")],
        "max_translation": [Interval(numbers.Real, 0, 1, closed="both")],
        "noise_std": [Interval(numbers.Real, 0, None, closed="left")],
        "score": [StrOptions({"mahalanobis", "knn"})],
        "shrinkage": [
            Interval(numbers.Real, 0, 1, closed="both"),
            StrOptions({"auto"}),
        ],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    _logged_losses = ("mi_bound", "entropy")

    def __init__(
        self,
        *,
        mi_estimator="infonce",
        temperature=0.2,
        beta=0.1,
        entropy_estimator="gaussian",
        entropy_eps=1e-3,
        n_filters=32,
        depth=3,
        projection_dim=32,
        augmentations=("crop", "affine", "noise"),
        crop_scale=(0.7, 1.0),
        max_rotation=10.0,
        max_translation=0.1,
        noise_std=0.05,
        score="mahalanobis",
        shrinkage="auto",
        n_neighbors=1,
        contamination=0.1,
        image_shape=None,
        channels_last=None,
        max_epochs=30,
        batch_size=64,
        lr=1e-3,
        optimizer=torch.optim.Adam,
        callbacks=None,
        device="auto",
        verbose=0,
        random_state=None,
    ):
        self.mi_estimator = mi_estimator
        self.temperature = temperature
        self.beta = beta
        self.entropy_estimator = entropy_estimator
        self.entropy_eps = entropy_eps
        self.n_filters = n_filters
        self.depth = depth
        self.projection_dim = projection_dim
        self.augmentations = augmentations
        self.crop_scale = crop_scale
        self.max_rotation = max_rotation
        self.max_translation = max_translation
        self.noise_std = noise_std
        self.score = score
        self.shrinkage = shrinkage
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

    # ------------------------------------------------------------- validation
    def _check_params(self, image_shape):
        unknown = set(self.augmentations) - set(AUGMENTATIONS)
        if unknown or (self.mi_estimator == "infonce" and not self.augmentations):
            raise ValueError(
                f"augmentations must be a non-empty tuple of names from "
                f"{AUGMENTATIONS}; got {self.augmentations!r}."
            )
        low_high = self.crop_scale
        if (
            len(low_high) != 2
            or not all(isinstance(v, numbers.Real) for v in low_high)
            or not 0 < low_high[0] <= low_high[1] <= 1
        ):
            raise ValueError(
                "crop_scale must be a pair (low, high) with 0 < low <= high <= 1; "
                f"got {self.crop_scale!r}."
            )

    # ---------------------------------------------------------------- fitting
    def _build_module(self, image_shape):
        return InfoTheoreticModule(
            in_channels=image_shape[0],
            image_size=image_shape[1:],
            n_filters=self.n_filters,
            depth=self.depth,
            projection_dim=self.projection_dim,
            decoder=self.mi_estimator == "reconstruction",
        )

    def _fit_networks(self, X):
        if self.score == "knn" and self.n_neighbors >= len(X):
            raise ValueError(
                f"n_neighbors={self.n_neighbors} needs more training images than "
                f"neighbours (each is left out of its own); got {len(X)} images."
            )
        # standard deviation of q(x | z) for the reconstruction bound: that of
        # the training pixels, so that predicting their mean costs 1/2 nat
        self.reconstruction_scale_ = max(float(X.std()), 1e-3)
        self._generator = torch.Generator(device=self.device_)
        self._generator.manual_seed(self.rng_seed_)
        try:
            super()._fit_networks(X)
        finally:
            del self._generator
        # Score in float64. The Mahalanobis distance magnifies float32
        # round-off, which differs with the batch size (convolution kernels
        # are chosen per shape), by the inverse spread of the codes; in
        # float64 an image's score no longer depends on the batch it is in.
        self.module_.double()

    def _augment(self, X):
        return augment(
            X,
            generator=self._generator,
            augmentations=tuple(self.augmentations),
            crop_scale=tuple(self.crop_scale),
            max_rotation=self.max_rotation,
            max_translation=self.max_translation,
            noise_std=self.noise_std,
        )

    def _entropy(self, z):
        if self.entropy_estimator == "gaussian":
            return gaussian_entropy(z, self.entropy_eps)
        return compactness_entropy(z, self.entropy_eps)

    def _training_loss(self, module, X):
        """``-I_bound(X; Z) + beta * H_bound(Z)`` of one batch, and both terms.

        Shifted by constants (the largest value of the MI bound, the smallest
        of the entropy bound) so that the loss is non-negative, as skorch's
        relative early stopping expects; the gradients are unchanged.
        """
        if self.mi_estimator == "infonce":
            z = module(torch.cat([self._augment(X), self._augment(X)], dim=0))
            p1, p2 = module.project(z).chunk(2, dim=0)
            mi_bound = infonce_bound(p1, p2, self.temperature)
            mi_max = math.log(2 * len(p1) - 1)
        else:
            z = module(X)
            scale = self.reconstruction_scale_
            mi_bound = reconstruction_bound(X, module.decode(z), scale)
            mi_max = -0.5 * math.log(2 * math.pi * scale**2)
        # with beta = 0 the entropy is only watched, not trained on
        entropy = self._entropy(z if self.beta > 0 else z.detach())
        loss = mi_max - mi_bound
        if self.beta > 0:
            floor = entropy_floor(z.shape[1], self.entropy_eps)
            loss = loss + self.beta * (entropy - floor)
        return loss, {"mi_bound": mi_bound.item(), "entropy": entropy.item()}

    def _after_training(self, X):
        reps = self._batched(X, _encode).astype(np.float64)
        if self.score == "knn":
            self.train_codes_ = reps
            return
        self.location_ = reps.mean(axis=0)
        centred = reps - self.location_
        covariance = centred.T @ centred / max(len(reps) - 1, 1)
        if self.shrinkage == "auto":
            self.shrinkage_ = float(
                ledoit_wolf_shrinkage(centred, assume_centered=True)
            )
        else:
            self.shrinkage_ = float(self.shrinkage)
        d = covariance.shape[0]
        target = np.trace(covariance) / d
        identity = np.eye(d)
        shrunk = (
            1 - self.shrinkage_
        ) * covariance + self.shrinkage_ * target * identity
        # a tiny ridge keeps the inverse defined when every feature is constant
        shrunk += 1e-10 * max(target, 1.0) * identity
        self.precision_ = np.linalg.pinv(shrunk, hermitian=True)

    # ---------------------------------------------------------------- scoring
    def _training_scores(self, X):
        if self.score != "knn":
            return super()._training_scores(X)
        # each training image is its own nearest neighbour: leave it out, as
        # PyOD's KNN does, so that threshold_ means something
        train = torch.as_tensor(self.train_codes_)
        scores = knn_scores(
            train,
            train,
            self.n_neighbors,
            _cosine_distance,
            self.batch_size,
            leave_out_self=True,
        )
        return scores.numpy()

    def _score_batch(self, module, X):
        reps = _encode(module, X)
        if self.score == "knn":
            train = torch.as_tensor(self.train_codes_, device=reps.device)
            return knn_scores(
                reps, train, self.n_neighbors, _cosine_distance, len(reps)
            )
        location = torch.as_tensor(self.location_, device=reps.device)
        precision = torch.as_tensor(self.precision_, device=reps.device)
        centred = reps - location
        return ((centred @ precision) * centred).sum(dim=1)

    def encode(self, X):
        """Representation ``z`` of each image: the unit-norm features.

        ``z`` is what the objective is about (its entropy is penalized) and
        what the detector scores.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        codes : ndarray of shape (n_samples, n_filters * 2 ** (depth - 1))
        """
        return self._batched(self._check_images(X), _encode)


def _encode(module, X):
    """Codes of a batch with the (float64, after training) module."""
    return module(X.to(next(module.parameters()).dtype))


def _cosine_distance(a, b):
    """``1 - cos`` between rows of unit-norm codes."""
    return 1.0 - a @ b.T
