"""Detectors by name: skanomaly's, PyOD's, scikit-learn's, pretrained features."""

from sklearn.pipeline import make_pipeline

from ..preprocessing import ImageFlattener

#: The detector settings a run can use: small and fast ("quick"), those of the
#: 500-image report ("full"), or the detectors' own defaults ("default", the
#: settings of the standard protocol).
PRESETS = ("quick", "full", "default")

#: Suffix of a deep detector's name that gives the same network left at its
#: initial weights (``max_epochs=0``), scored the same way: the
#: untrained-network ablation.
UNTRAINED_SUFFIX = "-untrained"

#: Default (training images, test images) per data set; None keeps them all.
_DEFAULT_SIZES = {
    "fashion-mnist": (1000, 2000),
    "digits": (None, None),
    "textures": (400, 200),
    "mvtec": (None, None),
}

#: PyOD's classical detectors, applied to flattened pixels.
_PYOD = {
    "KNN": ("pyod.models.knn", "KNN", {}),
    "IForest": ("pyod.models.iforest", "IForest", {"random_state": None}),
    "PCA": ("pyod.models.pca", "PCA", {}),
    "LOF": ("pyod.models.lof", "LOF", {}),
    "OCSVM": ("pyod.models.ocsvm", "OCSVM", {}),
    "ECOD": ("pyod.models.ecod", "ECOD", {}),
}

#: scikit-learn's outlier detectors, through the PyOD-convention adapter.
_SKLEARN = {
    "sklearn-IsolationForest": ("sklearn.ensemble", "IsolationForest", {}),
    "sklearn-LocalOutlierFactor": (
        "sklearn.neighbors",
        "LocalOutlierFactor",
        {"novelty": True},
    ),
    "sklearn-OneClassSVM": ("sklearn.svm", "OneClassSVM", {}),
    "sklearn-EllipticEnvelope": ("sklearn.covariance", "EllipticEnvelope", {}),
}

#: PyOD's KNN on frozen pretrained features (needs the ``pretrained`` extra):
#: a late intermediate stage pooled at 128 px, which beats the last stage on
#: small images (see docs/interop.md).
_PRETRAINED = {
    "KNN-efficientnet-lite0": dict(
        backbone="efficientnet-lite0", input_size=128, layer=14
    ),
    "KNN-mobilenetv2": dict(backbone="mobilenetv2", input_size=128, layer=16),
}


def _deep_detectors():
    """Return the registered detectors by name (skanomaly registers its own)."""
    from .. import registered_detectors

    return {cls.__name__: cls for cls in registered_detectors()}


def _trainable(cls):
    from ..base import BaseDeepDetector

    return issubclass(cls, BaseDeepDetector)


def available_detectors():
    """Names :func:`make_detector` and :func:`run_benchmark` accept.

    Returns
    -------
    names : dict
        ``{name: description}``: skanomaly's detectors (every registered
        class) and the untrained networks of those that train, PyOD's
        classical detectors on flattened pixels, scikit-learn's outlier
        detectors through :class:`skanomaly.adapters.SklearnToPyOD`, and
        PyOD's KNN on pretrained features.
    """
    names = {}
    for name, cls in _deep_detectors().items():
        summary = (cls.__doc__ or "").strip().splitlines()
        names[name] = summary[0] if summary else "skanomaly deep detector"
    for name in [n for n, cls in _deep_detectors().items() if _trainable(cls)]:
        names[name + UNTRAINED_SUFFIX] = (
            f"{name}'s network at its initial weights (max_epochs=0), scored "
            "the same way: the untrained-network ablation"
        )
    for name, (_, cls, _) in _PYOD.items():
        names[name] = f"PyOD {cls} on flattened pixels"
    for name, (_, cls, _) in _SKLEARN.items():
        names[name] = f"scikit-learn {cls} on flattened pixels (PyOD convention)"
    for name, params in _PRETRAINED.items():
        names[name] = (
            f"PyOD KNN on pooled {params['backbone']} ImageNet features "
            "(needs skanomaly[pretrained])"
        )
    return names


def _unknown_detector_message(name):
    known = ", ".join(available_detectors())
    return f"unknown detector {name!r}; expected one of: {known}"


def make_detector(name, *, preset="quick", random_state=0, device="cpu"):
    """Build a detector by name with the settings of a preset.

    Parameters
    ----------
    name : str
        One of :func:`available_detectors`.
    preset : {"quick", "full", "default"}, default="quick"
        "quick": small networks and few epochs, for smoke runs; "full": the
        settings of the 500-image benchmark; "default": the detector's own
        defaults (the standard protocol). Only deep detectors differ. A deep
        detector's name followed by ``"-untrained"`` gives the same detector
        with ``max_epochs=0``: its network at its initial weights.
    random_state : int, default=0
        Seed of the detector (where it has one).
    device : str, default="cpu"
        Device of deep detectors.

    Returns
    -------
    detector : estimator
        An unfitted estimator following PyOD's convention.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}; got {preset!r}")
    deep = _deep_detectors()
    base_name = name.removesuffix(UNTRAINED_SUFFIX)
    if name != base_name and base_name in deep and _trainable(deep[base_name]):
        detector = make_detector(
            name[: -len(UNTRAINED_SUFFIX)],
            preset=preset,
            random_state=random_state,
            device=device,
        )
        return detector.set_params(max_epochs=0)
    if name in deep:
        cls = deep[name]
        params = dict(cls.presets.get(preset, {})) if preset != "default" else {}
        return cls(**params, device=device, random_state=random_state)
    if name in _PYOD or name in _SKLEARN:
        module, cls_name, params = {**_PYOD, **_SKLEARN}[name]
        cls = getattr(__import__(module, fromlist=[cls_name]), cls_name)
        params = dict(params)
        if "random_state" in cls().get_params():
            params["random_state"] = random_state
        detector = cls(**params)
        if name in _SKLEARN:
            from ..adapters import SklearnToPyOD

            detector = SklearnToPyOD(detector)
        return make_pipeline(ImageFlattener(), detector)
    if name in _PRETRAINED:
        from pyod.models.knn import KNN

        from ..pretrained import PretrainedEmbedding

        return make_pipeline(
            PretrainedEmbedding(**_PRETRAINED[name], device=device), KNN()
        )
    raise ValueError(_unknown_detector_message(name))
