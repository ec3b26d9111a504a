"""Export a fitted detector to ONNX: scores, labels and maps in one graph.

:func:`to_onnx` writes an ONNX model that does what ``decision_function``,
``predict`` and (for detectors with maps) ``anomaly_map`` do, after input
validation: the network's forward pass and the fitted statistics (memory
banks, Gaussians, medians, the threshold) as constants of the graph. It runs
in ONNX Runtime, or wherever ONNX models run, without Python training code.

The graph's input ``images`` is a float32 batch ``(n, C, H, W)`` of any
``n``, at the fitted size, with values as ``decision_function`` sees them
after validation: ``uint8`` images divided by 255 (``uint16`` by 65535),
floats as given, grey ``(n, H, W)`` images with a channel axis added,
channels-last images transposed. :func:`prepare_images` does exactly this
(it is the detector's own validation), and the model's metadata says it.

Its outputs are ``scores`` ``(n,)`` (float64, higher = more abnormal),
``labels`` ``(n,)`` (int64: 1 where ``scores > threshold_``, else 0: PyOD's
convention) and, for detectors with ``anomaly_map``, ``maps`` ``(n, H, W)``
(float32). ONNX Runtime gives the scores of ``decision_function`` to about
1e-5 relative (the operators' floating-point order differs); the tests check
this for every detector on real images.

Exporting needs the ``onnx`` extra (``pip install "skanomaly[onnx]"``: onnx
and onnxscript; onnxruntime to run the model) and torch 2.6 or later (its
``torch.export``-based exporter).
"""

import contextlib
import copy
import json
import logging
import numbers
import os
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

__all__ = ["METADATA_PREFIX", "prepare_images", "read_onnx_metadata", "to_onnx"]

#: Keys of the metadata :func:`to_onnx` writes start with this.
METADATA_PREFIX = "skanomaly."

#: The ONNX opset of the exported graphs (18: ``Resize`` with antialiasing).
OPSET = 18

SCORE_CONVENTION = (
    "scores: higher means more abnormal (PyOD's convention); labels: 1 "
    "(outlier) where scores > threshold, else 0 (inlier)"
)


def _check_export_dependencies():
    missing = []
    for module in ("onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ImportError(
            f"ONNX export needs {' and '.join(missing)}: install skanomaly's "
            "'onnx' extra (pip install \"skanomaly[onnx]\"), which also "
            "installs onnxruntime to run the exported model."
        )
    version = tuple(int(p) for p in torch.__version__.split(".")[:2])
    if version < (2, 6):
        raise ImportError(
            f"ONNX export needs torch 2.6 or later (its torch.export-based "
            f"exporter); this is torch {torch.__version__}."
        )


class _ScoringGraph(torch.nn.Module):
    """The detector's scoring of a validated batch, as one module to export."""

    def __init__(self, detector, with_map):
        super().__init__()
        self.module = detector.module_
        self._detector = detector
        self.with_map = with_map
        self.threshold = float(detector.threshold_)

    def forward(self, images):
        scores, maps = self._detector._score_and_map_batch(
            self.module, images, self.with_map
        )
        scores = scores.reshape(-1).to(torch.float64)
        labels = (scores > self.threshold).to(torch.int64)
        if self.with_map:
            return scores, labels, maps.to(torch.float32)
        return scores, labels


def _json_value(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return repr(value)


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's notes that are not about this export.

    (Missing torchvision operators, deprecations inside torch.)
    """
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _metadata(detector, with_map):
    from . import __version__

    shape = tuple(int(s) for s in detector.image_shape_)
    outputs = "scores (n,) float64; labels (n,) int64"
    if with_map:
        outputs += f"; maps (n, {shape[1]}, {shape[2]}) float32"
    params = {k: _json_value(v) for k, v in detector.get_params(deep=False).items()}
    return {
        "version": __version__,
        "detector": type(detector).__name__,
        "params": json.dumps(params, sort_keys=True),
        "threshold": repr(float(detector.threshold_)),
        "score_convention": SCORE_CONVENTION,
        "input": (
            f"images: float32 (n, {shape[0]}, {shape[1]}, {shape[2]}), channels "
            "first, values as decision_function uses them: uint8 images "
            "divided by 255, uint16 by 65535, floats as given "
            "(skanomaly.export.prepare_images does this)"
        ),
        "image_shape": json.dumps(list(shape)),
        "outputs": outputs,
    }


def to_onnx(detector, path):
    """Export a fitted detector's scoring to an ONNX model file.

    Parameters
    ----------
    detector : BaseImageDetector
        A fitted skanomaly detector whose ``contamination`` is a float or
        ``"auto"`` (a thresholder object labels through its own ``predict``,
        which is not a fixed threshold on the scores).
    path : str or os.PathLike
        The ``.onnx`` file to write (replaced if it exists).

    Returns
    -------
    path : str
        ``path``, for chaining.

    Raises
    ------
    NotImplementedError
        When a part of the detector cannot be expressed as a fixed graph;
        the message names it.
    ImportError
        Without the ``onnx`` extra or with torch older than 2.6.

    Notes
    -----
    The metadata (``onnx.ModelProto.metadata_props``, read with
    :func:`read_onnx_metadata`) holds the detector's class and parameters,
    ``threshold``, the score convention, the input's layout and scaling and
    the outputs. A detector on a GPU is exported from a CPU copy; the
    detector itself is not changed.

    Examples
    --------
    >>> import onnxruntime  # doctest: +SKIP
    >>> from skanomaly.export import prepare_images, to_onnx  # doctest: +SKIP
    >>> to_onnx(detector, "detector.onnx")  # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession("detector.onnx")  # doctest: +SKIP
    >>> scores, labels = session.run(
    ...     None, {"images": prepare_images(detector, X)})[:2]  # doctest: +SKIP
    """
    from .base import AnomalyMapMixin, BaseImageDetector

    if not isinstance(detector, BaseImageDetector):
        raise TypeError(
            "to_onnx exports skanomaly detectors (subclasses of "
            f"BaseImageDetector); got {type(detector).__name__}."
        )
    check_is_fitted(detector, ["module_", "threshold_"])
    if not isinstance(detector.contamination, (str, numbers.Real)):
        raise NotImplementedError(
            f"{type(detector).__name__} was fitted with contamination="
            f"{type(detector.contamination).__name__}(...), a thresholder whose "
            "predict is not a fixed threshold on the scores, so the labels "
            "cannot be part of the graph. Fit with a float contamination or "
            "'auto' to export."
        )
    blocker = detector._onnx_blocker()
    if blocker:
        raise NotImplementedError(
            f"{type(detector).__name__} cannot be exported to ONNX: {blocker}"
        )
    _check_export_dependencies()
    import onnx

    detector._check_frozen_scoring_params()
    detector._check_scoring()
    if torch.device(detector.device_).type != "cpu":
        detector = copy.deepcopy(detector).to("cpu")
    with_map = isinstance(detector, AnomalyMapMixin)
    was_training = detector.module_.training  # graph.eval() switches module_
    graph = _ScoringGraph(detector, with_map).eval()
    example = torch.zeros(2, *detector.image_shape_)
    names = ["scores", "labels"] + (["maps"] if with_map else [])
    path = os.fspath(path)
    try:
        with torch.inference_mode(False), torch.no_grad(), _quiet_exporter():
            program = torch.onnx.export(
                graph,
                (example,),
                dynamo=True,
                opset_version=OPSET,
                input_names=["images"],
                output_names=names,
                dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                verbose=False,
            )
    finally:
        detector.module_.train(was_training)
    model = program.model_proto
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    if not batch.dim_param:  # pragma: no cover - a detector's bug, caught in tests
        raise NotImplementedError(
            f"{type(detector).__name__}'s scoring fixes the batch size while it is "
            "traced (a Python int taken from the batch, e.g. len(x)), so the "
            "graph would only take batches of 2 images; use x.shape[0]."
        )
    model.doc_string = (
        f"skanomaly {type(detector).__name__}: outlier scores, labels"
        + (" and anomaly maps" if with_map else "")
        + " of float32 images (n, C, H, W). "
        + SCORE_CONVENTION
        + "."
    )
    for key, value in _metadata(detector, with_map).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, value
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def read_onnx_metadata(path):
    """Read the metadata :func:`to_onnx` wrote, as a dict (keys without prefix).

    Parameters
    ----------
    path : str or os.PathLike
        An ``.onnx`` file written by :func:`to_onnx`.

    Returns
    -------
    metadata : dict of str to str
        ``detector``, ``version``, ``params`` (JSON), ``threshold``,
        ``score_convention``, ``input``, ``image_shape`` (JSON), ``outputs``.
    """
    _check_export_dependencies()
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    return {
        entry.key[len(METADATA_PREFIX) :]: entry.value
        for entry in model.metadata_props
        if entry.key.startswith(METADATA_PREFIX)
    }


def prepare_images(detector, X):
    """Images as the exported graph takes them: float32 ``(n, C, H, W)``.

    The detector's own input validation (the one of ``decision_function``):
    layouts resolved with its ``image_shape`` and ``channels_last``,
    ``uint8`` scaled to [0, 1], the fitted shape checked.

    Parameters
    ----------
    detector : BaseImageDetector
        The fitted detector that was exported.
    X : array-like or torch.Tensor
        Images in any layout the detector takes.

    Returns
    -------
    images : ndarray of shape (n, C, H, W), float32
    """
    return np.ascontiguousarray(detector._check_images(X), dtype=np.float32)
