"""EncoderGAN: WGAN-GP with a simultaneously trained encoder, scored by latent norm."""

import inspect
import numbers

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ...base import (
    AnomalyMapMixin,
    BaseDeepDetector,
    ReconstructionMixin,
    register_detector,
    robust_location_scale,
)
from .._torch_utils import crop_to
from ._training import _EncoderGANNet
from .torch_model import EncoderGANModule

__all__ = ["EncoderGAN"]

#: The values of ``score``; :meth:`EncoderGAN.all_scores` returns each.
SCORES = ("latent_norm", "residual", "combined", "latent_gaussian")

#: Rounds of trimming of ``latent_fit="trimmed"``.
TRIM_ROUNDS = 3
#: Codes farther than ``median + TRIM_MADS * 1.4826 * MAD`` (of the training
#: codes' squared Mahalanobis distances) are left out of the next fit.
TRIM_MADS = 3.0


def trimmed_gaussian(codes, rounds=TRIM_ROUNDS, n_mads=TRIM_MADS):
    """Ledoit-Wolf Gaussian refitted without the codes far from the last fit.

    Each round computes every code's squared Mahalanobis distance to the
    current fit and refits on those at most ``median + n_mads * 1.4826 *
    MAD`` of these distances (a robust three-sigma rule, as
    ``contamination="auto"``). Returns the last fit and the boolean mask of
    the codes it was fitted on.
    """
    keep = np.ones(len(codes), dtype=bool)
    gaussian = LedoitWolf().fit(codes)
    for _ in range(rounds):
        centred = codes - gaussian.location_
        distance = ((centred @ gaussian.get_precision()) * centred).sum(axis=1)
        median, scale = robust_location_scale(distance)
        kept = distance <= median + n_mads * scale
        if kept.sum() <= codes.shape[1] or np.array_equal(kept, keep):
            break  # too few codes left to refit, or nothing changes
        keep = kept
        gaussian = LedoitWolf().fit(codes[keep])
    return gaussian, keep


def _mean_residual(module, x_net, code):
    """Mean absolute residual ``|x - G(E(x))|`` per image, in the network range."""
    error = (x_net - module.test_generator()(code)).abs().mean(dim=1)
    return crop_to(error, module.image_size).flatten(1).mean(dim=1)


@register_detector
class EncoderGAN(ReconstructionMixin, AnomalyMapMixin, BaseDeepDetector):
    """GAN with a simultaneously trained encoder, scored by the latent code's norm.

    After Berg, Ahlberg and Felsberg (arXiv 1905.11034): a generator, a critic
    and an encoder are trained in one loop, per batch one critic step (WGAN-GP
    with a drift term), one generator step and one encoder step. The encoder
    learns to invert the generator on *generated* images, with the image-space
    cycle loss ``|G(z) - G(E(G(z)))|_1`` applied to the encoder's weights only.
    The generator pixel-normalizes its input, so it ignores the length of a
    code; nothing constrains ``||E(x)||``, and the paper reports that, with the
    encoder trained at the same time as the GAN, this norm separates anomalies
    from normal images even when the training images are contaminated.

    What follows the official code: the losses (lambda = ``gp_weight`` = 10,
    gamma = 1, drift ``drift_weight`` = 1e-3), the step order, Adam with betas
    (0, 0.99), the prior ``z = 0.1 N(0, I)``, pixel normalization in the
    generator, the minibatch-stddev layer in the critic, the encoder's output
    ``LeakyReLU(Linear(.))``, the optional moving average of the generator, a
    [-1, 1] value range and zero padding of 28x28 images to 32x32, Progressive
    GAN's weight initialisation. What is the library's choice: no progressive
    growing and no equalized learning rate (fixed, small networks, ordinary
    parameters, lr 2e-4 by default); no minibatch-stddev layer in
    the encoder, so that an image's code and score do not depend on the other
    images of the batch; the sign-free latent-norm score (the paper's
    orientation of the norm could not be read); the residual, combined and
    latent-Gaussian scores, and the default score: the latent Gaussian, because
    at the budgets of a CPU (a few hundred iterations) the paper's latent norm
    scores below the same encoder left untrained (see ``docs/encoder_gan.md``).
    The defaults (``n_filters=8``, 3 epochs: 282 iterations on 6,000 images)
    are sized for a CPU; GPU users raise ``n_filters``, ``latent_dim`` and
    ``max_epochs``.

    Parameters
    ----------
    n_filters : int, default=8
        Channels at full resolution (32 or more on a GPU); doubled at each lower
        level, up to ``4 * n_filters``.
    latent_dim : int, default=128
        Size of the latent codes (512 in the paper).
    n_critic : int, default=1
        Critic steps per iteration, each on the iteration's batch of real
        images with fresh generated ones (1 in the official code).
    gp_weight : float, default=10.0
        Weight lambda of the gradient penalty (target norm gamma = 1).
    drift_weight : float, default=1e-3
        Weight of the drift term ``E[D(x)^2]`` that keeps the critic's outputs
        near zero.
    ema : float or None, default=None
        Decay of a moving average of the generator, updated after every
        generator step and used for reconstructions, residuals and
        :meth:`generate` (0.999 in the paper, which trains for millions of
        images). ``None``: use the trained generator. The latent-norm score
        uses the encoder only and does not depend on it.
    score : {"latent_gaussian", "latent_norm", "residual", "combined"}
        Default ``"latent_gaussian"``.
        ``"latent_norm"`` (the paper's): ``| ||E(x)||_2 - m | / s``, with ``m``
        the median and ``s`` 1.4826 times the median absolute deviation of the
        norms of the training images: sign-free, far from the typical norm on
        either side is abnormal. ``"residual"``: the mean absolute residual
        ``|x - G(E(x))|`` in the [-1, 1] range. ``"combined"``: the latent-norm score
        plus the residual standardized the same way, ``(r - m_r) / s_r`` with
        the training images' median and scaled MAD. ``"latent_gaussian"`` (the
        default; the library's addition, not the paper's): the squared
        Mahalanobis distance of ``E(x)`` to a Gaussian fitted on the training
        images' codes (see ``latent_fit``), which uses the whole code rather
        than its length. Higher is more abnormal for all four.
    latent_fit : {"trimmed", "ledoit_wolf"}, default="trimmed"
        How the Gaussian of ``score="latent_gaussian"`` is fitted on the
        training images' codes, always with Ledoit-Wolf shrinkage.
        ``"trimmed"`` (the library's choice, for training sets that hold
        anomalies, the paper's setting): fitted on all codes, then refitted
        up to 3 times without the codes whose squared Mahalanobis distance
        exceeds ``median + 3 * 1.4826 * MAD`` of the training codes'
        distances, so that the anomalies of a contaminated training set do
        not widen it. ``"ledoit_wolf"``: one fit on all codes, slightly
        better on clean training sets (see the docs' contamination results).
    encoder_training : {"simultaneous", "post_hoc"}, default="simultaneous"
        ``"simultaneous"``: the encoder is trained in the GAN's loop (the
        paper). ``"post_hoc"``: the GAN is trained first, for the same
        iterations, and the encoder afterwards on the frozen generator for as
        many iterations (the baseline of the paper's contamination experiment).
        The GAN is the same in both: the encoder draws its own random numbers.
    real_cycle_weight : float, default=0.0
        Weight of a second encoder loss on the *real* training images,
        ``|x - G(E(x))|_1``, added to the cycle loss on generated images (the
        library's departure, not the paper's: there the encoder only ever sees
        generated images). 0 trains the encoder as in the paper.
    betas : tuple of float, default=(0.0, 0.99)
        Adam's betas, as in the official code; passed to ``optimizer`` when it
        takes a ``betas`` argument.
    %(contamination)s
    %(image_shape)s
    %(channels_last)s
    max_epochs : int, default=3
        Passes over the training images; one iteration per batch, so
        ``max_epochs * ceil(n_samples / batch_size)`` iterations in all: 282
        on 6,000 images (the paper's networks see 12 million images).
        ``0`` scores the untrained networks.
    batch_size : int, default=64
        Images per iteration, and per step when scoring.
    lr : float, default=2e-4
        Learning rate of all three networks.
    optimizer : torch optimizer class, default=torch.optim.Adam
        One optimizer over the three networks; each step updates one network.
    callbacks : list of skorch callbacks, default=None
        E.g. ``LRScheduler``; they run in both phases of ``"post_hoc"``.
    %(device)s
    verbose : int, default=0
        Print the losses per epoch and a progress bar when > 0.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, batch order, the GAN's and the encoder's latents.

    Attributes
    ----------
    decision_scores_, threshold_, labels_, contamination_
        As in PyOD: scores, threshold and labels of the training images.
    latent_norm_median_, latent_norm_scale_ : float
        Median and 1.4826 * MAD of ``||E(x)||`` over the training images.
    latent_location_, latent_precision_ : ndarray
        Mean ``(latent_dim,)`` and shrunk inverse covariance
        ``(latent_dim, latent_dim)`` of all the training images' codes, for
        ``score="latent_gaussian"`` with ``latent_fit="ledoit_wolf"``.
    trimmed_location_, trimmed_precision_ : ndarray
        The same, fitted on the codes kept by ``latent_fit="trimmed"``.
    trimmed_fraction_ : float
        The fraction of the training images whose codes that fit kept.
    residual_median_, residual_scale_ : float
        The same for the residual score.
    image_shape_ : tuple of int
        ``(C, H, W)`` seen in ``fit``.
    module_ : EncoderGANModule
        The trained generator, critic and encoder.
    net_ : skorch.NeuralNet
        The skorch net that trained them.
    history_ : skorch.History
        Per epoch: ``train_loss`` (the encoder's cycle loss; the critic loss
        in the GAN phase of ``"post_hoc"``), ``d_loss``, ``g_loss``, ``e_loss``,
        ``gp`` and ``phase``. With ``"post_hoc"`` it holds the GAN's epochs,
        then the encoder's.
    device_ : str
        Device used.

    See Also
    --------
    skanomaly.ConvAutoEncoder : reconstruction-error baseline.

    Notes
    -----
    Inference runs on fixed-size chunks (the base class pads the last one),
    so that an image's score is bit-for-bit the same whichever images share
    its batch: the sign-free scores subtract a median, which would magnify
    the last-bit differences convolutions show across batch sizes.

    Images of any size from 8x8 work: they are mapped to [-1, 1] with the
    per-channel range of the training images, padded with -1 to
    ``base * 2**L`` (28x28 to 32x32) and cropped back; see
    :func:`~skanomaly.detectors.encoder_gan.n_levels_for`.

    References
    ----------
    A. Berg, J. Ahlberg, M. Felsberg. Unsupervised Learning of Anomaly
    Detection from Contaminated Image Data using Simultaneous Encoder
    Training. arXiv:1905.11034 (2019).

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import EncoderGAN
    >>> X = np.random.default_rng(0).random((16, 8, 8)).astype("float32")
    >>> detector = EncoderGAN(n_filters=4, latent_dim=8, max_epochs=1,
    ...                       random_state=0).fit(X)
    >>> detector.decision_function(X).shape, detector.generate(3).shape
    ((16,), (3, 1, 8, 8))
    """

    _logged_losses = ("d_loss", "g_loss", "e_loss", "gp")
    _scoring_params = ("score", "latent_fit")

    #: Named settings (see :class:`~skanomaly.base.BaseImageDetector`):
    #: tiny networks for the common checks, 8x8 digits for the demo, and the
    #: benchmark's quick and full runs.
    presets = {
        "test": dict(n_filters=4, latent_dim=8, max_epochs=2),
        "demo": dict(n_filters=8, latent_dim=32, max_epochs=17, batch_size=16, lr=1e-3),
        "quick": dict(n_filters=4, latent_dim=16, max_epochs=2),
        "full": dict(n_filters=8, latent_dim=128, batch_size=32, max_epochs=8, lr=2e-4),
    }

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "n_filters": [Interval(numbers.Integral, 1, None, closed="left")],
        "latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_critic": [Interval(numbers.Integral, 1, None, closed="left")],
        "gp_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "drift_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "ema": [None, Interval(numbers.Real, 0, 1, closed="left")],
        "score": [StrOptions(set(SCORES))],
        "latent_fit": [StrOptions({"trimmed", "ledoit_wolf"})],
        "encoder_training": [StrOptions({"simultaneous", "post_hoc"})],
        "real_cycle_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "betas": [tuple, list],
    }

    def __init__(
        self,
        *,
        n_filters=8,
        latent_dim=128,
        n_critic=1,
        gp_weight=10.0,
        drift_weight=1e-3,
        ema=None,
        score="latent_gaussian",
        latent_fit="trimmed",
        encoder_training="simultaneous",
        real_cycle_weight=0.0,
        betas=(0.0, 0.99),
        contamination=0.1,
        image_shape=None,
        channels_last=None,
        max_epochs=3,
        batch_size=64,
        lr=2e-4,
        optimizer=torch.optim.Adam,
        callbacks=None,
        device="auto",
        verbose=0,
        random_state=None,
    ):
        self.n_filters = n_filters
        self.latent_dim = latent_dim
        self.n_critic = n_critic
        self.gp_weight = gp_weight
        self.drift_weight = drift_weight
        self.ema = ema
        self.score = score
        self.latent_fit = latent_fit
        self.encoder_training = encoder_training
        self.real_cycle_weight = real_cycle_weight
        self.betas = betas
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
        if (
            len(self.betas) != 2
            or not all(
                isinstance(b, numbers.Real) and not isinstance(b, bool)
                for b in self.betas
            )
            or not all(0 <= b < 1 for b in self.betas)
        ):
            raise ValueError(
                f"betas must be a pair (beta1, beta2) of floats in [0, 1); got "
                f"{self.betas!r}."
            )

    def _build_module(self, image_shape):
        return EncoderGANModule(
            in_channels=image_shape[0],
            image_size=image_shape[1:],
            n_filters=self.n_filters,
            latent_dim=self.latent_dim,
            ema=self.ema,
        )

    def _optimizer_kwargs(self):
        try:
            takes_betas = "betas" in inspect.signature(self.optimizer).parameters
        except (TypeError, ValueError):  # pragma: no cover - C-implemented callables
            takes_betas = False
        return {"optimizer__betas": tuple(self.betas)} if takes_betas else {}

    def _fit_networks(self, X):
        module = self._new_module(self._build_module, self.image_shape_)
        module.set_input_range(X.min(axis=(0, 2, 3)), X.max(axis=(0, 2, 3)))
        net = self._make_net(
            module, len(X), net_class=_EncoderGANNet, **self._optimizer_kwargs()
        )
        net.n_critic = self.n_critic
        net.gp_weight = self.gp_weight
        net.drift_weight = self.drift_weight
        net.real_cycle_weight = self.real_cycle_weight
        net.gan_rng = self._generator
        net.encoder_rng = self._new_generator()
        try:
            if self.encoder_training == "simultaneous":
                net.phase = "joint"
                net.fit(X, None)
            else:
                net.phase = "gan"
                net.fit(X, None)
                net.phase = "encoder"
                net.partial_fit(X, None, epochs=len(net.history))
        finally:  # torch generators cannot be pickled
            net.gan_rng = net.encoder_rng = None
        self.net_ = net
        self.module_ = net.module_

    def _training_loss(self, module, X):  # pragma: no cover - see _EncoderGANNet
        raise NotImplementedError("EncoderGAN trains in _EncoderGANNet.train_step.")

    def _fit_statistics(self, X):
        # one pass over the training images: their codes and residuals
        stats = self._batched(X, self._code_and_residual).astype(np.float64)
        codes, residuals = stats[:, :-1], stats[:, -1]
        gaussian = LedoitWolf().fit(codes)
        self.latent_location_ = gaussian.location_
        self.latent_precision_ = gaussian.get_precision()
        trimmed, kept = trimmed_gaussian(codes)
        self.trimmed_location_ = trimmed.location_
        self.trimmed_precision_ = trimmed.get_precision()
        self.trimmed_fraction_ = float(kept.mean())
        self.latent_norm_median_, self.latent_norm_scale_ = robust_location_scale(
            np.linalg.norm(codes, axis=1)
        )
        self.residual_median_, self.residual_scale_ = robust_location_scale(residuals)

    # ---------------------------------------------------------------- scoring
    @staticmethod
    def _code_and_residual(module, X):
        """``(n, latent_dim + 1)``: ``E(x)`` and the mean absolute residual."""
        x_net = module.to_network(X)
        code = module.encoder(x_net)
        return torch.cat([code, _mean_residual(module, x_net, code)[:, None]], dim=1)

    def _score_columns(self, module, X, residual=True):
        """``(n, 5)``: the scores of :data:`SCORES`, then the raw latent norm.

        Without ``residual`` the generator is not run and the residual and
        combined columns are NaN.
        """
        x_net = module.to_network(X)
        code = module.encoder(x_net)
        norm = code.norm(dim=1)
        if residual:
            error = _mean_residual(module, x_net, code)
        else:
            error = torch.full_like(norm, float("nan"))
        if self.latent_fit == "trimmed":
            location, precision = self.trimmed_location_, self.trimmed_precision_
        else:
            location, precision = self.latent_location_, self.latent_precision_
        location = torch.as_tensor(location, device=code.device)
        precision = torch.as_tensor(precision, device=code.device)
        centred = code.double() - location
        gaussian = ((centred @ precision) * centred).sum(dim=1).to(norm.dtype)
        latent = (norm - self.latent_norm_median_).abs() / self.latent_norm_scale_
        combined = latent + (error - self.residual_median_) / self.residual_scale_
        return torch.stack([latent, error, combined, gaussian, norm], dim=1)

    def _score_batch(self, module, X):
        residual = self.score in ("residual", "combined")
        columns = self._score_columns(module, X, residual=residual)
        return columns[:, SCORES.index(self.score)]

    def _anomaly_map_batch(self, module, X):
        return module.residual_map(X)

    def _reconstruct_batch(self, module, X):
        return module(X)

    def all_scores(self, X):
        """Every score option of one fitted detector, plus the raw latent norm.

        ``decision_function(X)`` equals ``all_scores(X)[self.score]``; this
        computes the encoding and the reconstruction once for all options,
        for example to compare them without fitting three times.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        scores : dict of str to ndarray of shape (n_samples,)
            ``"latent_norm"``, ``"residual"``, ``"combined"``,
            ``"latent_gaussian"`` (higher = more abnormal), and
            ``"latent_norm_raw"``, ``||E(x)||_2`` itself, whose direction is
            not an anomaly score by itself.
        """
        X = self._check_images(X)
        columns = self._batched(X, self._score_columns).astype(np.float64)
        return dict(zip((*SCORES, "latent_norm_raw"), columns.T))

    def encode(self, X):
        """Latent codes ``E(x)`` of the images.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        codes : ndarray of shape (n_samples, latent_dim)
        """
        X = self._check_images(X)
        return self._batched(X, lambda module, x: module.encode(x))

    def generate(self, n_samples, random_state=None):
        """Images drawn from the generator, ``G(z)`` with ``z = 0.1 N(0, I)``.

        Parameters
        ----------
        n_samples : int
            Number of images.
        random_state : int, RandomState instance or None, default=None
            Seeds the latents.

        Returns
        -------
        images : ndarray of shape (n_samples, C, H, W)
            In the range and size of the training images (channels first).
        """
        check_is_fitted(self, ["module_"])
        if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int; got {n_samples!r}.")
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        rng = torch.Generator(device=self.device_).manual_seed(seed)
        module = self.module_
        module.eval()
        images = []
        with torch.inference_mode():
            for start in range(0, n_samples, self.batch_size):
                n = min(self.batch_size, n_samples - start)
                z = module.sample_latent(n, generator=rng)
                images.append(module.generate(z).float().cpu().numpy())
        return np.concatenate(images, axis=0)
