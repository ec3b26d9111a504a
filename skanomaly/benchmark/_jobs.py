"""One benchmark job (fit, score, measure) and its cache on disk."""

import math
import numbers
import os
import resource
import sys
import threading
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.metrics import average_precision_score, roc_auc_score

from ..metrics import aupro, pixel_roc_auc
from ._cache import _read_cached, claim, write_record
from ._checkpoints import CheckpointScores
from ._parallel import job_threads, limited_threads
from ._tasks import load_task


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
    """Return a clone of ``estimator`` with every ``random_state`` parameter set."""
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
    """Precision among the n highest scores, n = number of anomalies (PyOD's)."""
    from pyod.utils.utility import precision_n_scores

    if not np.any(y_true):
        return float("nan")
    return float(precision_n_scores(y_true, scores))


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


def _run_job(name, estimator, task, threads, gallery, rescore=None, checkpoints=None):
    """Fit one detector on one task and measure it; return the record.

    ``threads``: torch and BLAS threads (``None``: leave them alone), as
    :func:`._parallel.plan_threads` gives them, restored after. ``rescore``:
    ``{label: scoring parameters}``, other scores of the same fit (see
    :meth:`skanomaly.base.BaseImageDetector.rescore`), measured into the
    record's ``"rescored"``. ``checkpoints``: epochs at which the test images
    are scored during the fit too (:class:`._checkpoints.CheckpointScores`),
    into the record's ``"checkpoints"``.
    """
    with limited_threads(job_threads(threads)):
        return _measure(name, estimator, task, gallery, rescore, checkpoints)


def _metrics(y, scores):
    return {
        "roc_auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        "precision_at_n": _precision_at_n(y, scores),
    }


def _history(final):
    """Per-epoch numbers of a skorch history (the losses), without batches."""
    history = getattr(final, "history_", None)
    if history is None:
        return None
    return [
        {
            key: value
            for key, value in epoch.items()
            if key != "batches"
            and isinstance(value, (numbers.Real, str))
            and not isinstance(value, bool)
        }
        for epoch in history
    ]


def _per_defect(task, scores, maps):
    """Metrics per defect type: the good test images against those of one type.

    ``{type: {"n": images, "roc_auc", "pixel_roc_auc", "aupro"}}`` (pixel
    metrics None without maps); None when the task names no defect types.
    """
    kinds = task.defect_types_test
    if kinds is None:
        return None
    good = kinds == "good"
    out = {}
    for kind in dict.fromkeys(k for k in kinds if k != "good"):
        chosen = good | (kinds == kind)
        entry = {
            "n": int(np.sum(kinds == kind)),
            "roc_auc": float(roc_auc_score(task.y_test[chosen], scores[chosen])),
            "pixel_roc_auc": None,
            "aupro": None,
        }
        if maps is not None:
            entry["pixel_roc_auc"] = float(
                pixel_roc_auc(task.masks_test[chosen], maps[chosen])
            )
            entry["aupro"] = float(aupro(task.masks_test[chosen], maps[chosen]))
        out[str(kind)] = entry
    return out


def _measure(name, estimator, task, gallery, rescore=None, checkpoints=None):
    detector = _set_seed(estimator, task.seed)
    curve = None
    if checkpoints:
        curve = CheckpointScores(detector, task, checkpoints, _metrics, rescore)
        detector.set_params(callbacks=[*(detector.callbacks or ()), curve])
    with _PeakMemory() as memory:
        start = time.perf_counter()
        detector.fit(task.X_train)
        fit_s = time.perf_counter() - start - (curve.eval_seconds if curve else 0.0)
        final = _final_step(detector)
        maps = None
        start = time.perf_counter()
        if task.masks_test is not None and hasattr(final, "anomaly_map"):
            if final is detector:  # scores and maps from one pass
                maps, scores = detector.anomaly_map(task.X_test, return_scores=True)
            else:
                scores = detector.decision_function(task.X_test)
                maps = final.anomaly_map(task.X_test)
        else:
            scores = detector.decision_function(task.X_test)
        score_s = time.perf_counter() - start
        scores = np.asarray(scores, dtype=float)
    y = task.y_test
    record = {
        "detector": name,
        "dataset": task.dataset,
        "normal_class": task.normal_class,
        "seed": task.seed,
        "n_train": len(task.X_train),
        "n_train_anomalies": int(np.sum(task.y_train)),
        "n_test": len(task.X_test),
        **_metrics(y, scores),
        "pixel_roc_auc": None,
        "aupro": None,
        "fit_s": fit_s,
        "optimizer_steps": _optimizer_steps(final, len(task.X_train)),
        "epochs_run": len(final.history_) if hasattr(final, "history_") else None,
        "score_images_per_s": len(task.X_test) / max(score_s, 1e-9),
        "peak_memory_mb": memory.peak_mb,
        "scores": [round(float(s), 7) for s in scores],
        "y_test": [int(v) for v in y],
        "history": _history(final),
    }
    if curve is not None:
        record["checkpoints"] = curve.rows
    if rescore:
        record["rescored"] = {}
        with_maps = maps is not None
        for label, params in rescore.items():
            if callable(params):  # a diagnostic: scores only
                other, other_maps = params(final, task), None
            else:
                other = final.rescore(task.X_test, return_maps=with_maps, **params)
                other, other_maps = other if with_maps else (other, None)
            other = np.asarray(other, dtype=float)
            if other_maps is not None:
                other_maps = np.asarray(other_maps, dtype=float)
            record["rescored"][label] = {
                **_metrics(y, other),
                "pixel_roc_auc": None,
                "aupro": None,
                "scores": [round(float(s), 7) for s in other],
                "per_defect": _per_defect(task, other, other_maps),
            }
            if other_maps is not None:
                record["rescored"][label].update(
                    pixel_roc_auc=float(pixel_roc_auc(task.masks_test, other_maps)),
                    aupro=float(aupro(task.masks_test, other_maps)),
                )
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
    record["per_defect"] = _per_defect(task, scores, maps)
    return record


def _cached_job(
    path, name, estimator, task_kwargs, threads, gallery, rescore=None, checkpoints=None
):
    """Run one job unless ``path`` holds its result; write it atomically.

    With a cache, the job is claimed first (see :mod:`._cache`): when another
    process is running it, this one waits for its record instead.
    """
    if path is None:
        return _fresh_job(
            name, estimator, task_kwargs, threads, gallery, rescore, checkpoints
        )

    def usable(path):
        record = _read_cached(path) if path.exists() else None
        if record is None:
            return None
        if gallery and "gallery" not in record and record.get("aupro") is not None:
            return None  # no gallery: run again to make one
        record["cached"] = True
        return record

    path.parent.mkdir(parents=True, exist_ok=True)
    record, held = claim(path, usable)
    if held is None:
        return record
    try:
        record = _fresh_job(
            name, estimator, task_kwargs, threads, gallery, rescore, checkpoints
        )
        if held.held():  # else taken over as stale: the new owner writes it
            write_record(path, record)
    finally:
        held.release()
    return record


def _fresh_job(
    name, estimator, task_kwargs, threads, gallery, rescore=None, checkpoints=None
):
    task = load_task(**task_kwargs)
    record = _run_job(name, estimator, task, threads, gallery, rescore, checkpoints)
    record["cached"] = False
    return record
