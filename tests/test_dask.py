"""Grid searches and benchmarks on a Dask cluster, through joblib's Dask backend.

One local cluster (two worker processes with one thread each, on 127.0.0.1)
serves every test. Serial runs in this process use as many torch and BLAS
threads as a job on a worker, so that results can be compared bit for bit.
"""

import os
import sys

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import cloudpickle  # noqa: E402
import joblib  # noqa: E402
import torch  # noqa: E402
from pyod.models.knn import KNN  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

from skanomaly import ConvAutoEncoder  # noqa: E402
from skanomaly.benchmark import run_benchmark  # noqa: E402
from skanomaly.benchmark._parallel import (  # noqa: E402
    job_threads,
    limited_threads,
    plan_threads,
)
from skanomaly.model_selection import OneClassKFold  # noqa: E402
from skanomaly.preprocessing import ImageFlattener  # noqa: E402

#: Measurements that differ from run to run; every other field must be equal.
TIMINGS = {"fit_s", "score_images_per_s", "peak_memory_mb", "cached"}


@pytest.fixture(scope="module")
def client():
    # the workers do not import this module: send its functions and classes
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _job_threads():
    """Threads of a benchmark job on the cluster: cores // two worker threads."""
    return max(1, joblib.cpu_count() // 2)


def _digits(n_anomalies=40):
    X, digit = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8) / 16
    anomalies = np.flatnonzero(digit != 0)[:n_anomalies]
    X = np.concatenate([X[digit == 0], X[anomalies]])
    y = np.r_[np.zeros(np.sum(digit == 0), int), np.ones(n_anomalies, int)]
    return X, y


def _tiny_ae(**params):
    settings = {**ConvAutoEncoder.presets["test"], "device": "cpu", "random_state": 0}
    return ConvAutoEncoder(**{**settings, **params})


def test_grid_search_on_the_cluster_equals_the_serial_one(client):
    """Check GridSearchCV under parallel_config(backend='dask') against serial."""
    X, y = _digits()

    def search():
        return GridSearchCV(
            _tiny_ae(),
            {"latent_dim": [2, 4], "lr": [1e-3, 1e-2]},
            scoring="roc_auc",
            cv=OneClassKFold(n_splits=3, random_state=0),
        )

    with limited_threads(1):  # the workers' torch and BLAS run one thread each
        serial = search().fit(X, y)
        with joblib.parallel_config(backend="dask"):
            scaled = search().fit(X, y)
        local = _tiny_ae(**scaled.best_params_).fit(X)  # refit: all of X
    for key in ("mean_test_score", *(f"split{i}_test_score" for i in range(3))):
        np.testing.assert_array_equal(scaled.cv_results_[key], serial.cv_results_[key])
    assert scaled.best_params_ == serial.best_params_
    assert np.isfinite(scaled.cv_results_["mean_test_score"]).all()
    np.testing.assert_array_equal(
        scaled.best_estimator_.decision_function(X), local.decision_function(X)
    )


def _detectors(callbacks=None):
    return {
        "AE": _tiny_ae(callbacks=callbacks),
        "KNN": make_pipeline(ImageFlattener(), KNN()),
    }


def _bench(**kwargs):
    settings = dict(dataset="digits", classes=[0, 1], seeds=[0], verbose=False)
    return run_benchmark(_detectors(kwargs.pop("callbacks", None)), **settings | kwargs)


def _untimed(record):
    """A record without its timings (the history's epoch durations included)."""
    out = {k: v for k, v in record.items() if k not in TIMINGS}
    if out.get("history"):
        out["history"] = [
            {k: v for k, v in epoch.items() if k != "dur"} for epoch in out["history"]
        ]
    return out


def _same_records(a, b):
    assert len(a.records) == len(b.records)
    for ra, rb in zip(a.records, b.records):
        assert _untimed(ra) == _untimed(rb)


def test_benchmark_on_the_cluster_equals_the_serial_one(client):
    """Check run_benchmark's records on the cluster against a serial run."""
    with joblib.parallel_config(backend="dask"):
        assert plan_threads(None) == {"127.0.0.1": _job_threads()}
        scaled = _bench()
    with limited_threads(_job_threads()):
        serial = _bench(n_jobs=1)
    _same_records(scaled, serial)
    for metric in ("roc_auc", "average_precision", "precision_at_n"):
        assert scaled.table(metric) == serial.table(metric)


def _threads_in_a_job(plan):
    from threadpoolctl import threadpool_info

    with limited_threads(job_threads(plan)):
        blas = [pool["num_threads"] for pool in threadpool_info()]
        return torch.get_num_threads(), max(blas, default=None)


def test_jobs_limit_their_threads_on_each_worker(client):
    """Check that a job sets torch's and BLAS's threads to its host's share."""
    # Dask starts its workers with OMP_NUM_THREADS=1 (and MKL, OpenBLAS): the
    # fits of a grid search run one torch thread each
    assert set(client.run(torch.get_num_threads).values()) == {1}
    plan = {"127.0.0.1": 2, "elsewhere": 5}
    torch_threads, blas_threads = client.submit(_threads_in_a_job, plan).result()
    assert torch_threads == 2 and blas_threads in (2, None)
    assert job_threads(plan) is None  # in the client, nothing to resolve


def _fit_on_a_worker(X):
    return _tiny_ae().fit(X)


def test_a_detector_fitted_on_a_worker_comes_back_intact(client):
    """Check that a detector fitted in another process scores as a local fit."""
    X, y = _digits()
    remote = client.submit(_fit_on_a_worker, X[y == 0], pure=False).result()
    with limited_threads(1):
        local = _fit_on_a_worker(X[y == 0])
    assert remote.device == "cpu" and remote is not local
    np.testing.assert_array_equal(
        remote.decision_function(X), local.decision_function(X)
    )


class _Fault(Callback):
    """Kill the process at the first training (until ``flag`` exists); log fits."""

    def __init__(self, flag, log):
        self.flag = flag
        self.log = log

    def on_train_begin(self, net, **kwargs):
        if not os.path.exists(self.flag):
            open(self.flag, "w").close()
            os._exit(1)  # the worker process dies in the middle of the job

    def on_train_end(self, net, **kwargs):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")


def _cache_files(cache):
    names = sorted(p.name for p in cache.iterdir())
    assert not [n for n in names if not n.endswith(".json")], names
    return names


def test_two_runs_on_one_cache_run_each_job_once(client, tmp_path):
    """Check two concurrent benchmarks, one per worker, sharing a cache folder."""
    flag, log, cache = tmp_path / "flag", tmp_path / "fits", tmp_path / "cache"
    flag.touch()  # no fault
    callbacks = [_Fault(str(flag), str(log))]
    client.wait_for_workers(2)
    workers = sorted(client.scheduler_info()["workers"])
    runs = [
        client.submit(
            _bench,
            classes=classes,
            callbacks=callbacks,
            cache_dir=cache,
            workers=[worker],
            pure=False,
        )
        for worker, classes in zip(workers, ([0, 1], [1, 0]))
    ]
    first, second = (run.result() for run in runs)
    assert len(log.read_text().splitlines()) == 2  # one fit per AE job
    assert len(_cache_files(cache)) == 4
    by_job = {(r["detector"], r["normal_class"]): r for r in second.records}
    for r in first.records:
        other = by_job[r["detector"], r["normal_class"]]
        assert r["scores"] == other["scores"]
        assert r["cached"] != other["cached"]  # one run ran it, the other loaded it


def test_a_worker_killed_mid_job_leaves_every_job_once(client, tmp_path):
    """Check a worker process exiting inside a job: the run still finishes.

    The scheduler runs the killed worker's job again on a worker alive; that
    job takes over the claim of the dead process and runs once to the end.
    """
    flag, log, cache = tmp_path / "flag", tmp_path / "fits", tmp_path / "cache"
    client.wait_for_workers(2)
    with joblib.parallel_config(backend="dask"):
        results = _bench(callbacks=[_Fault(str(flag), str(log))], cache_dir=cache)
    assert flag.exists()  # a worker did die
    assert len(results) == 4
    assert len(log.read_text().splitlines()) == 2
    assert len(_cache_files(cache)) == 4
    with limited_threads(_job_threads()):
        serial = _bench(n_jobs=1)
    _same_records(results, serial)
