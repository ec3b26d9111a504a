"""run_benchmark: every (detector, class, seed) job, in parallel, cached."""

import contextlib
import numbers
import sys
from pathlib import Path

from joblib import Parallel, delayed

from ..base import BaseDeepDetector
from ._cache import clean_orphan_temporaries
from ._detectors import PRESETS, make_detector
from ._jobs import _cached_job, _final_step, _warn_few_steps
from ._keys import _describe, _job_key, _slug
from ._parallel import plan_threads
from ._results import BenchmarkResults
from ._tasks import dataset_classes


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
    n_jobs=None,
    cache_dir=None,
    device="cpu",
    gallery=False,
    verbose=True,
    cached_only=False,
    on_job_done=None,
    rescore=None,
    checkpoints=None,
):
    """Run detectors over the classes and seeds of a data set.

    Every (detector, class, seed) triple is one job: load the split
    (:func:`load_task`), fit the detector with ``random_state=seed``, score the
    test images, and measure ROC AUC, average precision, precision@n (n = the
    number of anomalies), pixel ROC AUC and AUPRO (FPR up to 0.3) where the
    data set has masks and the detector has ``anomaly_map``, fit seconds,
    scoring images per second (scores and, where measured, maps: they come
    from one pass of the network), and peak memory (the increase of the
    process's resident memory during the job).

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
    n_jobs : int, default=None
        Jobs run in parallel with joblib, as in scikit-learn: ``None`` means 1
        unless inside a :func:`joblib.parallel_config` block, -1 every core.
        Inside ``joblib.parallel_config(backend="dask")`` the jobs run on the
        Dask cluster's workers, all of them whatever ``n_jobs`` (joblib's Dask
        backend). Each job limits its torch and BLAS threads to its share of
        its machine's cores (``cores // n_jobs``; on a Dask cluster, cores //
        worker threads on that machine), so that parallel jobs do not fight.
    cache_dir : str or path-like, default=None
        Folder where each finished job is saved as JSON as soon as it ends. A
        rerun with the same settings loads finished jobs instead of running
        them, so an interrupted run loses at most the jobs in flight. A
        job's file name holds a hash of the detector's full parameters, the
        task and the library version: changing any of them reruns it.
        Several processes (concurrent runs, Dask workers) may share it: a
        job is claimed before it runs (a ``.lock`` file), so it runs once;
        the claim of a killed process is taken over.
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
    on_job_done : callable, default=None
        Called as ``on_job_done(record, n_done, n_jobs)`` when each job
        finishes (in the order they finish), e.g. to report progress.
    rescore : dict, default=None
        Other scores of the same fits, without refitting:
        ``{detector name: {label: scoring parameters}}``, e.g.
        ``{"EncoderGAN": {"latent norm": {"score": "latent_norm"}}}``. Each
        fitted detector also scores the test images with
        ``rescore(X_test, **parameters)``
        (:meth:`skanomaly.base.BaseImageDetector.rescore`), or, where a
        callable stands for the parameters, with ``callable(detector, task)``
        (a diagnostic, given the fitted detector and the :class:`Task`, which
        returns the test images' scores; named by its qualified name in the
        cache key, so change its name when its code changes). The results hold
        these as further rows named ``"<detector> [<label>]"``, with the fit's
        time and memory, and ``"rescored_from"`` set to the detector's name.
    checkpoints : dict, default=None
        Learning curves from one fit: ``{detector name: epochs}``. A deep
        detector also scores the test images after each of these epochs (0:
        before training), with its statistics computed as ``fit`` computes
        them and each ``rescore`` variant, without changing its training (its
        random generators are restored; the time is not counted in
        ``fit_s``). Each record then holds ``"checkpoints"``: per epoch,
        ``epoch``, ``optimizer_steps``, ``fit_s`` (training seconds so far),
        ``roc_auc``, ``average_precision`` and ``rescored``
        (``{label: roc_auc}``). Detectors trained in several stages of
        networks (UTAD) cannot be checkpointed.

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
    rescore = _check_rescore(rescore, detectors)
    checkpoints = _check_checkpoints(checkpoints, detectors)
    cache = None if cache_dir is None else Path(cache_dir)
    if cache is not None and cache.is_dir():
        clean_orphan_temporaries(cache)

    threads = plan_threads(n_jobs)
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
                    key = _job_key(
                        name,
                        estimator,
                        task_kwargs,
                        rescore.get(name),
                        checkpoints.get(name),
                    )
                    path = cache / (
                        f"{_slug(name)}-{_slug(dataset)}-{_slug(c)}-s{seed}-{key}.json"
                    )
                if cached_only and (path is None or not path.exists()):
                    continue
                jobs.append(
                    (
                        path,
                        name,
                        estimator,
                        task_kwargs,
                        threads,
                        gallery,
                        rescore.get(name),
                        checkpoints.get(name),
                    )
                )

    records = [None] * len(jobs)
    with _progress(len(jobs), verbose) as bar:
        outputs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_indexed)(i, *job) for i, job in enumerate(jobs)
        )
        for i, record in outputs:
            records[i] = record
            if on_job_done is not None:
                on_job_done(record, sum(r is not None for r in records), len(jobs))
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
    if rescore:
        settings["rescore"] = rescore
    if checkpoints:
        settings["checkpoints"] = checkpoints
    _warn_few_steps(records)
    return BenchmarkResults(_with_rescored(records), settings)


def _per_detector(option, value, detectors, expected):
    """``(name, setting, estimator)`` of a ``{detector name: setting}`` option."""
    if not isinstance(value, dict):
        raise TypeError(
            f"{option} must be a dict {{detector name: {expected}}}; got "
            f"{type(value).__name__}"
        )
    for name, setting in value.items():
        if name not in detectors:
            raise ValueError(
                f"{option} names detector {name!r}, which is not among the "
                f"detectors run: {list(detectors)}"
            )
        yield name, setting, detectors[name]


def _check_rescore(rescore, detectors):
    """Validate ``rescore`` against the detectors; ``{}`` when None."""
    if rescore is None:
        return {}
    checked = {}
    for name, variants, estimator in _per_detector(
        "rescore", rescore, detectors, "{label: scoring parameters}"
    ):
        allowed = tuple(getattr(estimator, "_scoring_params", ()))
        if not hasattr(estimator, "rescore") or not allowed:
            raise ValueError(
                f"detector {name!r} ({type(estimator).__name__}) cannot rescore: "
                "only a skanomaly detector with scoring parameters can, not a "
                "pipeline or another library's detector"
            )
        if not isinstance(variants, dict) or not all(
            isinstance(label, str) and (isinstance(params, dict) or callable(params))
            for label, params in variants.items()
        ):
            raise TypeError(
                f"rescore[{name!r}] must be a dict {{label: {{parameter: value}}}} "
                f"(or {{label: callable}}); got {variants!r}"
            )
        for label, params in variants.items():
            if callable(params):
                continue
            unknown = sorted(set(params) - set(allowed))
            if unknown:
                raise ValueError(
                    f"rescore[{name!r}][{label!r}] sets {unknown}, which are not "
                    f"scoring parameters of {type(estimator).__name__}; expected "
                    f"some of {list(allowed)}"
                )
        checked[name] = {
            label: params if callable(params) else dict(params)
            for label, params in variants.items()
        }
    return checked


def _check_checkpoints(checkpoints, detectors):
    """Validate ``checkpoints`` against the detectors; ``{}`` when None."""
    if checkpoints is None:
        return {}
    checked = {}
    for name, epochs, estimator in _per_detector(
        "checkpoints", checkpoints, detectors, "list of epochs"
    ):
        if not isinstance(estimator, BaseDeepDetector) or not getattr(
            estimator, "_checkpointable", True
        ):
            raise ValueError(
                f"detector {name!r} ({type(estimator).__name__}) cannot be "
                "checkpointed: only a skanomaly detector trained as one skorch "
                "net can (not a pipeline, not UTAD, not a detector without training)"
            )
        valid = isinstance(epochs, (list, tuple, range)) and all(
            isinstance(e, numbers.Integral) and not isinstance(e, bool) and e >= 0
            for e in epochs
        )
        if not valid or not epochs:
            raise ValueError(
                f"checkpoints[{name!r}] must be a non-empty list of epochs "
                f"(integers >= 0); got {checkpoints[name]!r}"
            )
        checked[name] = sorted({int(e) for e in epochs})
    return checked


def _with_rescored(records):
    """Return the records, each followed by one record per rescored variant."""
    out = []
    for record in records:
        out.append(record)
        for label, measured in (record.get("rescored") or {}).items():
            derived = {
                key: value
                for key, value in record.items()
                if key not in ("rescored", "gallery", "checkpoints")
            }
            derived.update(measured)
            derived["detector"] = f"{record['detector']} [{label}]"
            derived["rescored_from"] = record["detector"]
            out.append(derived)
    return out


def _indexed(i, *job):
    return i, _cached_job(*job)
