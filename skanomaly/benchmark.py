"""Evaluate detectors side by side, the PyOD way.

:func:`run_benchmark` runs every (detector, normal class, seed) job of a data
set and protocol, caches each finished job on disk, and returns a
:class:`BenchmarkResults` that writes CSV, JSON, Markdown and plots::

    from skanomaly.benchmark import run_benchmark

    results = run_benchmark(
        ["ConvAutoEncoder", "KNN"], dataset="digits", classes=[0, 1],
        seeds=[0, 1], preset="quick", cache_dir="bench-cache",
    )
    print(results.to_markdown())

Detectors are given by name (see :func:`available_detectors`) or as estimator
objects. Every class in ``skanomaly.DETECTORS`` is available by its class
name without any change here; its settings for ``preset="quick"`` and
``preset="full"`` come from the class attribute ``benchmark_presets``.
"""

import contextlib
import hashlib
import json
import math
import numbers
import os
import re
import resource
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.utils import check_random_state

from .datasets import (
    fetch_fashion_mnist,
    load_digits,
    load_mvtec_folder,
    make_one_class_split,
    make_texture_defects,
)
from .metrics import aupro, pixel_roc_auc
from .preprocessing import ImageFlattener

__all__ = [
    "DATASETS",
    "PRESETS",
    "UNTRAINED_SUFFIX",
    "BenchmarkResults",
    "available_detectors",
    "load_task",
    "make_detector",
    "run_benchmark",
]

#: Data sets :func:`run_benchmark` knows, with their classes.
DATASETS = {
    "fashion-mnist": tuple(range(10)),
    "digits": tuple(range(10)),
    "textures": ("brick", "grass", "gravel"),
    "mvtec": None,  # the categories found under data_path
}

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
    from . import DETECTORS

    return {cls.__name__: cls for cls in DETECTORS}


def available_detectors():
    """Names :func:`make_detector` and :func:`run_benchmark` accept.

    Returns
    -------
    names : dict
        ``{name: description}``: skanomaly's deep detectors (every class in
        ``skanomaly.DETECTORS``), PyOD's classical detectors on flattened
        pixels, scikit-learn's outlier detectors through
        :class:`skanomaly.adapters.SklearnToPyOD`, and PyOD's KNN on
        pretrained features.
    """
    names = {}
    for name, cls in _deep_detectors().items():
        summary = (cls.__doc__ or "").strip().splitlines()
        names[name] = summary[0] if summary else "skanomaly deep detector"
    for name in _deep_detectors():
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
    if name.endswith(UNTRAINED_SUFFIX) and name[: -len(UNTRAINED_SUFFIX)] in deep:
        detector = make_detector(
            name[: -len(UNTRAINED_SUFFIX)],
            preset=preset,
            random_state=random_state,
            device=device,
        )
        return detector.set_params(max_epochs=0)
    if name in deep:
        cls = deep[name]
        params = dict(getattr(cls, "benchmark_presets", {}).get(preset, {}))
        return cls(**params, device=device, random_state=random_state)
    if name in _PYOD or name in _SKLEARN:
        module, cls_name, params = {**_PYOD, **_SKLEARN}[name]
        cls = getattr(__import__(module, fromlist=[cls_name]), cls_name)
        params = dict(params)
        if "random_state" in cls().get_params():
            params["random_state"] = random_state
        detector = cls(**params)
        if name in _SKLEARN:
            from .adapters import SklearnToPyOD

            detector = SklearnToPyOD(detector)
        return make_pipeline(ImageFlattener(), detector)
    if name in _PRETRAINED:
        from pyod.models.knn import KNN

        from .pretrained import PretrainedEmbedding

        return make_pipeline(
            PretrainedEmbedding(**_PRETRAINED[name], device=device), KNN()
        )
    raise ValueError(_unknown_detector_message(name))


# --------------------------------------------------------------------- data
@dataclass
class Task:
    """One train/test split of a benchmark: a normal class and a seed."""

    dataset: str
    normal_class: object
    seed: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    masks_test: np.ndarray = None


def _subsample(n_available, n, rng):
    if n is None or n >= n_available:
        return np.arange(n_available)
    return np.sort(rng.choice(n_available, size=n, replace=False))


_LOADED = {}


def _load(dataset, data_path=None, image_size=None, normal_class=None):
    key = (dataset, str(data_path), image_size, normal_class)
    if key not in _LOADED:
        if dataset == "fashion-mnist":
            train = fetch_fashion_mnist(subset="train")
            test = fetch_fashion_mnist(subset="test")
            _LOADED[key] = (train.images, train.target, test.images, test.target)
        elif dataset == "digits":
            _LOADED[key] = load_digits(return_X_y=True)
        elif dataset == "mvtec":
            _LOADED[key] = load_mvtec_folder(
                Path(data_path) / str(normal_class), image_size=image_size
            )
    return _LOADED[key]


def _mvtec_categories(data_path):
    root = Path(data_path)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data_path {str(data_path)!r} is not a folder; expected a folder "
            "of MVTec AD-style categories (<category>/train/good, "
            "<category>/test/<defect>, <category>/ground_truth/<defect>)"
        )
    categories = sorted(
        p.name for p in root.iterdir() if (p / "train" / "good").is_dir()
    )
    if not categories:
        raise FileNotFoundError(
            f"no category with a train/good folder under {str(data_path)!r}; "
            "expected <category>/train/good, <category>/test/<defect> and "
            "<category>/ground_truth/<defect>"
        )
    return tuple(categories)


def dataset_classes(dataset, data_path=None):
    """The classes (or categories) of a benchmark data set."""
    _check_dataset(dataset, data_path)
    if dataset == "mvtec":
        return _mvtec_categories(data_path)
    return DATASETS[dataset]


def _check_dataset(dataset, data_path):
    if dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}"
        )
    if dataset == "mvtec" and data_path is None:
        raise ValueError(
            "dataset='mvtec' needs data_path: a folder of MVTec AD-style "
            "categories, e.g. the extracted mvtec_anomaly_detection folder"
        )


def load_task(
    dataset,
    normal_class,
    seed=0,
    *,
    contamination=0.0,
    n_train=None,
    n_test=None,
    data_path=None,
    image_size=None,
):
    """Build the train/test split of one benchmark job.

    Parameters
    ----------
    dataset : {"fashion-mnist", "digits", "textures", "mvtec"}
        "fashion-mnist" and "digits": one class is normal, the others are
        anomalies (one-class-vs-rest). "textures": defects drawn on crops of a
        real texture photograph (:func:`~skanomaly.datasets.make_texture_defects`),
        with pixel masks. "mvtec": a category folder of an MVTec AD-style data
        set under ``data_path``, with pixel masks.
    normal_class : int or str
        The normal class (a texture or category name for the last two).
    seed : int, default=0
        Seeds the training subsample, the contaminating images, and the
        detector. The test split does not depend on it (digits are split in
        halves with a fixed seed), except for the generated textures.
    contamination : float, default=0.0
        Fraction p of anomalies in the training set: ``floor(p * n / (1 - p))``
        images of the other classes (one-class-vs-rest) or defective crops
        (textures) are added to ``n`` normal ones. Not available for "mvtec",
        whose training folder holds good images only.
    n_train, n_test : int, default=None
        Number of normal training images and of test images (a class-stratified
        subsample drawn with a fixed seed); None keeps the data set's default
        (1000 and 2000 for Fashion-MNIST, 400 and 200 for textures, all
        otherwise).
    data_path : str or path-like, default=None
        For "mvtec": the folder that holds the category folders.
    image_size : int, default=None
        For "textures" (default 64) and "mvtec" (default: as stored): the side
        of the square images.

    Returns
    -------
    task : Task
        ``X_train``, ``y_train`` (1 for contaminating anomalies), ``X_test``,
        ``y_test`` (1 for anomalies) and ``masks_test`` (None without masks).
    """
    _check_dataset(dataset, data_path)
    if not isinstance(contamination, numbers.Real) or not 0 <= contamination < 1:
        raise ValueError(
            f"contamination must be a number in [0, 1); got {contamination!r}"
        )
    classes = dataset_classes(dataset, data_path)
    if normal_class not in classes:
        raise ValueError(
            f"{dataset} has no class {normal_class!r}; expected one of {list(classes)}"
        )
    default_train, default_test = _DEFAULT_SIZES[dataset]
    n_train = default_train if n_train is None else n_train
    n_test = default_test if n_test is None else n_test
    rng = check_random_state(seed)
    masks = None
    if dataset in ("fashion-mnist", "digits"):
        if dataset == "fashion-mnist":
            X, y, X_test, y_test = _load(dataset)
        else:  # digits have no official test split: hold out half of each class
            X, y = _load(dataset)
            X, X_test, y, y_test = train_test_split(
                X, y, test_size=0.5, stratify=y, random_state=0
            )
        normal = np.flatnonzero(y == normal_class)
        normal = normal[_subsample(len(normal), n_train, rng)]
        others = np.flatnonzero(y != normal_class)
        pool = np.concatenate([normal, others])
        test_idx = _subsample(len(X_test), n_test, np.random.RandomState(0))
        X_train, y_train, X_test, y_test = make_one_class_split(
            X[pool],
            y[pool],
            normal_class,
            X_test=X_test[test_idx],
            y_test=y_test[test_idx],
            contamination=contamination,
            random_state=seed,
        )
    elif dataset == "textures":
        size = 64 if image_size is None else image_size
        n_anomalies = math.floor(contamination * n_train / (1 - contamination))
        train = make_texture_defects(
            n_train + n_anomalies,
            image_size=size,
            texture=normal_class,
            anomaly_fraction=n_anomalies / (n_train + n_anomalies),
            subset="train",
            random_state=seed,
        )
        test = make_texture_defects(
            n_test,
            image_size=size,
            texture=normal_class,
            anomaly_fraction=0.5,
            subset="test",
            random_state=seed + 1,
        )
        X_train, y_train = train.images, train.target
        X_test, y_test, masks = test.images, test.target, test.masks
    else:  # mvtec
        if contamination:
            raise ValueError(
                "contamination is not available for dataset='mvtec': its "
                "training folder holds good images only"
            )
        data = _load(dataset, data_path, image_size, normal_class)
        train_idx = _subsample(len(data.X_train), n_train, rng)
        test_idx = _subsample(len(data.X_test), n_test, np.random.RandomState(0))
        X_train = data.X_train[train_idx]
        y_train = np.zeros(len(X_train), dtype=np.int64)
        X_test, y_test = data.X_test[test_idx], data.y_test[test_idx]
        masks = data.masks_test[test_idx]
    return Task(dataset, normal_class, seed, X_train, y_train, X_test, y_test, masks)


# --------------------------------------------------------------------- jobs
def _rss_mb():
    """Resident memory of this process in MiB (Linux), or None."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class _PeakMemory:
    """Peak resident memory of the process during a block, sampled every 20 ms.

    ``peak_mb`` is the largest increase over the resident memory at entry, so
    it covers what the job allocated (torch's allocations included, which
    ``tracemalloc`` does not see). Where ``/proc`` is not available it falls
    back to the process's lifetime peak (``ru_maxrss``).
    """

    def __enter__(self):
        self.start = _rss_mb()
        self.peak = self.start
        self._stop = threading.Event()
        if self.start is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            rss = _rss_mb()
            if rss is not None and rss > self.peak:
                self.peak = rss

    def __exit__(self, *exc):
        self._stop.set()
        if self.start is None:
            scale = 1 if sys.platform == "darwin" else 1024
            self.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (
                scale * 1024
            )
        else:
            self._thread.join()
            self.peak = max(self.peak, _rss_mb() or 0)
            self.peak_mb = self.peak - self.start
        return False


def _set_seed(estimator, seed):
    """A clone of ``estimator`` with every ``random_state`` parameter set."""
    estimator = clone(estimator)
    keys = [
        key
        for key in estimator.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    ]
    if keys:
        estimator.set_params(**dict.fromkeys(keys, seed))
    return estimator


def _final_step(estimator):
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def _precision_at_n(y_true, scores):
    """Precision among the n highest scores, n = number of anomalies (PyOD)."""
    n = int(np.sum(y_true))
    if n == 0:
        return float("nan")
    top = np.argsort(-scores, kind="stable")[:n]
    return float(np.mean(y_true[top]))


#: A deep detector trained for fewer optimizer steps than this gets a warning.
FEW_OPTIMIZER_STEPS = 100


def _optimizer_steps(detector, n_train):
    """``max_epochs * ceil(n_train / batch_size)`` of a deep detector, else None."""
    params = detector.get_params(deep=False) if hasattr(detector, "get_params") else {}
    if "max_epochs" not in params or "batch_size" not in params:
        return None
    return int(params["max_epochs"]) * math.ceil(n_train / params["batch_size"])


def _warn_few_steps(records):
    """Warn, once per detector, when its jobs trained for very few steps."""
    few = {}
    for r in records:
        steps = r.get("optimizer_steps")
        if steps is not None and 0 < steps < FEW_OPTIMIZER_STEPS:
            few.setdefault(r["detector"], (steps, r["n_train"]))
    for name, (steps, n_train) in few.items():
        warnings.warn(
            f"{name} trained for {steps} optimizer steps ({n_train} training "
            "images): too few to move a network far from its initial weights, "
            "so its scores say little about the method. Raise max_epochs (or "
            "n_train), or use preset='default' with all the training images.",
            UserWarning,
            stacklevel=3,
        )


def _run_job(name, estimator, task, threads, gallery):
    """Fit one detector on one task and measure it; return the record."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    detector = _set_seed(estimator, task.seed)
    with _PeakMemory() as memory:
        start = time.perf_counter()
        detector.fit(task.X_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        scores = np.asarray(detector.decision_function(task.X_test), dtype=float)
        score_s = time.perf_counter() - start
        maps = None
        final = _final_step(detector)
        if task.masks_test is not None and hasattr(final, "anomaly_map"):
            maps = final.anomaly_map(task.X_test)
    y = task.y_test
    record = {
        "detector": name,
        "dataset": task.dataset,
        "normal_class": task.normal_class,
        "seed": task.seed,
        "n_train": len(task.X_train),
        "n_train_anomalies": int(np.sum(task.y_train)),
        "n_test": len(task.X_test),
        "roc_auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        "precision_at_n": _precision_at_n(y, scores),
        "pixel_roc_auc": None,
        "aupro": None,
        "fit_s": fit_s,
        "optimizer_steps": _optimizer_steps(final, len(task.X_train)),
        "score_images_per_s": len(task.X_test) / max(score_s, 1e-9),
        "peak_memory_mb": memory.peak_mb,
        "scores": [round(float(s), 7) for s in scores],
        "y_test": [int(v) for v in y],
    }
    if maps is not None:
        maps = np.asarray(maps, dtype=float)
        record["pixel_roc_auc"] = float(pixel_roc_auc(task.masks_test, maps))
        record["aupro"] = float(aupro(task.masks_test, maps))
        if gallery:
            shown = np.flatnonzero(y == 1)[:4]
            record["gallery"] = {
                "images": np.asarray(task.X_test[shown], dtype=float).tolist(),
                "masks": np.asarray(task.masks_test[shown], dtype=float).tolist(),
                "maps": maps[shown].tolist(),
            }
    return record


def _describe(estimator):
    """A stable text description of an estimator and all its parameters."""
    from sklearn import config_context

    with config_context(print_changed_only=False):
        text = repr(estimator)
    return re.sub(r"\s+", " ", re.sub(r" at 0x[0-9a-f]+", "", text))


def _job_key(name, estimator, task_spec):
    from . import __version__

    text = json.dumps(
        {
            "detector": name,
            "estimator": _describe(estimator),
            "task": task_spec,
            "version": __version__,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")


def _cached_job(path, name, estimator, task_kwargs, threads, gallery):
    """Run one job unless ``path`` holds its result; write it atomically."""
    if path is not None and path.exists():
        with open(path) as f:
            record = json.load(f)
        if not gallery or "gallery" in record or record.get("aupro") is None:
            record["cached"] = True
            return record
    task = load_task(**task_kwargs)
    record = _run_job(name, estimator, task, threads, gallery)
    record["cached"] = False
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.replace(tmp, path)  # a job in flight when interrupted leaves nothing
    return record


def _resolve_detectors(detectors, preset, device):
    """``{name: estimator}`` from names, estimators, pairs or a dict."""
    if isinstance(detectors, str):
        detectors = [detectors]
    if isinstance(detectors, dict):
        items = list(detectors.items())
    else:
        items = []
        for entry in detectors:
            if isinstance(entry, str):
                items.append(
                    (entry, make_detector(entry, preset=preset, device=device))
                )
            elif isinstance(entry, tuple) and len(entry) == 2:
                items.append(entry)
            elif hasattr(entry, "fit") and hasattr(entry, "decision_function"):
                items.append((type(_final_step(entry)).__name__, entry))
            else:
                raise TypeError(
                    "each detector must be a name, an estimator with fit and "
                    f"decision_function, or a (name, estimator) pair; got {entry!r}"
                )
    if not items:
        raise ValueError("detectors is empty; give at least one detector")
    resolved = {}
    for name, estimator in items:
        if not isinstance(name, str):
            raise TypeError(f"detector names must be strings; got {name!r}")
        if name in resolved:
            raise ValueError(
                f"detector name {name!r} appears twice; give each a unique name"
            )
        if not (hasattr(estimator, "fit") and hasattr(estimator, "decision_function")):
            raise TypeError(
                f"detector {name!r} must have fit and decision_function; got "
                f"{type(estimator).__name__}"
            )
        resolved[name] = estimator
    return resolved


def _progress(total, verbose):
    if not verbose:
        return contextlib.nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="benchmark", unit="job", file=sys.stderr)


def run_benchmark(
    detectors,
    dataset="fashion-mnist",
    *,
    classes=None,
    seeds=(0,),
    preset="quick",
    contamination=0.0,
    n_train=None,
    n_test=None,
    data_path=None,
    image_size=None,
    n_jobs=1,
    cache_dir=None,
    device="cpu",
    gallery=False,
    verbose=True,
    cached_only=False,
):
    """Run detectors over the classes and seeds of a data set.

    Every (detector, class, seed) triple is one job: load the split
    (:func:`load_task`), fit the detector with ``random_state=seed``, score the
    test images, and measure ROC AUC, average precision, precision@n (n = the
    number of anomalies), pixel ROC AUC and AUPRO (FPR up to 0.3) where the
    data set has masks and the detector has ``anomaly_map``, fit seconds,
    scoring images per second, and peak memory (the increase of the process's
    resident memory during the job).

    Parameters
    ----------
    detectors : list or dict
        Names from :func:`available_detectors`, estimator objects,
        ``(name, estimator)`` pairs, or a ``{name: estimator}`` dict.
        Estimators are cloned; each job sets every ``random_state`` parameter
        (pipeline steps included) to its seed.
    dataset : {"fashion-mnist", "digits", "textures", "mvtec"}, default="fashion-mnist"
        See :func:`load_task`.
    classes : list, default=None
        Normal classes to run; None runs all of the data set's classes.
    seeds : list of int, default=(0,)
        One job per seed: seeds the training subsample and the detector.
    preset : {"quick", "full", "default"}, default="quick"
        Settings of detectors given by name (see :func:`make_detector`).
    contamination : float, default=0.0
        Fraction of anomalies in the training sets (see :func:`load_task`).
    n_train, n_test, data_path, image_size
        See :func:`load_task`.
    n_jobs : int, default=1
        Jobs run in parallel with joblib; -1 uses every core. Each job's torch
        uses ``cores // n_jobs`` threads so that parallel jobs do not fight.
    cache_dir : str or path-like, default=None
        Folder where each finished job is saved as JSON as soon as it ends. A
        rerun with the same settings loads finished jobs instead of running
        them, so an interrupted run loses at most the jobs in flight. A
        job's file name holds a hash of the detector's full parameters, the
        task and the library version: changing any of them reruns it.
    device : str, default="cpu"
        Device of deep detectors given by name.
    gallery : bool, default=False
        Keep four anomalous test images with their masks and anomaly maps per
        job (localizing detectors on data sets with masks), for
        :meth:`BenchmarkResults.plot_gallery`.
    verbose : bool, default=True
        Show a progress bar on stderr.
    cached_only : bool, default=False
        Run nothing: return only the jobs already finished in ``cache_dir``
        (a report of a run still in progress, or stopped early).

    Returns
    -------
    results : BenchmarkResults
        One record per job, in (detector, class, seed) order.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}; got {preset!r}")
    all_classes = dataset_classes(dataset, data_path)
    classes = list(all_classes) if classes is None else list(classes)
    for c in classes:
        if c not in all_classes:
            raise ValueError(
                f"{dataset} has no class {c!r}; expected some of {list(all_classes)}"
            )
    seeds = [seeds] if isinstance(seeds, numbers.Integral) else list(seeds)
    if not seeds or not all(isinstance(s, numbers.Integral) for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers; got {seeds!r}")
    detectors = _resolve_detectors(detectors, preset, device)
    cache = None if cache_dir is None else Path(cache_dir)

    n_workers = os.cpu_count() if n_jobs in (None, -1) else max(1, int(n_jobs))
    threads = max(1, (os.cpu_count() or 1) // n_workers) if n_workers > 1 else None
    jobs = []
    for name, estimator in detectors.items():
        for c in classes:
            for seed in seeds:
                task_kwargs = dict(
                    dataset=dataset,
                    normal_class=c,
                    seed=int(seed),
                    contamination=contamination,
                    n_train=n_train,
                    n_test=n_test,
                    data_path=None if data_path is None else str(data_path),
                    image_size=image_size,
                )
                path = None
                if cache is not None:
                    key = _job_key(name, estimator, task_kwargs)
                    path = cache / (
                        f"{_slug(name)}-{_slug(dataset)}-{_slug(c)}-s{seed}-{key}.json"
                    )
                if cached_only and (path is None or not path.exists()):
                    continue
                jobs.append((path, name, estimator, task_kwargs, threads, gallery))

    records = [None] * len(jobs)
    with _progress(len(jobs), verbose) as bar:
        outputs = Parallel(n_jobs=n_workers, return_as="generator_unordered")(
            delayed(_indexed)(i, *job) for i, job in enumerate(jobs)
        )
        for i, record in outputs:
            records[i] = record
            if bar is not None:
                bar.set_postfix_str(
                    f"{record['detector']} class {record['normal_class']} "
                    f"seed {record['seed']}: ROC AUC {record['roc_auc']:.3f}"
                )
                bar.update()
    settings = dict(
        dataset=dataset,
        classes=classes,
        seeds=seeds,
        preset=preset,
        contamination=contamination,
        n_train=n_train,
        n_test=n_test,
        data_path=None if data_path is None else str(data_path),
        image_size=image_size,
        detectors={name: _describe(est) for name, est in detectors.items()},
    )
    _warn_few_steps(records)
    return BenchmarkResults(records, settings)


def _indexed(i, *job):
    return i, _cached_job(*job)


# ------------------------------------------------------------------ results
_METRIC_NAMES = {
    "roc_auc": "ROC AUC",
    "average_precision": "average precision",
    "precision_at_n": "precision@n",
    "pixel_roc_auc": "pixel ROC AUC",
    "aupro": "AUPRO (FPR <= 0.3)",
}

#: Record fields written to CSV, in order (per-image scores stay in JSON).
CSV_FIELDS = (
    "detector",
    "dataset",
    "normal_class",
    "seed",
    "n_train",
    "n_train_anomalies",
    "n_test",
    "roc_auc",
    "average_precision",
    "precision_at_n",
    "pixel_roc_auc",
    "aupro",
    "fit_s",
    "optimizer_steps",
    "score_images_per_s",
    "peak_memory_mb",
    "cached",
)


def _mean_spread(values):
    """``"mean ± std"`` over seeds (sample std; no spread for one value)."""
    values = [v for v in values if v is not None and not np.isnan(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


class BenchmarkResults:
    """The records of a benchmark run, with tables and plots.

    Attributes
    ----------
    records : list of dict
        One per (detector, class, seed) job; the keys are
        :data:`CSV_FIELDS` plus ``scores`` and ``y_test`` (per test image).
    settings : dict
        The data set, classes, seeds, preset and detectors of the run.
    """

    def __init__(self, records, settings=None):
        self.records = list(records)
        self.settings = dict(settings or {})

    def __len__(self):
        return len(self.records)

    def __repr__(self):
        return f"BenchmarkResults({len(self.records)} records)"

    @property
    def detectors(self):
        return list(dict.fromkeys(r["detector"] for r in self.records))

    @property
    def classes(self):
        return list(dict.fromkeys(r["normal_class"] for r in self.records))

    def _select(self, detector=None, normal_class=None):
        return [
            r
            for r in self.records
            if (detector is None or r["detector"] == detector)
            and (normal_class is None or r["normal_class"] == normal_class)
        ]

    def summary(self, metric="roc_auc"):
        """Mean over classes per seed, then mean and std over seeds.

        Returns
        -------
        summary : dict
            ``{detector: (mean, std, n_seeds)}``; std is 0 for one seed.
        """
        out = {}
        for det in self.detectors:
            per_seed = {}
            for r in self._select(det):
                if r.get(metric) is not None:
                    per_seed.setdefault(r["seed"], []).append(r[metric])
            means = [np.mean(v) for v in per_seed.values()]
            if means:
                std = float(np.std(means, ddof=1)) if len(means) > 1 else 0.0
                out[det] = (float(np.mean(means)), std, len(means))
        return out

    def table(self, metric="roc_auc"):
        """Header and rows: one row per detector, a column per class, the mean.

        Each cell is the mean over seeds ± the standard deviation over seeds;
        the last column averages over classes per seed first.
        """
        header = ["detector", *[str(c) for c in self.classes], "mean"]
        rows = []
        for det in self.detectors:
            per_seed = {}
            row = [det]
            for c in self.classes:
                values = [r.get(metric) for r in self._select(det, c)]
                row.append(_mean_spread(values))
                for r in self._select(det, c):
                    if r.get(metric) is not None:
                        per_seed.setdefault(r["seed"], []).append(r[metric])
            row.append(_mean_spread([np.mean(v) for v in per_seed.values()]))
            rows.append(row)
        return header, rows

    def cost_table(self):
        """Header and rows: mean fit seconds, scoring images/s, peak memory."""
        header = [
            "detector",
            "fit s (mean)",
            "scoring images/s (mean)",
            "peak memory MiB (max)",
            "jobs",
        ]
        rows = []
        for det in self.detectors:
            records = self._select(det)
            memory = [r["peak_memory_mb"] for r in records if r["peak_memory_mb"]]
            rows.append(
                [
                    det,
                    f"{np.mean([r['fit_s'] for r in records]):.1f}",
                    f"{np.mean([r['score_images_per_s'] for r in records]):.0f}",
                    f"{max(memory):.0f}" if memory else "–",
                    str(len(records)),
                ]
            )
        return header, rows

    def to_markdown(self, metrics=None):
        """Markdown tables of the metrics and of the cost of each detector.

        Parameters
        ----------
        metrics : list of str, default=None
            Metrics to tabulate; None gives ROC AUC, average precision and
            precision@n, plus pixel ROC AUC and AUPRO when any job has them.
        """
        if metrics is None:
            metrics = ["roc_auc", "average_precision", "precision_at_n"]
            for extra in ("pixel_roc_auc", "aupro"):
                if any(r.get(extra) is not None for r in self.records):
                    metrics.append(extra)
        n_seeds = len({r["seed"] for r in self.records})
        spread = (
            f"mean ± standard deviation over {n_seeds} seeds"
            if n_seeds > 1
            else "one seed"
        )
        parts = []
        for metric in metrics:
            parts.append(f"#### {_METRIC_NAMES.get(metric, metric)} ({spread})\n")
            parts.append(_markdown(*self.table(metric)))
        parts.append("#### Cost per job\n")
        parts.append(_markdown(*self.cost_table()))
        return "\n".join(parts)

    def to_csv(self, path):
        """Write one row per job (no per-image scores) to ``path``."""
        import csv

        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
            writer.writeheader()
            for r in self.records:
                writer.writerow(r)

    def to_json(self, path):
        """Write the settings and every record, per-image scores included."""
        with open(path, "w") as f:
            json.dump({"settings": self.settings, "records": self.records}, f)

    @classmethod
    def from_json(cls, path):
        """Read results written by :meth:`to_json`."""
        with open(path) as f:
            data = json.load(f)
        return cls(data["records"], data.get("settings"))

    # ------------------------------------------------------------- plots
    def plot_roc(self, path, seed=None):
        """ROC curves, one panel per class, one curve per detector."""
        from sklearn.metrics import roc_curve

        plt = _pyplot()
        seed = self.records[0]["seed"] if seed is None else seed
        classes = self.classes
        cols = min(5, len(classes))
        rows = math.ceil(len(classes) / cols)
        fig, axes = plt.subplots(
            rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False
        )
        for ax, c in zip(axes.flat, classes):
            for det in self.detectors:
                for r in self._select(det, c):
                    if r["seed"] == seed:
                        fpr, tpr, _ = roc_curve(r["y_test"], r["scores"])
                        ax.plot(fpr, tpr, label=f"{det} ({r['roc_auc']:.3f})")
            ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
            ax.set_title(f"class {c}", fontsize=9)
            ax.set_xlabel("false positive rate", fontsize=8)
            ax.set_ylabel("true positive rate", fontsize=8)
            ax.legend(fontsize=5, loc="lower right")
        for ax in list(axes.flat)[len(classes) :]:
            ax.axis("off")
        fig.suptitle(f"ROC curves, seed {seed}")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def plot_per_class(self, path, metric="roc_auc"):
        """Grouped bars per class (mean over seeds, std as error bars)."""
        plt = _pyplot()
        classes, detectors = self.classes, self.detectors
        width = 0.8 / len(detectors)
        fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(classes) + 2), 4))
        x = np.arange(len(classes))
        # Up to 20 distinguishable colours (the default cycle repeats after 10).
        palette = plt.get_cmap("tab20" if len(detectors) > 10 else "tab10")
        for i, det in enumerate(detectors):
            means, stds = [], []
            for c in classes:
                v = [
                    r[metric] for r in self._select(det, c) if r.get(metric) is not None
                ]
                means.append(np.mean(v) if v else np.nan)
                stds.append(np.std(v, ddof=1) if len(v) > 1 else 0.0)
            ax.bar(
                x + i * width,
                means,
                width,
                yerr=stds,
                label=det,
                capsize=2,
                color=palette(i % palette.N),
            )
        ax.set_xticks(x + 0.4 - width / 2)
        ax.set_xticklabels([str(c) for c in classes])
        ax.set_xlabel("normal class")
        ax.set_ylabel(_METRIC_NAMES.get(metric, metric))
        # Bars start at chance level (0.5 for the ROC AUCs; 0 when a bar falls
        # below it), not just under the lowest bar, which would exaggerate
        # small differences.
        low = np.nanmin([r[metric] for r in self.records if r.get(metric) is not None])
        bottom = 0.5 if low >= 0.5 and "roc_auc" in metric else 0.0
        ax.set_ylim(bottom, 1.0)
        if bottom == 0.5:
            ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
        # Beside the axes, so that it never hides a bar.
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)

    def plot_gallery(self, path):
        """Anomalous test images, their masks and each detector's anomaly maps."""
        plt = _pyplot()
        shown = [r for r in self.records if r.get("gallery")]
        if not shown:
            raise ValueError(
                "no record has a gallery; run with gallery=True on a data set "
                "with masks and a detector with anomaly_map"
            )
        seen, rows = set(), []
        for r in shown:  # one record per (detector, class)
            if (r["detector"], r["normal_class"]) not in seen:
                seen.add((r["detector"], r["normal_class"]))
                rows.append(r)
        n_img = len(rows[0]["gallery"]["images"])
        fig, axes = plt.subplots(
            len(rows),
            2 * n_img,
            figsize=(2 * n_img * 1.3, 1.4 * len(rows)),
            squeeze=False,
        )
        for ax_row, r in zip(axes, rows):
            g = r["gallery"]
            for j in range(n_img):
                image = np.asarray(g["images"][j])
                if image.ndim == 3 and image.shape[0] in (1, 3):
                    image = np.moveaxis(image, 0, -1)
                image = image.squeeze()
                image = image / max(image.max(), 1e-9)
                ax_row[2 * j].imshow(image, cmap="gray")
                ax_row[2 * j].contour(np.asarray(g["masks"][j]), [0.5], colors="r")
                ax_row[2 * j + 1].imshow(np.asarray(g["maps"][j]), cmap="inferno")
            ax_row[0].set_ylabel(f"{r['detector']}\n{r['normal_class']}", fontsize=6)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def save(self, out_dir, *, plots=False):
        """Write results.csv, results.json, results.md (and plots) to a folder.

        Returns the list of written paths.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "results.csv", out / "results.json", out / "results.md"]
        self.to_csv(paths[0])
        self.to_json(paths[1])
        paths[2].write_text(self.to_markdown())
        if plots:
            paths.append(out / "roc_curves.png")
            self.plot_roc(paths[-1])
            paths.append(out / "per_class_roc_auc.png")
            self.plot_per_class(paths[-1])
            if any(r.get("gallery") for r in self.records):
                paths.append(out / "anomaly_maps.png")
                self.plot_gallery(paths[-1])
        return paths


def _markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "plots need matplotlib: pip install 'skanomaly[plot]'"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
