"""A grid search serially and on a local Dask cluster: seconds and equal results.

Times ``GridSearchCV`` over ``ConvAutoEncoder`` (a 2 x 2 grid of ``latent_dim``
and ``lr``, ``OneClassKFold`` with 3 folds, ROC AUC, ``random_state=0``) on
1,000 Fashion-MNIST training images of class 0 plus 200 images of the other
classes as anomalies, four ways, in this order:

- serially in this process with one torch thread,
- serially with one torch thread per core (the whole machine in one process),
- inside ``joblib.parallel_config(backend="dask")`` on a
  ``distributed.LocalCluster`` of ``--workers`` processes with one thread each
  (this process refits the best detector with one torch thread), with Dask's
  default worker environment,
- the same with ``MALLOC_TRIM_THRESHOLD_`` unset on the workers (Dask sets it
  to 65536 by default, which slows torch's training there).

The cluster is started, and its workers import skanomaly, before the clock
starts; that start is timed apart. The cluster's ``cv_results_`` scores and
``best_params_`` are checked against the one-thread serial run, bit for bit
(each worker's torch runs one thread, Dask's default).

    python benchmarks/scaling_out.py          # writes docs/benchmarks/scaling_out.md
    python benchmarks/scaling_out.py --quick  # smoke run on tiny settings, prints
"""

import argparse
import os
import sys
import time

import joblib
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table, publish  # noqa: E402

from skanomaly import ConvAutoEncoder  # noqa: E402
from skanomaly.benchmark._parallel import limited_threads  # noqa: E402
from skanomaly.datasets import fetch_fashion_mnist  # noqa: E402
from skanomaly.model_selection import OneClassKFold  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(os.path.dirname(HERE), "docs", "benchmarks", "scaling_out.md")
SEED = 0
GRID = {"latent_dim": [16, 32], "lr": [1e-3, 3e-3]}
N_SPLITS = 3
FULL = dict(n_normal=1000, n_anomalies=200, detector=dict(max_epochs=5))
QUICK = dict(
    n_normal=60,
    n_anomalies=12,
    detector=dict(n_filters=4, depth=2, latent_dim=4, max_epochs=1),
)


def load_data(n_normal, n_anomalies):
    train = fetch_fashion_mnist(subset="train")
    normal = np.flatnonzero(train.target == 0)[:n_normal]
    rng = np.random.default_rng(SEED)
    others = rng.choice(np.flatnonzero(train.target != 0), n_anomalies, replace=False)
    X = train.images[np.r_[normal, others]]
    y = np.r_[np.zeros(len(normal), int), np.ones(len(others), int)]
    return X, y


def search(detector_settings):
    detector = ConvAutoEncoder(**detector_settings, device="cpu", random_state=SEED)
    return GridSearchCV(
        detector,
        GRID,
        scoring="roc_auc",
        cv=OneClassKFold(n_splits=N_SPLITS, random_state=SEED),
    )


def timed_search(detector_settings, X, y, threads):
    """Fit a grid search with ``threads`` torch and BLAS threads here; time it."""
    with limited_threads(threads):
        start = time.perf_counter()
        fitted = search(detector_settings).fit(X, y)
        return fitted, time.perf_counter() - start


def _import_skanomaly():
    import skanomaly  # noqa: F401

    return torch.get_num_threads()


#: Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (glibc returns
#: freed memory to the system eagerly); torch's training then allocates anew
#: at every step. ``None`` leaves the variable unset: glibc's default.
TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def on_cluster(detector_settings, X, y, n_workers, dask_trim=True):
    import dask
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    config = {} if dask_trim else {TRIM: None}
    with (
        dask.config.set(config),
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        worker_threads = sorted(set(client.run(_import_skanomaly).values()))
        started = time.perf_counter() - start
        with joblib.parallel_config(backend="dask"):
            fitted, seconds = timed_search(detector_settings, X, y, threads=1)
    return fitted, seconds, started, worker_threads


def scores(fitted):
    keys = ["mean_test_score", *(f"split{i}_test_score" for i in range(N_SPLITS))]
    return {key: np.asarray(fitted.cv_results_[key]) for key in keys}


def equal(a, b):
    same = all(np.array_equal(x, scores(b)[k]) for k, x in scores(a).items())
    return same and a.best_params_ == b.best_params_


def report(runs, started, worker_threads, settings, n_workers, same, wall, quick):
    cores = os.cpu_count()
    serial_s = runs[0][2]
    rows = [
        [
            name,
            threads,
            f"{seconds:.1f}",
            f"{serial_s / seconds:.2f}",
            f"{np.mean(fitted.cv_results_['mean_fit_time']):.2f}",
            f"{fitted.refit_time_:.2f}",
        ]
        for name, threads, seconds, fitted in runs
    ]
    serial_all = runs[1][3]
    gap = np.max(
        np.abs(
            scores(serial_all)["mean_test_score"]
            - scores(runs[0][3])["mean_test_score"]
        )
    )
    same_best = serial_all.best_params_ == runs[0][3].best_params_
    command = "python benchmarks/scaling_out.py" + (" --quick" if quick else "")
    detector = ", ".join(f"{k}={v}" for k, v in settings["detector"].items())
    lines = [
        "# Scaling out a grid search: serial vs a local Dask cluster",
        "",
        *environment_lines(command, wall),
        f"- Dask {__import__('dask').__version__}, distributed "
        f"{__import__('distributed').__version__}, joblib {joblib.__version__}.",
        f"- Task: `GridSearchCV(ConvAutoEncoder({detector}, random_state={SEED}), "
        f"{GRID}, scoring='roc_auc', cv=OneClassKFold(n_splits={N_SPLITS}, "
        f"random_state={SEED}))` on {settings['n_normal']} Fashion-MNIST training "
        f"images of class 0 and {settings['n_anomalies']} of the other classes "
        f"(anomalies, drawn with seed {SEED}): {len(runs[0][3].cv_results_['params'])}"
        f" candidates x {N_SPLITS} folds = "
        f"{len(runs[0][3].cv_results_['params']) * N_SPLITS} fits, then the refit "
        "of the best candidate on all the images (in this process).",
        f"- Cluster: `distributed.LocalCluster` of {n_workers} worker processes "
        f"with 1 thread each on 127.0.0.1 ({cores} cores), used through "
        "`joblib.parallel_config(backend='dask')`; the workers' torch threads: "
        f"{', '.join(map(str, worker_threads))}. Starting it and importing "
        f"skanomaly on its workers took {started:.1f} s, not counted below.",
        "",
        markdown_table(
            [
                "run",
                "torch threads per fit",
                "seconds",
                "speed-up over serial",
                "seconds per fit (mean)",
                "refit seconds",
            ],
            rows,
        ),
        "",
        "- Dask starts its worker processes with the environment variable "
        "`MALLOC_TRIM_THRESHOLD_=65536` (setting "
        "`distributed.nanny.pre-spawn-environ`), so that glibc returns freed "
        "memory to the system at once, which can slow torch's training (it "
        "frees and allocates large tensors at every step). The last run unsets "
        "it (`dask.config.set({"
        f"'{TRIM}': None}})` before starting the cluster).",
        "- Seconds per fit: `cv_results_['mean_fit_time']` averaged over the "
        "candidates (each fit timed where it ran); the refit of the best "
        "candidate runs in this process after the search.",
        f"- Equal results (each cluster run's `cv_results_` test scores and "
        f"`best_params_` vs the serial run with 1 thread, bit for bit): "
        f"{'yes' if same else 'no'}.",
        f"- The serial run with {runs[1][1]} threads per fit: best parameters "
        f"{'the same' if same_best else 'different'}"
        f", largest difference of a mean test score {gap:.2g} (another thread "
        "count changes the last bits of the sums, and training amplifies them).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, print")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    X, y = load_data(settings["n_normal"], settings["n_anomalies"])
    cores = os.cpu_count()
    start = time.perf_counter()
    runs = []
    for name, threads in (("serial", 1), ("serial, all cores", cores)):
        fitted, seconds = timed_search(settings["detector"], X, y, threads)
        runs.append((name, threads, seconds, fitted))
        print(f"{name}: {seconds:.1f} s", file=sys.stderr)
    same = True
    for dask_trim in (True, False):
        fitted, seconds, started, worker_threads = on_cluster(
            settings["detector"], X, y, args.workers, dask_trim
        )
        name = f"Dask, {args.workers} workers x 1 thread" + (
            ", Dask's defaults" if dask_trim else ", MALLOC_TRIM_THRESHOLD_ unset"
        )
        runs.append((name, 1, seconds, fitted))
        print(f"{name}: {seconds:.1f} s (start {started:.1f} s)", file=sys.stderr)
        same = same and equal(fitted, runs[0][3])
    text = report(
        runs,
        started,
        worker_threads,
        settings,
        args.workers,
        same,
        time.perf_counter() - start,
        args.quick,
    )
    if args.quick:
        print(text)
    else:
        publish(text, DOC)
    if not same:
        sys.exit("the cluster's results differ from the serial run's")


if __name__ == "__main__":
    main()
