"""The base classes of skanomaly's image detectors.

Two layers, each a :class:`pyod.models.base.BaseDetector`, so a skanomaly
detector *is* a PyOD detector: ``decision_function`` returns outlier scores
where higher means more abnormal, ``predict`` returns 0 (inlier) or 1
(outlier), and ``fit`` sets ``decision_scores_``, ``threshold_`` and
``labels_``.

:class:`BaseImageDetector`, for every image detector, holds once: input
validation and scaling (:func:`skanomaly._validation.check_images`),
parameter validation at ``fit`` (``_parameter_constraints``, as in
scikit-learn), seeding from ``random_state`` inside ``fit`` without touching
the global random state, resolving ``device="auto"``, batched inference in
fixed-size chunks under :func:`torch.inference_mode` (so that scores do not
depend on batching), thresholds (``contamination="auto"`` and thresholder
objects included) and PyOD's members. A detector that only computes
statistics with a frozen network subclasses it directly: it runs no training
loop.

:class:`BaseDeepDetector`, on it, trains the detector's network through a
private :class:`skorch.NeuralNet` with the detector's unsupervised loss, the
user's callbacks and a progress bar.

The hooks a detector implements (``module`` is the fitted ``module_`` in eval
mode, ``X`` a float tensor batch ``(n, C, H, W)`` on ``device_``):

================================  =====  =====  ====================================
hook                              layer  need   what it does
================================  =====  =====  ====================================
``_fit_model(X)``                 image  yes    fit what the detector fits from the
                                         [1]_   training images (numpy, ``(n, C, H,
                                                W)``) and set ``module_``
``_score_batch(module, X)``       image  yes    outlier score per image, higher =
                                         [3]_   more abnormal
``_anomaly_map_batch(module,      image  maps   ``(n, H, W)`` maps at the input's
X)``                                            size (with ``AnomalyMapMixin``)
``_score_and_map_batch(module,    image  no     scores and (if ``with_map``) maps of
X, with_map)``                                  a batch; override when both come
                                                from one forward pass
``_fit_statistics(X)``            image  no     statistics of the training images
                                                computed with the fitted module,
                                                under inference mode
``_training_scores(X)``           image  no     scores of the training images
                                                (default: ``decision_function``'s)
``_check_params(image_shape)``    image  no     checks that need the image shape;
                                                raise ``ValueError``
``_check_scoring()``              image  no     checks of the scoring parameters
                                                against the fitted model; raise
                                                ``ValueError``
``_scoring_params``               image  no     parameters that define the score:
                                                frozen at ``fit``, varied by
                                                ``rescore``
``_min_fit_samples``               image  no     fewest training images (2)
``_supported_channels``            image  no     channel counts taken (``None``: any)
``_module_for_loading()``         image  yes    an empty ``module_`` of the fitted
                                         [4]_   structure, from the parameters and
                                                fitted attributes, for
                                                :func:`skanomaly.load`
``_onnx_blocker()``               image  no     what prevents ONNX export of the
                                                fitted scoring (a sentence), or
                                                ``None`` (:mod:`skanomaly.export`)
``presets``                       image  no     named settings: ``"test"`` (tiny,
                                                for the common checks), ``"demo"``
                                                (8x8 digits), ``"quick"`` and
                                                ``"full"`` (the benchmark)
``_build_module(image_shape)``    deep   yes    the torch module for images of
                                                shape ``(C, H, W)``
``_training_loss(module, X)``     deep   yes    loss of one training batch, or
                                         [2]_   ``(loss, {name: float})``
``_logged_losses``                deep   no     names of the extra per-batch values
                                                the loss returns
``_fit_networks(X)``              deep   no     build and train the network(s), set
                                                ``net_`` and ``module_`` (default:
                                                one net with ``_training_loss``)
================================  =====  =====  ====================================

.. [1] Implemented by :class:`BaseDeepDetector` (it calls ``_fit_networks``).
.. [2] Unless ``_fit_networks`` trains with a net of its own.
.. [3] Unless ``_score_and_map_batch`` is overridden.
.. [4] :class:`BaseDeepDetector` calls ``_build_module(image_shape_)``.

Randomness: ``fit`` seeds generators it owns from ``random_state`` and never
reads or changes torch's global random state. A deep detector builds networks
with ``self._new_module(build, *args)`` (weights drawn from the fit's
generator), draws every random number of training from ``self._generator``
(on ``device_``) or from ``self._new_generator()`` for another stream, and
gets a seeded shuffle in its skorch net from ``_make_net``.

:func:`skanomaly.register_detector` adds a detector to ``skanomaly.DETECTORS``,
the benchmark, the command line and the common checks
(:mod:`skanomaly.utils.estimator_checks`); ``docs/writing_a_detector.md``
walks through a complete example.
"""

import copy
import io
import numbers
import os
import re
import signal
import threading
import warnings

import numpy as np
import torch
from pyod.models.base import BaseDetector
from scipy.stats import binom, median_abs_deviation
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

from ._config import get_config
from ._validation import check_images

__all__ = [
    "AUTO_THRESHOLD_MADS",
    "AnomalyMapMixin",
    "BaseDeepDetector",
    "BaseImageDetector",
    "ReconstructionMixin",
    "SHARED_PARAMETER_DOCS",
    "expand_shared_docs",
    "register_detector",
    "registered_detectors",
    "robust_location_scale",
]

#: ``contamination="auto"`` flags training scores more than this many robust
#: standard deviations (the normal-consistent MAD, about 1.4826 * MAD) above
#: the median.
AUTO_THRESHOLD_MADS = 3.0


def robust_location_scale(values):
    """Median and normal-consistent MAD (about 1.4826 * MAD) of ``values``.

    The scale is never below ``1e-6 * max(1, |median|)``, so that it can
    divide.
    """
    values = np.asarray(values, dtype=np.float64)
    median = float(np.median(values))
    scale = float(median_abs_deviation(values, scale="normal"))
    return median, max(scale, 1e-6 * max(1.0, abs(median)))


#: Parameter docs every detector shares, written once: a detector's docstring
#: names them with a line ``%(name)s`` in its Parameters section, which
#: :class:`BaseImageDetector` replaces with the text below (as pandas and
#: matplotlib substitute shared docs).
SHARED_PARAMETER_DOCS = {
    "contamination": """\
contamination : float in (0, 0.5], "auto" or thresholder, default=0.1
    Expected proportion of outliers in the training images, used to set
    ``threshold_`` (PyOD's convention). ``"auto"`` sets the threshold to
    the median plus three robust standard deviations (1.4826 * MAD) of
    the training scores. A PyThresh thresholder object is used as in PyOD.""",
    "image_shape": """\
image_shape : tuple of int, default=None
    ``(H, W)`` or ``(C, H, W)``. Needed when images are given flattened as
    ``(n, D)`` rows, e.g. after tabular steps in a pipeline.""",
    "channels_last": """\
channels_last : bool, default=None
    Layout of 4-D input: ``False`` for ``(n, C, H, W)``, ``True`` for
    ``(n, H, W, C)``. ``None`` infers it when unambiguous and raises
    otherwise.""",
    "device": """\
device : str or torch.device, default="auto"
    Where to fit and score; ``"auto"`` picks CUDA when available. The
    device used is stored in ``device_``.""",
}

_SHARED_DOC_LINE = re.compile(r"^(?P<indent>[ ]*)%\((?P<name>\w+)\)s[ ]*$", re.M)


def expand_shared_docs(doc):
    """Replace each line ``%(name)s`` of ``doc`` with the shared parameter doc.

    Parameters
    ----------
    doc : str
        A docstring; lines that hold only ``%(name)s`` (indented) name an
        entry of :data:`SHARED_PARAMETER_DOCS`.

    Returns
    -------
    doc : str
        With every such line replaced by the entry, indented like the line.
    """

    def replace(match):
        text = SHARED_PARAMETER_DOCS[match.group("name")]
        return "\n".join(match.group("indent") + line for line in text.splitlines())

    return _SHARED_DOC_LINE.sub(replace, doc)


def _raised_by_a_callback(exc):
    """Whether ``exc`` passed through skorch's ``notify`` (a callback raised it)."""
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "notify" and code.co_filename.endswith(
            os.path.join("skorch", "net.py")
        ):
            return True
        tb = tb.tb_next
    return False


class _SigintWatch:
    """Notes whether SIGINT (Ctrl-C) arrives while the block runs.

    Installed only in the main thread (where Python delivers signals); the
    previous handler still runs, so Ctrl-C raises ``KeyboardInterrupt`` as
    usual, wherever it lands.
    """

    fired = False

    def __enter__(self):
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):
                self._previous = previous

                def note(signum, frame):
                    self.fired = True
                    previous(signum, frame)

                signal.signal(signal.SIGINT, note)
        return self

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class _InterruptibleNet(NeuralNet):
    """skorch net whose ``fit`` lets a KeyboardInterrupt (Ctrl-C) through.

    skorch's ``partial_fit`` catches every ``KeyboardInterrupt`` and returns
    the half-trained net: that is how its callbacks stop training
    (``EarlyStopping`` raises one), but it also swallows Ctrl-C, which would
    make a detector's ``fit`` return normally with a threshold set on a network
    nobody asked for. Here an interrupt raised by a callback still stops
    training normally; a real Ctrl-C (SIGINT, wherever it lands) or an
    interrupt raised outside the callbacks is raised again after the
    callbacks' ``on_train_end``.
    """

    def fit_loop(self, X, y=None, **fit_params):
        try:
            return super().fit_loop(X, y, **fit_params)
        except KeyboardInterrupt as exc:
            self._interrupted = not _raised_by_a_callback(exc)
            raise

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        self._interrupted = False
        with _SigintWatch() as sigint:
            super().partial_fit(X, y, classes, **fit_params)
        if self._interrupted or sigint.fired:
            raise KeyboardInterrupt("training was interrupted")
        return self


class _DetectorNet(_InterruptibleNet):
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


def _device_here(requested=None, saved="cpu", what="the detector"):
    """Device to load or move a fitted model to, on this machine.

    ``requested`` (checked: CUDA must exist), else ``saved`` when it exists
    here, else the CPU with a warning.
    """
    if requested is not None:
        device = _resolve_device(requested)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={device!r}, but CUDA is not available here.")
        return device
    if saved.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"{what} was fitted on {saved!r}, which is not available here; it is "
            "loaded on the CPU (device_='cpu').",
            UserWarning,
            stacklevel=3,
        )
        return "cpu"
    return saved


def _to_numpy(out, n):
    """Return the first ``n`` rows of a chunk's output as numpy (``None`` stays)."""
    return None if out is None else out[:n].detach().float().cpu().numpy()


class BaseImageDetector(BaseDetector):
    """Base class of every skanomaly image detector.

    Not meant to be used directly: subclasses define ``__init__`` with their
    parameters (all keyword arguments, stored unchanged) and the hooks listed
    in the module docstring. A detector that trains a network subclasses
    :class:`BaseDeepDetector` instead.

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
        "device": [str, torch.device],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    #: Named settings: ``"test"`` (tiny networks that fit in well under a
    #: second, for :mod:`skanomaly.utils.estimator_checks`), ``"demo"`` (8x8 digits, for
    #: ``skanomaly demo``), ``"quick"`` (a smoke run of the benchmark) and
    #: ``"full"`` (the 500-image benchmark); the benchmark's ``"default"``
    #: preset is the constructor's defaults.
    presets = {"test": {}, "demo": {}, "quick": {}, "full": {}}

    #: Fewest training images ``fit`` accepts.
    _min_fit_samples = 2

    #: Numbers of channels the detector takes (``None``: any), checked at ``fit``.
    _supported_channels = None

    #: Parameters read when scoring (the score's definition): frozen at ``fit``,
    #: since ``threshold_`` and ``decision_scores_`` belong to their values.
    _scoring_params = ()

    @classmethod
    def _missing_dependencies(cls):
        """Return why the detector cannot run here (missing packages), or None."""
        return None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("__doc__"):
            cls.__doc__ = expand_shared_docs(cls.__doc__)

    # ------------------------------------------------------------------ hooks
    def _fit_model(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _score_batch(self, module, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _anomaly_map_batch(self, module, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _score_and_map_batch(self, module, X, with_map):
        """Scores and, if ``with_map``, maps of one batch (else ``None``)."""
        scores = self._score_batch(module, X)
        return scores, self._anomaly_map_batch(module, X) if with_map else None

    def _check_params(self, image_shape):
        """Detector-specific checks that need the image shape; raise ValueError."""

    def _check_scoring(self):
        """Check the scoring parameters against the fitted model; raise ValueError."""

    def _check_frozen_scoring_params(self):
        """Raise if a parameter of ``_scoring_params`` changed since ``fit``.

        A threshold learned on one score must not label another.
        """
        fitted = getattr(self, "scoring_params_", {})
        for name, value in fitted.items():
            now = getattr(self, name)
            if now != value:
                raise ValueError(
                    f"{name}={now!r} differs from {name}={value!r}, the value this "
                    f"{type(self).__name__} was fitted with; decision_scores_ and "
                    "threshold_ belong to the fitted value. Set it back "
                    f"(set_params({name}={value!r})), fit again, or compare "
                    f"scores with rescore(X, {name}=...)."
                )

    def _fit_statistics(self, X):
        """Statistics computed with the fitted module, before training scores."""

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
            check_is_fitted(self, ["module_", "image_shape_"])
        return check_images(
            X,
            image_shape=self.image_shape,
            channels_last=self.channels_last,
            min_samples=self._min_fit_samples if fit else 1,
            expected_shape=None if fit else self.image_shape_,
        )

    # ---------------------------------------------------------------- fitting
    def _seed(self):
        """Draw the integer seed of this fit from ``random_state``."""
        return int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )

    def fit(self, X, y=None):
        """Fit the detector on images assumed to be (mostly) normal.

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
        try:
            self._fit(X)
        except BaseException:  # Ctrl-C included: no half-fitted detector
            self._forget_fit()
            raise
        return self

    def _fit(self, X):
        self.image_shape_ = X.shape[1:]
        self.n_features_in_ = int(np.prod(self.image_shape_))
        supported = self._supported_channels
        if supported is not None and self.image_shape_[0] not in supported:
            raise ValueError(
                f"{type(self).__name__} takes images with "
                f"{' or '.join(map(str, supported))} channel(s); got "
                f"{self.image_shape_[0]} channels (C, H, W = {self.image_shape_})."
            )
        self._check_params(self.image_shape_)
        self.device_ = _resolve_device(self.device)
        self._classes = 2
        self.scoring_params_ = {
            name: getattr(self, name) for name in self._scoring_params
        }
        self.rng_seed_ = self._seed()
        # every random draw of the fit comes from generators the fit owns:
        # torch's global random state is neither read nor changed, so fits in
        # parallel threads give what a serial fit gives
        draws, shuffle, seeds = np.random.SeedSequence(self.rng_seed_).generate_state(3)
        self._generator = torch.Generator(device=self.device_)
        self._generator.manual_seed(int(draws))
        self._shuffle_generator = torch.Generator().manual_seed(int(shuffle))
        self._seed_generator = torch.Generator().manual_seed(int(seeds))
        try:
            self._fit_model(X)
            self.module_.eval()
            with torch.inference_mode():
                self._fit_statistics(X)
        finally:  # torch generators cannot be pickled
            del self._generator, self._shuffle_generator, self._seed_generator
        self.decision_scores_ = self._training_scores(X)
        self._process_decision_scores()

    def _new_generator(self, device=None):
        """Another :class:`torch.Generator` for this fit, with its own stream.

        For a second stream of draws besides ``self._generator`` (e.g. one per
        network); seeded from ``random_state`` through the fit's seed
        sequence. ``device`` defaults to ``device_``.
        """
        seed = int(torch.randint(2**62, (1,), generator=self._seed_generator))
        return torch.Generator(device=device or self.device_).manual_seed(seed)

    def _forget_fit(self):
        """Delete every fitted attribute (``name_``), so the detector is unfitted."""
        for name in [n for n in vars(self) if n.endswith("_") and n[0] != "_"]:
            delattr(self, name)

    def _training_scores(self, X):
        """Scores of the training images, from which ``threshold_`` is set.

        The scores of ``decision_function`` by default; a score that compares
        an image with stored training data (k-NN) leaves each training image
        out of its own comparison.
        """
        return self._scores(X)

    # ---------------------------------------------------------------- scoring
    def _batched(self, X, fn):
        """Apply ``fn(module, chunk)`` to ``X`` in fixed-size chunks, in eval mode.

        Every chunk has exactly ``inference_batch_size`` images
        (:func:`skanomaly.set_config`); the last one is padded with copies of
        its last image, whose outputs are dropped. Convolution kernels are
        chosen per input shape and round differently, so with one shape an
        image's outputs are the same, bit for bit, whichever and however many
        images are scored with it. ``fn`` returns a tensor or a tuple of
        tensors (or ``None``); the result is the per-chunk outputs
        concatenated as numpy arrays (float32), in the same structure.
        """
        module = self.module_
        module.eval()
        size = get_config()["inference_batch_size"]
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(X), size):
                chunk = torch.from_numpy(X[start : start + size])
                n = len(chunk)
                if n < size:
                    pad = chunk[-1:].expand(size - n, *chunk.shape[1:])
                    chunk = torch.cat([chunk, pad])
                out = fn(module, chunk.to(self.device_))
                if isinstance(out, tuple):
                    outputs.append(tuple(_to_numpy(o, n) for o in out))
                else:
                    outputs.append(_to_numpy(out, n))
        if outputs and isinstance(outputs[0], tuple):
            return tuple(
                None if parts[0] is None else np.concatenate(parts, axis=0)
                for parts in zip(*outputs)
            )
        return np.concatenate(outputs, axis=0)

    def _infer(self, X, with_map=False):
        """Scores (float64) and maps (or ``None``) of validated images, one pass."""
        self._check_frozen_scoring_params()
        self._check_scoring()
        scores, maps = self._batched(
            X, lambda module, x: self._score_and_map_batch(module, x, with_map)
        )
        return scores.astype(np.float64).ravel(), maps

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
        return self._infer(X)[0]

    def rescore(self, X, *, return_maps=False, **params):
        """Score images with other values of the scoring parameters, same fit.

        For ablations and comparisons without refitting: the networks and
        statistics of this fit, another definition of the score (the
        parameters in ``_scoring_params``, e.g. ``score``). The detector's
        parameters, ``threshold_`` and ``predict`` are left as they are; the
        threshold does not apply to these scores.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.
        return_maps : bool, default=False
            Also return the anomaly maps under these parameters (detectors
            with ``anomaly_map``).
        **params
            Values of scoring parameters; the others keep their values.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        maps : ndarray of shape (n_samples, H, W)
            Only with ``return_maps=True``.
        """
        unknown = sorted(set(params) - set(self._scoring_params))
        if unknown:
            raise ValueError(
                f"rescore takes the scoring parameters of {type(self).__name__}, "
                f"{list(self._scoring_params)}; got {unknown}."
            )
        if return_maps and not isinstance(self, AnomalyMapMixin):
            raise ValueError(f"{type(self).__name__} has no anomaly maps.")
        X = self._check_images(X)
        saved = {name: getattr(self, name) for name in params}
        try:
            for name, value in params.items():
                setattr(self, name, value)
            self._validate_params()
            self._check_scoring()
            scores, maps = self._batched(
                X, lambda module, x: self._score_and_map_batch(module, x, return_maps)
            )
        finally:
            for name, value in saved.items():
                setattr(self, name, value)
        scores = scores.astype(np.float64).ravel()
        return (scores, maps) if return_maps else scores

    # ------------------------------------------------------------- thresholds
    def _process_decision_scores(self):
        """Set ``threshold_``, ``labels_`` from ``decision_scores_``.

        As in PyOD (written here, since PyOD's versions differ in how they
        call thresholders): a float ``contamination`` puts the threshold at
        that upper percentile of the training scores; a thresholder object is
        fitted on them (``fit``, then its ``labels_`` and ``thresh_``); for
        ``"auto"`` the threshold is ``median + 3 * 1.4826 * MAD`` of the
        training scores (the normal-consistent MAD), a robust three-sigma rule.
        """
        scores = self.decision_scores_
        if isinstance(self.contamination, str):
            median = np.median(scores)
            mad = median_abs_deviation(scores, scale="normal")
            self.threshold_ = float(median + AUTO_THRESHOLD_MADS * mad)
            self.labels_ = (scores > self.threshold_).astype(int)
        elif isinstance(self.contamination, numbers.Real):
            self.threshold_ = np.percentile(scores, 100 * (1 - self.contamination))
            self.labels_ = (scores > self.threshold_).astype(int).ravel()
        else:
            self.contamination.fit(scores)
            self.labels_ = np.asarray(self.contamination.labels_).astype(int).ravel()
            self.threshold_ = self.contamination.thresh_
            if not self.threshold_:  # as PyOD: no threshold, the outlier share
                self.threshold_ = np.sum(self.labels_) / len(self.labels_)
        # for predict_proba(method="unify"), as PyOD
        self._mu = np.mean(scores)
        self._sigma = np.std(scores)
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

    # ------------------------------------------------------------ persistence
    def _module_for_loading(self):
        """Build an empty ``module_`` of the fitted structure (for loading).

        Called by :func:`skanomaly.load` on torch's ``"meta"`` device; the
        saved tensors are then assigned to it.
        """
        raise NotImplementedError(  # pragma: no cover - every detector has one
            f"{type(self).__name__} does not say how to rebuild its network."
        )

    def save(self, path):
        """Save the fitted detector to the directory ``path``, without pickle.

        Writes ``weights.safetensors`` (the tensors and arrays) and
        ``skanomaly.json`` (class, parameters, other fitted values, a digest of
        the weights). :func:`skanomaly.load` reads it back without running
        any code from the files, unlike pickle and joblib. ``callbacks``
        (training only) and the private training nets (``net_``) are not
        saved.

        Parameters
        ----------
        path : str or os.PathLike
            A directory; created when missing, its two files replaced.

        Returns
        -------
        path : str
        """
        from ._persistence import save

        return save(self, os.fspath(path))

    def _onnx_blocker(self):
        """Return what prevents exporting the fitted scoring to ONNX, or ``None``."""
        return None

    def to_onnx(self, path):
        """Export the fitted scoring to an ONNX model (scores, labels, maps).

        See :func:`skanomaly.export.to_onnx`.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.onnx`` file to write.

        Returns
        -------
        path : str
        """
        from .export import to_onnx

        return to_onnx(self, path)

    def to(self, device):
        """Move the fitted model to ``device`` and set ``device_``.

        Parameters
        ----------
        device : str or torch.device
            ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (or ``"auto"``).

        Returns
        -------
        self : object
        """
        check_is_fitted(self, ["module_"])
        device = _device_here(device)
        for name, value in list(vars(self).items()):
            if isinstance(value, (torch.nn.Module, torch.Tensor)):
                setattr(self, name, value.to(device))
            elif isinstance(value, NeuralNet):
                value.device = device
        self.device_ = device
        return self

    def __getstate__(self):
        # Every tensor once, in one torch.save (so that each is mapped to a
        # device that exists when loading); the training nets are left out:
        # their modules are parts of module_ and their optimizer states only
        # serve training.
        parent = getattr(super(), "__getstate__", None)
        state = parent() if parent is not None else self.__dict__.copy()
        state = {k: v for k, v in state.items() if not isinstance(v, NeuralNet)}
        torch_values = {
            k: v
            for k, v in state.items()
            if isinstance(v, (torch.nn.Module, torch.Tensor))
        }
        if torch_values:
            buffer = io.BytesIO()
            torch.save(torch_values, buffer)
            state = {k: v for k, v in state.items() if k not in torch_values}
            state["_torch_values"] = buffer.getvalue()
        return state

    def __setstate__(self, state):
        state = dict(state)
        payload = state.pop("_torch_values", None)
        if payload is not None:
            device = _device_here(
                saved=str(state.get("device_", "cpu")),
                what=f"this {type(self).__name__}",
            )
            state.update(
                torch.load(io.BytesIO(payload), map_location=device, weights_only=False)
            )
            state["device_"] = device
        parent = getattr(super(), "__setstate__", None)
        if parent is not None:  # scikit-learn's estimators check their version
            parent(state)
        else:
            self.__dict__.update(state)


class BaseDeepDetector(BaseImageDetector):
    """Base class of the detectors that train a network through skorch.

    Adds the training parameters (``max_epochs``, ``batch_size``, ``lr``,
    ``optimizer``, ``callbacks``) and implements ``_fit_model``: a private
    :class:`skorch.NeuralNet` trains the module of ``_build_module`` with the
    loss of ``_training_loss`` (see the hooks in the module docstring).
    Every parameter shared by all detectors is documented in :doc:`the user
    guide </user_guide>` and in each detector.
    """

    _parameter_constraints = {
        **BaseImageDetector._parameter_constraints,
        # 0 leaves the network at its initial weights: the untrained-network
        # ablation, scored the same way as the trained detector
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "optimizer": [HasMethods(["step", "zero_grad"])],
        "callbacks": [None, list, tuple],
    }

    #: Names of per-batch values logged by ``_training_loss`` besides the loss.
    _logged_losses = ()

    def _build_module(self, image_shape):  # pragma: no cover - abstract
        raise NotImplementedError

    def _training_loss(self, module, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _callbacks(self):
        callbacks = [copy.deepcopy(cb) for cb in (self.callbacks or ())]
        callbacks += [
            (name, PassthroughScoring(name=name, on_train=True))
            for name in self._logged_losses
        ]
        if self.verbose:
            callbacks.append(ProgressBar())
        return callbacks

    def _new_module(self, build, *args, **kwargs):
        """Build a torch module with weights drawn from the fit's generator.

        ``build(*args, **kwargs)`` runs on torch's ``"meta"`` device (no
        memory, no random draw); the module is then allocated on ``device_``
        and initialised by
        :func:`skanomaly.detectors._torch_utils.init_parameters_` from
        ``self._generator`` (torch's default initialisation, or a module's own
        ``_init_parameters_(generator)``).
        """
        # imported here: skanomaly.detectors imports this module
        from .detectors._torch_utils import init_parameters_

        with torch.device("meta"):
            module = build(*args, **kwargs)
        module = module.to_empty(device=self.device_)
        return init_parameters_(module, self._generator)

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
            iterator_train__generator=self._shuffle_generator,
            iterator_train__drop_last=drop_last,
            **kwargs,
        )
        net.loss_fn = self._training_loss
        return net

    def _fit_model(self, X):
        self._fit_networks(X)
        self.history_ = self.net_.history

    def _module_for_loading(self):
        return self._build_module(self.image_shape_)

    def _fit_networks(self, X):
        """Build and train the network(s); sets ``net_`` and ``module_``.

        Detectors with several training stages or networks override it; they
        build networks with :meth:`_new_module` and draw every random number
        of training from ``self._generator`` (on ``device_``), both seeded
        from ``random_state`` for this fit.
        """
        module = self._new_module(self._build_module, self.image_shape_)
        self.net_ = self._make_net(module, len(X))
        self.net_.fit(X, None)
        self.module_ = self.net_.module_


class AnomalyMapMixin:
    """Per-pixel anomaly maps for detectors that localize.

    The detector implements ``_anomaly_map_batch(module, X)`` returning
    ``(batch, H, W)`` maps at the input's size, and may override
    ``_score_and_map_batch`` to compute scores and maps in one pass.
    """

    def anomaly_map(self, X, return_scores=False):
        """Per-pixel anomaly map of each image, higher = more abnormal.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Images of the shape seen in ``fit``.
        return_scores : bool, default=False
            Also return the images' scores, the values of
            ``decision_function(X)``, from the same pass of the network.

        Returns
        -------
        maps : ndarray of shape (n_samples, H, W)
            At the input's height and width.
        scores : ndarray of shape (n_samples,)
            Only with ``return_scores=True``.
        """
        scores, maps = self._infer(self._check_images(X), with_map=True)
        return (maps, scores) if return_scores else maps


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


_REGISTRY = {}


def register_detector(cls):
    """Class decorator that makes ``cls`` one of skanomaly's detectors.

    A registered detector is in :func:`registered_detectors` (and so in
    ``skanomaly.DETECTORS`` and importable from ``skanomaly`` when it lives in
    a subpackage of ``skanomaly.detectors``), is available to
    :mod:`skanomaly.benchmark` and ``skanomaly benchmark`` by its class name,
    runs in ``skanomaly demo`` with its ``presets["demo"]`` settings, and is
    checked by skanomaly's common tests (:mod:`skanomaly.utils.estimator_checks`).

    Parameters
    ----------
    cls : type
        A subclass of :class:`BaseImageDetector`.

    Returns
    -------
    cls : type
        Unchanged.
    """
    if not (isinstance(cls, type) and issubclass(cls, BaseImageDetector)):
        raise TypeError(
            f"register_detector expects a subclass of BaseImageDetector; got {cls!r}."
        )
    name = cls.__name__
    known = _REGISTRY.get(name)
    if known is not None and (known.__module__, known.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise ValueError(
            f"a detector named {name!r} is already registered "
            f"({known.__module__}.{known.__qualname__}); detector names must be "
            "unique, since the benchmark and the command line use them."
        )
    _REGISTRY[name] = cls
    return cls


def registered_detectors():
    """Return the registered detector classes, sorted by name.

    Returns
    -------
    detectors : tuple of type
    """
    return tuple(_REGISTRY[name] for name in sorted(_REGISTRY))
