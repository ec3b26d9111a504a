"""ConvAutoEncoder: the reference reconstruction-error detector."""

import numbers

import torch
from sklearn.utils._param_validation import Interval

from ...base import (
    AnomalyMapMixin,
    BaseDeepDetector,
    ReconstructionMixin,
    register_detector,
)
from .._torch_utils import squared_error_map
from .torch_model import ConvAutoEncoderModule

__all__ = ["ConvAutoEncoder"]


@register_detector
class ConvAutoEncoder(ReconstructionMixin, AnomalyMapMixin, BaseDeepDetector):
    """Convolutional autoencoder scored by its reconstruction error.

    The autoencoder is trained to reproduce normal training images through a
    ``latent_dim``-dimensional bottleneck. Images it has not learned to
    reproduce, anomalies among them, come back with a larger error. This is
    the classic deep baseline that the paper detectors in skanomaly are meant
    to beat, and the template they follow: an estimator here and a plain
    PyTorch module in :mod:`~skanomaly.detectors.conv_autoencoder.torch_model`.

    Parameters
    ----------
    n_filters : int, default=32
        Channels of the first convolution stage; doubled at every stage.
    depth : int, default=2
        Number of stages that halve the resolution. Images whose sides are not
        multiples of ``2 ** depth`` are padded inside the network.
    latent_dim : int, default=32
        Size of the bottleneck code. Smaller codes restrict the autoencoder
        more, so that it is less able to reproduce anomalies, but also less
        able to reproduce fine normal detail.
    %(contamination)s
    %(image_shape)s
    %(channels_last)s
    max_epochs : int, default=10
        Passes over the training images: about 940 optimizer steps on 6,000
        images. ``0`` scores the untrained network.
    batch_size : int, default=64
        Images per training step, and per step when scoring.
    lr : float, default=1e-3
        Learning rate.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Optimizer, as in skorch.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks, e.g. ``EarlyStopping(monitor="train_loss")``
        or ``LRScheduler``. They are copied at ``fit``.
    %(device)s
    verbose : int, default=0
        Print a table of the loss per epoch and a progress bar when > 0.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation and batch order. Two fits with the same
        integer give the same scores on CPU. The global random state of torch
        and numpy is left as it was.

    Attributes
    ----------
    decision_scores_ : ndarray of shape (n_samples,)
        Outlier scores of the training images (higher = more abnormal).
    threshold_ : float
        Scores above it are labelled outliers by :meth:`predict`.
    labels_ : ndarray of shape (n_samples,)
        0/1 labels of the training images.
    contamination_ : float
        Fraction of training images labelled outliers.
    image_shape_ : tuple of int
        ``(C, H, W)`` of the training images.
    n_features_in_ : int
        ``C * H * W``.
    module_ : ConvAutoEncoderModule
        The trained network.
    net_ : skorch.NeuralNet
        The skorch net that trained it.
    history_ : skorch.History
        Training history (``train_loss`` per epoch).
    device_ : str
        Device the network lives on.

    See Also
    --------
    pyod.models.auto_encoder.AutoEncoder : PyOD's dense autoencoder for
        tabular data.

    Notes
    -----
    The image score is the mean squared reconstruction error over pixels and
    channels; :meth:`anomaly_map` is the squared error per pixel, averaged
    over channels.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import ConvAutoEncoder
    >>> X = np.random.default_rng(0).random((32, 8, 8)).astype("float32")
    >>> detector = ConvAutoEncoder(max_epochs=1, depth=1, random_state=0).fit(X)
    >>> detector.decision_function(X).shape
    (32,)
    """

    #: Named settings (see :class:`~skanomaly.base.BaseImageDetector`):
    #: tiny networks for the common checks, 8x8 digits for the demo, and the
    #: benchmark's quick and full runs.
    presets = {
        "test": dict(n_filters=4, depth=2, latent_dim=4, max_epochs=2),
        "demo": dict(n_filters=16, depth=3, latent_dim=8, max_epochs=50, batch_size=16),
        "quick": dict(n_filters=8, latent_dim=8, max_epochs=2),
        "full": dict(max_epochs=40),
    }

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "n_filters": [Interval(numbers.Integral, 1, None, closed="left")],
        "depth": [Interval(numbers.Integral, 1, 6, closed="both")],
        "latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_filters=32,
        depth=2,
        latent_dim=32,
        contamination=0.1,
        image_shape=None,
        channels_last=None,
        max_epochs=10,
        batch_size=64,
        lr=1e-3,
        optimizer=torch.optim.Adam,
        callbacks=None,
        device="auto",
        verbose=0,
        random_state=None,
    ):
        self.n_filters = n_filters
        self.depth = depth
        self.latent_dim = latent_dim
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

    def _build_module(self, image_shape):
        return ConvAutoEncoderModule(
            in_channels=image_shape[0],
            image_size=image_shape[1:],
            n_filters=self.n_filters,
            depth=self.depth,
            latent_dim=self.latent_dim,
        )

    def _training_loss(self, module, X):
        return torch.nn.functional.mse_loss(module(X), X)

    def _anomaly_map_batch(self, module, X):
        return squared_error_map(X, module(X))

    def _score_and_map_batch(self, module, X, with_map):
        maps = self._anomaly_map_batch(module, X)
        return maps.mean(dim=(1, 2)), maps if with_map else None
