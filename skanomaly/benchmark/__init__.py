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
objects. Every registered detector (:func:`skanomaly.register_detector`) is
available by its class name without any change here; its settings for
``preset="quick"`` and ``preset="full"`` come from its class attribute
``presets``.

Jobs run where joblib's active backend runs them: in local processes
(``n_jobs``) or, inside ``joblib.parallel_config(backend="dask")``, on a Dask
cluster; several processes may share one cache folder.

The package's modules: ``_detectors`` (detectors by name and presets),
``_tasks`` (data sets and splits), ``_jobs`` (one job: fit, score, measure),
``_keys`` (what a job's cached result depends on, hashed), ``_cache`` (the
cache on disk: records and claims of jobs in flight),
``_checkpoints`` (learning curves from one fit), ``_parallel`` (threads per
job, locally and on a Dask cluster), ``_runner``
(:func:`run_benchmark`) and ``_results`` (:class:`BenchmarkResults`: tables,
files and plots).
"""

from ._detectors import (
    PRESETS,
    UNTRAINED_SUFFIX,
    available_detectors,
    make_detector,
)
from ._jobs import FEW_OPTIMIZER_STEPS
from ._results import CSV_FIELDS, BenchmarkResults
from ._runner import run_benchmark
from ._tasks import DATASETS, Task, dataset_classes, load_task

__all__ = [
    "CSV_FIELDS",
    "DATASETS",
    "FEW_OPTIMIZER_STEPS",
    "PRESETS",
    "UNTRAINED_SUFFIX",
    "BenchmarkResults",
    "Task",
    "available_detectors",
    "dataset_classes",
    "load_task",
    "make_detector",
    "run_benchmark",
]
