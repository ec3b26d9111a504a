"""The base class every deep detector in skanomaly subclasses.

:class:`BaseDeepDetector` is a :class:`pyod.models.base.BaseDetector`, so a
skanomaly detector *is* a PyOD detector: ``decision_function`` returns outlier
scores where higher means more abnormal, ``predict`` returns 0 (inlier) or 1
(outlier), and ``fit`` sets ``decision_scores_``, ``threshold_`` and
``labels_``.

What lives here, once, for every detector:

* input validation and scaling (:func:`skanomaly._validation.check_images`);
* parameter validation at ``fit`` (``_parameter_constraints``, as in
  scikit-learn);
* seeding from ``random_state`` inside ``fit`` without touching the global
  random state, and resolving ``device="auto"``;
* the skorch glue: a private :class:`skorch.NeuralNet` subclass built in
  ``fit`` that trains the detector's module with the detector's unsupervised
  loss, with the user's callbacks and a progress bar;
* batched inference under :func:`torch.inference_mode`;
* thresholds, including ``contamination="auto"``.

A subclass implements three hooks:

``_build_module(image_shape)``
    Return the (pure PyTorch) module for images of shape ``(C, H, W)``.
``_training_loss(module, X)``
    Return the loss of one training batch, or ``(loss, {name: value})`` to
    log further per-batch values into the history (their names listed in the
    class attribute ``_logged_losses``).
``_score_batch(module, X)``
    Return the outlier score of each image of one batch, higher = more
    abnormal.

Detectors that localize also inherit :class:`AnomalyMapMixin` and implement
``_anomaly_map_batch(module, X)``.
"""

import copy
import numbers

import numpy as np
import torch
from pyod.models.base import BaseDetector
from scipy.stats import binom
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import PassthroughScoring, ProgressBar
from skorch.utils import to_tensor

from ._validation import check_images

__all__ = [
    "AUTO_THRESHOLD_MADS",
    "AnomalyMapMixin",
    "BaseDeepDetector",
    "ReconstructionMixin",
]

#: ``contamination="auto"`` flags training scores more than this many robust
#: standard deviations (1.4826 * MAD) above the median.
AUTO_THRESHOLD_MADS = 3.0

_MAD_TO_STD = 1.4826


class _DetectorNet(NeuralNet):
    """skorch net whose training step calls the detector's unsupervised loss.

    ``loss_fn`` is attached after construction (skorch would otherwise treat
    it as a parameter). It receives the module and a batch of images on the
    net's device and returns a loss tensor, or a ``(loss, logs)`` pair whose
    ``logs`` are floats recorded per batch in the history.
    """

    loss_fn = None

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi = batch[0] if isinstance(batch, (tuple, list)) else batch
        Xi = to_tensor(Xi, device=self.device)
        out = self.loss_fn(self.module_, Xi)
        loss, logs = out if isinstance(out, tuple) else (out, {})
        loss.backward()
        for name, value in logs.items():
            self.history.record_batch(name, float(value))
        return {"loss": loss, "y_pred": None}


def _resolve_device(device):
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        return str(torch.device(device))
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device torch knows; expected 'auto', "
            "'cpu', 'cuda', 'cuda:N' or a torch.device."
        ) from exc


def knn_scores(
    queries, reference, n_neighbors, distance, batch_size, leave_out_self=False
):
    """Mean distance of each query to its ``n_neighbors`` nearest reference rows.

    Parameters
    ----------
    queries, reference : torch.Tensor of shape (n, d) and (m, d)
    n_neighbors : int
    distance : callable
        ``distance(block, reference)`` returns the ``(len(block), m)`` distances.
    batch_size : int
        Queries per block, so that at most ``batch_size * m`` distances are held.
    leave_out_self : bool, default=False
        The queries are the reference itself (training scores): each row is
        left out of its own neighbours, as PyOD's KNN does for
        ``decision_scores_``, so that ``threshold_`` is not set by zero
        self-distances.

    Returns
    -------
    scores : torch.Tensor of shape (n,)
    """
    k = min(n_neighbors, len(reference) - int(leave_out_self))
    if k < 1:
        raise ValueError(
            f"k-NN scores need at least {1 + int(leave_out_self)} reference "
            f"sample(s); got {len(reference)}."
        )
    scores = []
    for start in range(0, len(queries), batch_size):
        block = queries[start : start + batch_size]
        distances = distance(block, reference)
        if leave_out_self:
            rows = torch.arange(len(block), device=distances.device)
            distances[rows, start + rows] = float("inf")
        scores.append(distances.topk(k, dim=1, largest=False).values.mean(dim=1))
    return torch.cat(scores)


class BaseDeepDetector(BaseDetector):
    """Base class for skanomaly's deep image anomaly detectors.

    Not meant to be used directly: subclasses define ``__init__`` with their
    parameters (all keyword arguments, stored unchanged) and the hooks listed
    in the module docstring. Every parameter shared by all detectors is
    documented in :ref:`the user guide <user-guide>` and in each detector.

    Notes
    -----
    Scores follow PyOD: higher means more abnormal, so that
    ``roc_auc_score(y, detector.decision_function(X))`` with ``y = 1`` for
    anomalies needs no sign flip.
    """

    _parameter_constraints = {
        "contamination": [
            Interval(numbers.Real, 0, 0.5, closed="right"),
            StrOptions({"auto"}),
            HasMethods(["fit", "predict"]),
        ],
        "image_shape": [None, tuple, list],
        "channels_last": [None, "boolean"],
        # 0 leaves the network at its initial weights: the untrained-network
        # ablation, scored the same way as the trained detector
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "optimizer": [HasMethods(["step", "zero_grad"])],
        "callbacks": [None, list, tuple],
        "device": [str, torch.device],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    #: Names of per-batch values logged by ``_training_loss`` besides the loss.
    _logged_losses = ()

    #: Parameters :mod:`skanomaly.benchmark` uses for its "quick" preset (a
    #: smoke run) and its "full" preset (the reported benchmark). Subclasses
    #: set their own; these defaults only shorten training for "quick".
    benchmark_presets = {"quick": {"max_epochs": 2}, "full": {}}

    #: Fewest training images ``fit`` accepts.
    _min_fit_samples = 2

    # ------------------------------------------------------------------ hooks
    def _build_module(self, image_shape):  # pragma: no cover - abstract
        raise NotImplementedError

    def _training_loss(self, module, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _score_batch(self, module, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_params(self, image_shape):
        """Detector-specific checks that need the image shape; raise ValueError."""

    def _after_training(self, X):
        """Statistics computed after training, before training scores (no grad)."""

    # ------------------------------------------------------------- validation
    def _validate_params(self):
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )

    def _check_images(self, X, *, fit=False):
        """Validate images; at predict time also against the fitted shape."""
        if not fit:
            check_is_fitted(self, ["net_", "image_shape_"])
        return check_images(
            X,
            image_shape=self.image_shape,
            channels_last=self.channels_last,
            min_samples=self._min_fit_samples if fit else 1,
            expected_shape=None if fit else self.image_shape_,
        )

    # ---------------------------------------------------------------- fitting
    def _callbacks(self):
        callbacks = [copy.deepcopy(cb) for cb in (self.callbacks or ())]
        callbacks += [
            (name, PassthroughScoring(name=name, on_train=True))
            for name in self._logged_losses
        ]
        if self.verbose:
            callbacks.append(ProgressBar())
        return callbacks

    def _make_net(self, module, n_samples, net_class=_DetectorNet, **kwargs):
        """Build the private skorch net that trains ``module``."""
        drop_last = n_samples > self.batch_size and n_samples % self.batch_size == 1
        net = net_class(
            module=module,
            criterion=torch.nn.MSELoss,  # unused: the loss is the detector's
            optimizer=self.optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None,
            callbacks=self._callbacks(),
            device=self.device_,
            verbose=int(self.verbose),
            iterator_train__shuffle=True,
            iterator_train__drop_last=drop_last,
            **kwargs,
        )
        net.loss_fn = self._training_loss
        return net

    def _seed(self):
        """Draw the integer seed of this fit from ``random_state``."""
        return int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )

    def fit(self, X, y=None):
        """Train the detector on images assumed to be (mostly) normal.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Training images: ``(n, H, W)``, ``(n, C, H, W)``, ``(n, H, W, C)``
            or flattened ``(n, D)`` with ``image_shape``. ``uint8`` is scaled
            to [0, 1]; floats are used as given.
        y : Ignored
            Not used; present for API consistency (unsupervised training).

        Returns
        -------
        self : object
            The fitted detector.
        """
        self._validate_params()
        X = self._check_images(X, fit=True)
        self.image_shape_ = X.shape[1:]
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self._check_params(self.image_shape_)
        self.device_ = _resolve_device(self.device)
        self._classes = 2

        seed = self._seed()
        devices = (
            [torch.device(self.device_).index or 0] if "cuda" in self.device_ else []
        )
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            self.rng_seed_ = seed
            self._fit_networks(X)
            module = self.module_
            module.eval()
            with torch.inference_mode():
                self._after_training(X)
        self.history_ = self.net_.history
        self.decision_scores_ = self._training_scores(X)
        self._process_decision_scores()
        return self

    def _training_scores(self, X):
        """Scores of the training images, from which ``threshold_`` is set.

        The scores of ``decision_function`` by default; a score that compares
        an image with stored training data (k-NN) leaves each training image
        out of its own comparison.
        """
        return self._scores(X)

    def _fit_networks(self, X):
        """Build and train the network(s); sets ``net_`` and ``module_``.

        Called with the torch random state seeded from ``random_state``.
        Detectors with several training stages or networks override it.
        """
        module = self._build_module(self.image_shape_)
        self.net_ = self._make_net(module, len(X))
        self.net_.fit(X, None)
        self.module_ = self.net_.module_

    # ---------------------------------------------------------------- scoring
    #: Images per inference chunk. Every chunk the network sees at inference
    #: has exactly this many images (the last one is padded with copies of
    #: its last image, whose outputs are dropped): convolution kernels are
    #: chosen per input shape and round differently, so with one shape an
    #: image's outputs are the same, bit for bit, whichever and however many
    #: images are scored with it.
    _inference_chunk = 32

    def _batched(self, X, fn):
        """Apply ``fn(module, chunk)`` to ``X`` in fixed-size chunks, in eval mode.

        Returns the per-chunk outputs concatenated as a numpy array.
        """
        module = self.module_
        module.eval()
        size = self._inference_chunk
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(X), size):
                chunk = torch.from_numpy(X[start : start + size])
                n = len(chunk)
                if n < size:
                    pad = chunk[-1:].expand(size - n, *chunk.shape[1:])
                    chunk = torch.cat([chunk, pad])
                out = fn(module, chunk.to(self.device_))[:n]
                outputs.append(out.detach().float().cpu().numpy())
        return np.concatenate(outputs, axis=0)

    def decision_function(self, X):
        """Outlier score of each image: higher means more abnormal.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Outlier scores (float64).
        """
        return self._scores(self._check_images(X))

    def _scores(self, X):
        """Scores of already validated images ``(n, C, H, W)``."""
        return self._batched(X, self._score_batch).astype(np.float64).ravel()

    # ------------------------------------------------------------- thresholds
    def _process_decision_scores(self):
        """Set ``threshold_``, ``labels_`` from ``decision_scores_``.

        A float ``contamination`` and thresholder objects follow PyOD; for
        ``"auto"`` the threshold is ``median + 3 * 1.4826 * MAD`` of the
        training scores, a robust three-sigma rule.
        """
        scores = self.decision_scores_
        if isinstance(self.contamination, str):
            median = np.median(scores)
            mad = _MAD_TO_STD * np.median(np.abs(scores - median))
            self.threshold_ = float(median + AUTO_THRESHOLD_MADS * mad)
            self.labels_ = (scores > self.threshold_).astype(int)
            self._mu = np.mean(scores)
            self._sigma = np.std(scores)
        else:
            super()._process_decision_scores()
        self.contamination_ = float(np.mean(self.labels_))
        return self

    def _labels_from_scores(self, scores):
        if isinstance(self.contamination, (str, numbers.Real)):
            return (scores > self.threshold_).astype(int).ravel()
        return np.asarray(self.contamination.predict(scores)).astype(int).ravel()

    def predict(self, X, return_confidence=False):
        """Label each image: 0 for an inlier, 1 for an outlier.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.
        return_confidence : bool, default=False
            Also return :meth:`predict_confidence`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            1 where the score exceeds ``threshold_``.
        confidence : ndarray of shape (n_samples,)
            Only with ``return_confidence=True``.
        """
        check_is_fitted(self, ["decision_scores_", "threshold_", "labels_"])
        scores = self.decision_function(X)
        labels = self._labels_from_scores(scores)
        if return_confidence:
            return labels, self._confidence(scores, labels)
        return labels

    def predict_proba(self, X, method="linear", return_confidence=False):
        """Probability of each image being an outlier, as in PyOD.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.
        method : {"linear", "unify"}, default="linear"
            ``"linear"`` min-max scales scores with the training scores;
            ``"unify"`` uses the Gaussian scaling of Kriegel et al. (2011).
        return_confidence : bool, default=False
            Also return :meth:`predict_confidence`.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Columns: probability of inlier, probability of outlier.
        """
        if not hasattr(X, "shape"):
            X = np.asarray(X)
        return super().predict_proba(
            X, method=method, return_confidence=return_confidence
        )

    def predict_confidence(self, X):
        """Confidence in each prediction under perturbed training sets.

        Follows PyOD (Perini et al., 2020): the probability that the label
        would stay the same, in [0, 1].

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        confidence : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, ["decision_scores_", "threshold_", "labels_"])
        scores = self.decision_function(X)
        return self._confidence(scores, self._labels_from_scores(scores))

    def _confidence(self, scores, labels):
        train = np.sort(self.decision_scores_)
        n = len(train)
        n_below = np.searchsorted(train, scores, side="right")
        posterior = (1 + n_below) / (2 + n)
        contamination = (
            self.contamination
            if isinstance(self.contamination, numbers.Real)
            else self.contamination_
        )
        confidence = 1 - binom.cdf(n - int(n * contamination), n, posterior)
        return np.where(labels == 1, confidence, 1 - confidence)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags


class AnomalyMapMixin:
    """Per-pixel anomaly maps for detectors that localize.

    The detector implements ``_anomaly_map_batch(module, X)`` returning
    ``(batch, H, W)`` maps at the input's size.
    """

    def anomaly_map(self, X):
        """Per-pixel anomaly map of each image, higher = more abnormal.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        maps : ndarray of shape (n_samples, H, W)
            At the input's height and width.
        """
        X = self._check_images(X)
        return self._batched(X, self._anomaly_map_batch)


class ReconstructionMixin:
    """``reconstruct(X)`` for detectors whose module maps images to images."""

    def _reconstruct_batch(self, module, X):
        return module(X)

    def reconstruct(self, X):
        """Reconstruction of each image, channels-first.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.

        Returns
        -------
        reconstructions : ndarray of shape (n_samples, C, H, W)
        """
        X = self._check_images(X)
        return self._batched(X, self._reconstruct_batch)
