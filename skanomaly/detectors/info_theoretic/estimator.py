"""InfoTheoreticAD: maximize I(X; Z) while minimizing H(Z) on normal images."""

import math
import numbers

import numpy as np
import torch
from sklearn.base import clone
from sklearn.covariance import LedoitWolf, ShrunkCovariance
from sklearn.utils._param_validation import Interval, StrOptions

from ...base import BaseDeepDetector, register_detector
from .._torch_utils import knn_scores
from .augment import AUGMENTATIONS, N_TRANSFORMS, augment, transform
from .loss import (
    compactness_entropy,
    entropy_floor,
    gaussian_entropy,
    infonce_bound,
    reconstruction_bound,
    transformation_bound,
)
from .torch_model import InfoTheoreticModule

__all__ = ["InfoTheoreticAD"]


@register_detector
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

    The default bound on the information is the Barber-Agakov bound of a
    reconstruction: a decoder, the critic, reconstructs the image from ``Z``,
    and ``E log q(x | z)`` of the Gaussian it defines bounds ``I(X; Z)`` up to
    the constant ``H(X)``. The critic reads ``Z`` through a Gaussian channel,
    ``Z + N(0, entropy_eps I)``, the same noise that floors the entropy
    estimate: the information and the entropy are about the same variable,
    and since ``Z`` has unit norm, shrinking its spread to lower the entropy
    leaves the critic with noise and costs information. Two other bounds are
    one parameter away: the transformation-prediction bound (a linear critic
    predicts which of four rotations an image was given, bounding
    ``I(T; Z)``; the entropy is then that of the codes around the mean of
    their own rotation, ``H(Z | T)``, and the score sums one Gaussian per
    rotation) and InfoNCE over augmented views.

    What follows the paper: the objective, its two terms, the surrogate tasks
    as special cases (``beta=0``), and a score that is low where the normal
    representations concentrate. What is this library's own instantiation
    (the paper's estimators, architecture and score could not be consulted):
    the rotation, InfoNCE and Gaussian-decoder bounds on ``I(X; Z)``, the
    noise channel, the Gaussian and isotropic (compactness) upper bounds on
    ``H(Z)``, the encoder, the augmentations and the Mahalanobis and k-NN
    scores. See ``docs/info_theoretic.md``.

    Per training batch the loss is ``-mi_bound + beta * entropy``, shifted by
    constants so that it is non-negative; both estimates are logged, so
    ``history_[:, "mi_bound"]`` and ``history_[:, "entropy"]`` show the two
    terms move, epoch by epoch.

    Parameters
    ----------
    mi_estimator : {"reconstruction", "rotation", "infonce"}, \
            default="reconstruction"
        Lower bound on ``I(X; Z)``. ``"rotation"``: ``log(4) - CE`` of a
        linear critic that predicts which of the four rotations by multiples
        of 90 degrees an (augmented) image was given (non-square images: the
        identity, the two flips and the half turn). ``"infonce"``: InfoNCE
        (NT-Xent) over two augmented views of each image,
        ``log(2B - 1) - L_NCE`` nats per image for batches of ``B`` images.
        ``"reconstruction"``: the Barber-Agakov bound ``E log q(x | z)`` of a
        Gaussian decoder from the code, whose standard deviation is that of
        the training pixels, in nats per pixel and without the constant
        ``H(X) / D`` (the images are not augmented). On the standard
        Fashion-MNIST protocol the reconstruction bound scored highest of the
        three at the lowest cost (``docs/benchmarks/info_theoretic_ablation.md``).
    temperature : float, default=0.2
        Temperature of InfoNCE.
    beta : float, default=0.01
        Weight of the entropy term; ``0`` is the pure surrogate task. The
        information bound is at most ``log(4)`` nats with ``"rotation"``
        while the entropy of ``d``-dimensional codes spans tens of nats, so
        useful values are small.
    entropy_estimator : {"gaussian", "compactness"}, default="gaussian"
        Upper bound on ``H(Z)`` computed on each training batch of codes:
        ``"gaussian"`` is ``1/2 log det(2 pi e (Sigma + entropy_eps I))`` with
        ``Sigma`` the batch covariance (with ``"rotation"``, pooled around
        each rotation's mean); ``"compactness"`` only uses the mean squared
        distance of the codes to their centre (the isotropic Gaussian of that
        spread), a looser bound.
    entropy_eps : float, default=1e-3
        Variance of the Gaussian channel through which the critic reads
        ``Z`` while training, added to the covariance's diagonal: the floor
        below which a direction of the codes no longer lowers the entropy
        estimate, and no longer carries information to the critic.
    n_filters : int, default=8
        Channels of the encoder's first stage, doubled at every stage. The
        default is sized for a CPU (well under two minutes of training on
        the 6,000 images of a Fashion-MNIST class); raise it on a GPU.
    depth : int, default=3
        Encoder stages; ``Z`` has ``n_filters * 2 ** (depth - 1)`` dimensions.
    projection_dim : int, default=32
        Output size of the projection head that compares views for InfoNCE
        (part of the critic, not of ``Z``).
    augmentations : "auto" or tuple of str, default="auto"
        Random views for InfoNCE and, before the rotations, for
        ``"rotation"``; any of ``"crop"``, ``"affine"``, ``"flip"``,
        ``"jitter"``, ``"noise"`` (see
        :func:`skanomaly.detectors.info_theoretic.augment`). ``"auto"``:
        ``("crop", "affine", "noise")`` for InfoNCE, which needs two
        different views, and none for ``"rotation"`` (measured on
        Fashion-MNIST, these views lower its ROC AUC by 0.02 to 0.03) and
        ``"reconstruction"`` (which never augments). No flip in either:
        digits and clothes have an orientation.
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
        default estimator bounds. With ``"rotation"``, one Gaussian per
        rotation, fitted on the rotated training images, and the score is the
        sum of the four distances of the rotated image. ``"knn"``: mean
        cosine distance of the (unrotated) image's ``z`` to the
        ``n_neighbors`` nearest training codes (for the training images' own
        scores, each image is left out of its neighbours, as in PyOD).
    shrinkage : float in [0, 1] or "auto", default="auto"
        Shrinkage of the covariance toward a multiple of the identity for
        ``score="mahalanobis"``; ``"auto"`` is the Ledoit-Wolf estimate.
    n_neighbors : int, default=1
        Neighbours averaged by ``score="knn"``; fewer than the training
        images.
    %(contamination)s
    %(image_shape)s
    %(channels_last)s
    max_epochs : int, default=5
        Passes over the training images (each draws fresh views): about 470
        optimizer steps on 6,000 images. ``0`` scores the untrained network.
    batch_size : int, default=64
        Images per training step. The entropy is estimated on the codes of a
        batch's views (``4 * batch_size`` for ``"rotation"``, ``2 *
        batch_size`` for InfoNCE), so they must outnumber the dimensions of
        ``Z`` (``fit`` raises otherwise).
    lr : float, default=1e-3
        Learning rate.
    optimizer : torch optimizer class, default=torch.optim.Adam
    callbacks : list of skorch callbacks, default=None
        E.g. ``LRScheduler(policy="CosineAnnealingLR", T_max=max_epochs)``.
    %(device)s
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
        The trained network.
    net_ : skorch.NeuralNet
        The skorch net that trained it.
    history_ : skorch.History
        Per epoch: ``train_loss``, ``mi_bound`` and ``entropy`` (means over
        the epoch's batches).
    location_ : ndarray of shape (n_gaussians, n_dims)
        Mean of the training codes (``score="mahalanobis"``), per rotation
        (four Gaussians with ``"rotation"``, one otherwise).
    precision_ : ndarray of shape (n_gaussians, n_dims, n_dims)
        Inverse of their shrunk covariance (``score="mahalanobis"``).
    shrinkage_ : float
        Shrinkage used (``score="mahalanobis"``), the mean over the Gaussians.
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

    #: Named settings (see :class:`~skanomaly.base.BaseImageDetector`):
    #: tiny networks for the common checks, 8x8 digits for the demo, and the
    #: benchmark's quick and full runs.
    presets = {
        "test": dict(n_filters=4, depth=2, projection_dim=4, max_epochs=2),
        "demo": dict(n_filters=8, depth=2, max_epochs=34, batch_size=32),
        "quick": dict(n_filters=4, depth=2, projection_dim=4, max_epochs=2),
        "full": dict(max_epochs=20),
    }

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "mi_estimator": [StrOptions({"rotation", "infonce", "reconstruction"})],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "entropy_estimator": [StrOptions({"gaussian", "compactness"})],
        "entropy_eps": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_filters": [Interval(numbers.Integral, 1, None, closed="left")],
        "depth": [Interval(numbers.Integral, 1, 6, closed="both")],
        "projection_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "augmentations": [StrOptions({"auto"}), tuple, list],
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
    _scoring_params = ("score", "n_neighbors")

    def __init__(
        self,
        *,
        mi_estimator="reconstruction",
        temperature=0.2,
        beta=0.01,
        entropy_estimator="gaussian",
        entropy_eps=1e-3,
        n_filters=8,
        depth=3,
        projection_dim=32,
        augmentations="auto",
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
        max_epochs=5,
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
        augmentations = self._augmentations()
        unknown = set(augmentations) - set(AUGMENTATIONS)
        if unknown or (self.mi_estimator == "infonce" and not augmentations):
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
        # the batch covariance of the entropy estimate must have full rank
        views = {"rotation": N_TRANSFORMS, "infonce": 2, "reconstruction": 1}
        groups = N_TRANSFORMS if self.mi_estimator == "rotation" else 1
        dof = views[self.mi_estimator] * self.batch_size - groups
        code_dim = self.n_filters * 2 ** (self.depth - 1)
        if self.entropy_estimator == "gaussian" and dof <= code_dim:
            raise ValueError(
                f"batch_size={self.batch_size} gives the entropy estimate {dof} "
                f"degrees of freedom for codes of {code_dim} dimensions "
                "(n_filters * 2 ** (depth - 1)), so its covariance is singular; "
                "raise batch_size or lower n_filters or depth."
            )
        if self.score == "knn" and self.n_neighbors >= len(X):
            raise ValueError(
                f"n_neighbors={self.n_neighbors} needs more training images than "
                f"neighbours (each is left out of its own); got {len(X)} images."
            )
        # standard deviation of q(x | z) for the reconstruction bound: that of
        # the training pixels, so that predicting their mean costs 1/2 nat
        self.reconstruction_scale_ = max(float(X.std()), 1e-3)
        super()._fit_networks(X)

    def _augmentations(self):
        """Return the views' augmentations, with ``"auto"`` resolved."""
        if isinstance(self.augmentations, str):
            if self.mi_estimator == "infonce":
                return ("crop", "affine", "noise")
            return ()
        return tuple(self.augmentations)

    def _augment(self, X):
        augmentations = self._augmentations()
        if not augmentations:
            return X
        return augment(
            X,
            generator=self._generator,
            augmentations=augmentations,
            crop_scale=tuple(self.crop_scale),
            max_rotation=self.max_rotation,
            max_translation=self.max_translation,
            noise_std=self.noise_std,
        )

    def _entropy(self, z):
        if self.entropy_estimator == "gaussian":
            return gaussian_entropy(z, self.entropy_eps)
        return compactness_entropy(z, self.entropy_eps)

    def _channel(self, z):
        """``z`` seen through the Gaussian channel ``z + N(0, entropy_eps I)``.

        The critic reads this noisy code, whose entropy the estimators bound
        (the ``eps`` of :func:`gaussian_entropy` is this noise's variance):
        both terms of the objective are about the same variable, and since
        ``z`` has unit norm, shrinking its spread to lower the entropy leaves
        the critic with noise, and costs information.
        """
        noise = torch.randn(
            z.shape, generator=self._generator, device=z.device, dtype=z.dtype
        )
        return z + math.sqrt(self.entropy_eps) * noise

    def _training_loss(self, module, X):
        """``-I_bound(X; Z) + beta * H_bound(Z)`` of one batch, and both terms.

        Shifted by constants (the largest value of the MI bound, the smallest
        of the entropy bound) so that the loss is non-negative, as skorch's
        relative early stopping expects; the gradients are unchanged.
        """
        if self.mi_estimator == "rotation":
            n = len(X)
            views = torch.cat(
                [transform(self._augment(X), t) for t in range(N_TRANSFORMS)]
            )
            z = module(views)
            labels = torch.arange(N_TRANSFORMS, device=X.device).repeat_interleave(n)
            mi_bound = transformation_bound(module.classify(self._channel(z)), labels)
            mi_max = math.log(N_TRANSFORMS)
            # H(Z | T): the codes' spread around the mean of their own
            # transformation, pooled over the four (4B - 4 degrees of freedom)
            groups = z.view(N_TRANSFORMS, n, -1)
            groups = (groups - groups.mean(dim=1, keepdim=True)).reshape(
                1, -1, z.shape[1]
            )
        elif self.mi_estimator == "infonce":
            z = module(torch.cat([self._augment(X), self._augment(X)], dim=0))
            p1, p2 = module.project(self._channel(z)).chunk(2, dim=0)
            mi_bound = infonce_bound(p1, p2, self.temperature)
            mi_max = math.log(2 * len(p1) - 1)
            groups = z[None]
        else:
            z = module(X)
            scale = self.reconstruction_scale_
            mi_bound = reconstruction_bound(X, module.decode(self._channel(z)), scale)
            mi_max = -0.5 * math.log(2 * math.pi * scale**2)
            groups = z[None]
        # with beta = 0 the entropy is only watched, not trained on
        if self.beta == 0:
            groups = groups.detach()
        entropy = torch.stack([self._entropy(g) for g in groups]).mean()
        loss = mi_max - mi_bound
        if self.beta > 0:
            floor = entropy_floor(z.shape[1], self.entropy_eps)
            loss = loss + self.beta * (entropy - floor)
        return loss, {"mi_bound": mi_bound.item(), "entropy": entropy.item()}

    def _score_transforms(self):
        """Return the transformations scored: all of them with the rotation bound."""
        return range(N_TRANSFORMS if self.mi_estimator == "rotation" else 1)

    def _fit_statistics(self, X):
        codes = [
            self._batched(X, _transformed_encoder(t)).astype(np.float64)
            for t in self._score_transforms()
        ]
        if self.score == "knn":
            self.train_codes_ = codes[0]
            return
        if self.shrinkage == "auto":
            gaussians = [LedoitWolf().fit(c) for c in codes]
        else:
            shrunk = ShrunkCovariance(shrinkage=self.shrinkage)
            gaussians = [clone(shrunk).fit(c) for c in codes]
        self.location_ = np.stack([g.location_ for g in gaussians])
        self.precision_ = np.stack([g.get_precision() for g in gaussians])
        self.shrinkage_ = float(
            np.mean([getattr(g, "shrinkage_", self.shrinkage) for g in gaussians])
        )

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
        if self.score == "knn":
            reps = _encode(module, X).double()
            train = torch.as_tensor(self.train_codes_, device=reps.device)
            return knn_scores(
                reps, train, self.n_neighbors, _cosine_distance, reps.shape[0]
            )
        scores = 0.0
        for t in self._score_transforms():
            # codes in float32, the distance in float64 (precision_ can be
            # ill-conditioned)
            reps = _encode(module, transform(X, t)).double()
            location = torch.as_tensor(self.location_[t], device=reps.device)
            precision = torch.as_tensor(self.precision_[t], device=reps.device)
            centred = reps - location
            scores = scores + ((centred @ precision) * centred).sum(dim=1)
        return scores

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
    """Codes of a batch."""
    return module(X)


def _transformed_encoder(index):
    """``fn(module, X)``: codes of the images transformed by ``index``."""

    def encode(module, X):
        return _encode(module, transform(X, index))

    return encode


def _cosine_distance(a, b):
    """``1 - cos`` between rows of unit-norm codes."""
    return 1.0 - a @ b.T
