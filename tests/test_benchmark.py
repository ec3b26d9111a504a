"""Tests of skanomaly.benchmark and the ``skanomaly benchmark`` command."""

import json
import math
import os
import socket
import sys

import numpy as np
import pytest
from pyod.models.knn import KNN
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

import skanomaly.benchmark as benchmark
import skanomaly.benchmark._cache as benchmark_cache
import skanomaly.benchmark._jobs as benchmark_jobs
import skanomaly.benchmark._keys as benchmark_keys
import skanomaly.benchmark._tasks as benchmark_tasks
from skanomaly import DETECTORS, BaseDeepDetector, ConvAutoEncoder
from skanomaly.benchmark import (
    BenchmarkResults,
    available_detectors,
    load_task,
    make_detector,
    run_benchmark,
)
from skanomaly.cli import main
from skanomaly.preprocessing import ImageFlattener


def _tiny_ae():
    return ConvAutoEncoder(n_filters=4, depth=2, latent_dim=4, max_epochs=1)


def _run(tmp_path=None, **kwargs):
    settings = dict(
        detectors={"AE": _tiny_ae(), "KNN": make_pipeline(ImageFlattener(), KNN())},
        dataset="digits",
        classes=[0, 1],
        seeds=[0],
        verbose=False,
        cache_dir=None if tmp_path is None else tmp_path / "cache",
    )
    settings.update(kwargs)
    return run_benchmark(settings.pop("detectors"), **settings)


def test_tiny_end_to_end_run_produces_the_tables(tmp_path):
    """Check that 2 detectors x 2 classes x 1 epoch give every metric and file."""
    results = _run(tmp_path)
    assert len(results) == 4
    assert results.detectors == ["AE", "KNN"] and results.classes == [0, 1]
    for record in results.records:
        for metric in ("roc_auc", "average_precision", "precision_at_n"):
            assert 0 <= record[metric] <= 1
        assert record["fit_s"] > 0 and record["score_images_per_s"] > 0
        assert record["peak_memory_mb"] is not None
        assert len(record["scores"]) == record["n_test"] == len(record["y_test"])
    markdown = results.to_markdown()
    assert "ROC AUC" in markdown and "precision@n" in markdown
    assert "| AE |" in markdown and "| KNN |" in markdown and "| mean |" in markdown
    assert "pixel ROC AUC" not in markdown  # digits have no masks

    paths = results.save(tmp_path / "out")
    assert sorted(p.name for p in paths) == [
        "results.csv",
        "results.json",
        "results.md",
    ]
    lines = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert lines[0].startswith("detector,dataset,normal_class,seed")
    assert len(lines) == 5
    again = BenchmarkResults.from_json(tmp_path / "out" / "results.json")
    assert again.to_markdown() == markdown
    assert again.settings["dataset"] == "digits"


def test_metrics_match_sklearn_and_pyod():
    """Check the recorded metrics against a direct computation on the scores."""
    from pyod.utils.utility import precision_n_scores
    from sklearn.metrics import average_precision_score, roc_auc_score

    results = _run(detectors={"KNN": make_pipeline(ImageFlattener(), KNN())})
    for r in results.records:
        y, s = np.array(r["y_test"]), np.array(r["scores"])
        assert r["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-6)
        assert r["average_precision"] == pytest.approx(
            average_precision_score(y, s), abs=1e-6
        )
        assert r["precision_at_n"] == pytest.approx(precision_n_scores(y, s))


def test_summary_averages_classes_per_seed_then_seeds():
    """Check the mean ± spread: classes averaged per seed, then over seeds."""
    records = [
        {"detector": "d", "normal_class": c, "seed": s, "roc_auc": v}
        for (c, s, v) in [(0, 0, 0.6), (1, 0, 0.8), (0, 1, 0.8), (1, 1, 1.0)]
    ]
    results = BenchmarkResults(records)
    mean, std, n = results.summary()["d"]
    assert (mean, n) == (pytest.approx(0.8), 2)
    assert std == pytest.approx(np.std([0.7, 0.9], ddof=1))
    header, rows = results.table()
    assert header == ["detector", "0", "1", "mean"]
    assert rows[0][1] == f"0.700 ± {np.std([0.6, 0.8], ddof=1):.3f}"


def test_cache_makes_a_rerun_skip_finished_jobs(tmp_path):
    """Check that a second run loads every job from the cache, same results."""
    first = _run(tmp_path)
    files = sorted((tmp_path / "cache").glob("*.json"))
    assert len(files) == 4
    second = _run(tmp_path)
    assert all(r["cached"] for r in second.records)
    assert [r["roc_auc"] for r in second.records] == [
        r["roc_auc"] for r in first.records
    ]
    # another parameter value is another job
    changed = _run(
        tmp_path,
        detectors={"AE": _tiny_ae().set_params(latent_dim=5)},
        classes=[0],
    )
    assert not changed.records[0]["cached"]
    assert len(list((tmp_path / "cache").glob("*.json"))) == 5


def test_an_interrupted_run_resumes(tmp_path, monkeypatch):
    """Check that jobs finished before an interruption are not run again."""
    real_run_job = benchmark_jobs._run_job
    calls = []

    def interrupted_after_three(*args):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(args[0])
        return real_run_job(*args)

    monkeypatch.setattr(benchmark_jobs, "_run_job", interrupted_after_three)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3
    assert not list((tmp_path / "cache").glob("*.tmp"))

    monkeypatch.setattr(benchmark_jobs, "_run_job", real_run_job)
    results = _run(tmp_path)
    assert [r["cached"] for r in results.records] == [True, True, True, False]


def test_ctrl_c_inside_a_fit_caches_nothing(tmp_path):
    """Check that an interrupt during training reaches the caller uncached.

    The interrupt is raised inside the detector's training loop (where skorch
    would swallow it); the job must not be cached as finished, and the rerun
    trains it for all its epochs, which the record states.
    """
    from skanomaly.utils.estimator_checks import _CtrlCInTraining

    ae = _tiny_ae().set_params(max_epochs=3)
    with pytest.raises(KeyboardInterrupt):
        _run(
            tmp_path,
            detectors={"AE": clone(ae).set_params(callbacks=[_CtrlCInTraining()])},
            classes=[0],
        )
    assert not list((tmp_path / "cache").glob("*"))
    results = _run(tmp_path, detectors={"AE": ae}, classes=[0])
    assert results.records[0]["epochs_run"] == 3
    assert not results.records[0]["cached"]


def test_parallel_jobs_give_the_same_results():
    """Check that n_jobs=2 runs the jobs in workers with the same outcome."""
    serial = _run(classes=[0])
    parallel = _run(classes=[0], n_jobs=2)
    for a, b in zip(serial.records, parallel.records):
        assert a["detector"] == b["detector"]
        np.testing.assert_allclose(a["scores"], b["scores"], rtol=1e-5, atol=1e-6)


def test_every_exported_detector_is_available_with_both_presets():
    """Check that new detectors are picked up by name, with their own presets."""
    names = available_detectors()
    for cls in DETECTORS:
        assert cls.__name__ in names
        assert {"quick", "full", "test", "demo"} <= set(cls.__dict__["presets"]), (
            f"{cls.__name__} should define presets for test, demo, quick and full"
        )
        for preset in ("quick", "full"):
            detector = make_detector(cls.__name__, preset=preset, random_state=3)
            assert isinstance(detector, cls) and detector.random_state == 3
            detector._validate_params()
        if not issubclass(cls, BaseDeepDetector):  # nothing trained, no ablation
            assert cls.__name__ + "-untrained" not in names
            continue
        untrained = make_detector(cls.__name__ + "-untrained", preset="default")
        assert untrained.get_params() == {
            **cls(device="cpu", random_state=0).get_params(),
            "max_epochs": 0,
        }
        assert cls.__name__ + "-untrained" in names
    knn = make_detector("KNN")
    assert isinstance(knn.steps[-1][1], KNN)
    with pytest.raises(ValueError, match="unknown detector 'Nope'.*KNN"):
        make_detector("Nope")
    with pytest.raises(ValueError, match="preset"):
        make_detector("KNN", preset="huge")


def test_estimators_are_cloned_and_seeded():
    """Check that the caller's estimator is not fitted and each seed is set."""
    ae = _tiny_ae()
    results = _run(detectors=[("AE", ae)], classes=[0], seeds=[4, 5])
    assert not hasattr(ae, "net_") and ae.random_state is None
    assert [r["seed"] for r in results.records] == [4, 5]
    assert results.records[0]["scores"] != results.records[1]["scores"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dataset="cifar"), "unknown dataset 'cifar'"),
        (dict(classes=[11]), "no class 11"),
        (dict(seeds=[]), "seeds"),
        (dict(preset="slow"), "preset"),
        (dict(detectors=[]), "empty"),
        (dict(detectors=["AE", "AE"]), "twice"),
        (dict(detectors=[object()]), "name, an estimator"),
        (dict(dataset="mvtec"), "needs data_path"),
        (dict(contamination=1.0), "contamination"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    """Check that each bad argument names what is wrong and what is expected."""
    if kwargs.get("detectors") == ["AE", "AE"]:
        kwargs["detectors"] = [("AE", _tiny_ae()), ("AE", _tiny_ae())]
    with pytest.raises((ValueError, TypeError), match=match):
        _run(**kwargs)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.2])
def test_contaminated_training_sets(p):
    """Check floor(p * n / (1 - p)) anomalies in training; test set fixed."""
    task = load_task("digits", 3, seed=0, contamination=p, n_train=50)
    expected = math.floor(p * 50 / (1 - p))
    assert len(task.X_train) == 50 + expected
    assert task.y_train.sum() == expected
    other = load_task("digits", 3, seed=1, contamination=p, n_train=50)
    np.testing.assert_array_equal(task.X_test, other.X_test)
    assert not np.array_equal(task.X_train, other.X_train)


def test_texture_task_has_masks_and_localization_metrics():
    """Check that textures give masks, pixel ROC AUC, AUPRO and a gallery."""
    pytest.importorskip("skimage")  # the textures extra
    task = load_task("textures", "brick", n_train=10, n_test=8, image_size=16)
    assert task.masks_test.shape == (8, 16, 16) and task.y_test.sum() == 4
    results = run_benchmark(
        {"AE": _tiny_ae()},
        "textures",
        classes=["brick"],
        n_train=10,
        n_test=8,
        image_size=16,
        gallery=True,
        verbose=False,
    )
    record = results.records[0]
    assert 0 <= record["pixel_roc_auc"] <= 1 and 0 <= record["aupro"] <= 1
    assert len(record["gallery"]["maps"]) == 4
    assert "AUPRO" in results.to_markdown()


def test_texture_records_have_metrics_per_defect_type():
    """Check the per-defect-type metrics: good images against one type each."""
    pytest.importorskip("skimage")  # the textures extra
    kwargs = dict(n_train=10, n_test=24, image_size=16)
    task = load_task("textures", "grass", **kwargs)
    kinds = task.defect_types_test
    assert set(kinds[task.y_test == 0]) == {"good"}
    results = run_benchmark(
        {"AE": _tiny_ae()}, "textures", classes=["grass"], verbose=False, **kwargs
    )
    record = results.records[0]
    per_defect = record["per_defect"]
    assert set(per_defect) == set(kinds) - {"good"}
    assert sum(entry["n"] for entry in per_defect.values()) == 12
    scores = np.asarray(record["scores"])
    kind = next(iter(per_defect))
    chosen = (kinds == "good") | (kinds == kind)
    expected = roc_auc_score(task.y_test[chosen], scores[chosen])
    assert per_defect[kind]["roc_auc"] == pytest.approx(expected)
    assert all(0 <= e["pixel_roc_auc"] <= 1 for e in per_defect.values())
    header, rows = results.defect_table("pixel_roc_auc")
    assert header[1:-1] == sorted(per_defect) and rows[0][0] == "AE"
    first, *rest = sorted(per_defect, reverse=True)
    header, _ = results.defect_table(order=[first, "not-drawn"])
    assert header[1:-1] == [first, *sorted(rest)]
    assert "per defect type" in results.to_markdown()


def test_one_class_records_have_no_defect_types():
    """Check that a one-class-vs-rest task names no defect types."""
    results = run_benchmark(
        {"AE": _tiny_ae()}, "digits", classes=[0], n_train=20, verbose=False
    )
    assert results.records[0]["per_defect"] is None
    assert results.defect_table()[1] == []
    assert "per defect type" not in results.to_markdown()


def test_mvtec_folder_categories(tmp_path):
    """Check that an MVTec-style folder is found and its categories run."""
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for category in ("bottle", "cable"):
        root = tmp_path / category
        for sub in ("train/good", "test/good", "test/crack", "ground_truth/crack"):
            (root / sub).mkdir(parents=True)
        for i in range(4):
            for sub in ("train/good", "test/good", "test/crack"):
                image = rng.integers(0, 255, (16, 16), dtype=np.uint8)
                Image.fromarray(image).save(root / sub / f"{i:03d}.png")
            mask = np.zeros((16, 16), dtype=np.uint8)
            mask[4:8, 4:8] = 255
            Image.fromarray(mask).save(
                root / "ground_truth/crack" / f"{i:03d}_mask.png"
            )
    assert benchmark.dataset_classes("mvtec", tmp_path) == ("bottle", "cable")
    results = run_benchmark(
        {"AE": _tiny_ae()}, "mvtec", data_path=tmp_path, verbose=False
    )
    assert results.classes == ["bottle", "cable"]
    assert all(r["aupro"] is not None for r in results.records)
    with pytest.raises(FileNotFoundError, match="train/good"):
        benchmark.dataset_classes("mvtec", tmp_path / "bottle" / "test")


def test_plots_are_written(tmp_path):
    """Check ROC curves, per-class bars and the gallery error without maps."""
    pytest.importorskip("matplotlib")
    results = _run()
    paths = results.save(tmp_path, plots=True)
    names = {p.name for p in paths}
    assert {"roc_curves.png", "per_class_roc_auc.png"} <= names
    for path in paths:
        assert path.stat().st_size > 0
    with pytest.raises(ValueError, match="gallery=True"):
        results.plot_gallery(tmp_path / "g.png")


# -------------------------------------------------------------------- CLI
def test_cli_benchmark_writes_results(tmp_path, capsys):
    """Check a tiny run of the command: table on stdout, files in --out."""
    code = main(
        [
            "benchmark",
            "--dataset",
            "digits",
            "--detectors",
            "KNN,PCA",
            "--classes",
            "0,1",
            "--seeds",
            "0,1",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| KNN |" in out and "over 2 seeds" in out
    assert (tmp_path / "results.md").read_text().strip() == out.strip()
    assert len(list((tmp_path / "cache").glob("*.json"))) == 8
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["settings"]["seeds"] == [0, 1]


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--detectors", "Foo"], 2, "unknown detector 'Foo'; expected names from"),
        (["--dataset", "digits", "--classes", "x"], 2, "classes are digits"),
        (["--dataset", "digits", "--classes", "12"], 2, "no class 12"),
        (["--dataset", "mvtec"], 2, "needs data_path"),
        (["--dataset", "imagenet"], 2, "invalid choice"),
        (["--seeds", "a"], 2, "comma-separated integers"),
    ],
)
def test_cli_benchmark_errors(argv, code, message, capsys, tmp_path):
    """Check that each error exits with its code and says what was expected."""
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "--quiet", "--out", str(tmp_path), *argv])
    assert info.value.code == code
    assert message in capsys.readouterr().err


def test_cli_benchmark_missing_data(monkeypatch, capsys, tmp_path):
    """Check that data that cannot be found offline exits 1 with the loader's hint."""

    def missing(**kwargs):
        raise FileNotFoundError(
            "Fashion-MNIST file train-images-idx3-ubyte.gz not found; "
            "install the Debian package dataset-fashion-mnist"
        )

    monkeypatch.setattr(benchmark_tasks, "fetch_fashion_mnist", missing)
    benchmark_tasks._load.cache_clear()
    with pytest.raises(SystemExit) as info:
        main(
            [
                "benchmark",
                "--detectors",
                "KNN",
                "--classes",
                "0",
                "--quiet",
                "--out",
                str(tmp_path),
            ]
        )
    benchmark_tasks._load.cache_clear()
    assert info.value.code == 1
    assert "dataset-fashion-mnist" in capsys.readouterr().err


def test_cli_lists_detectors(capsys):
    """Check that --list-detectors prints every available name."""
    assert main(["benchmark", "--list-detectors"]) == 0
    out = capsys.readouterr().out
    for name in available_detectors():
        assert name in out


def test_few_optimizer_steps_warn_and_are_recorded():
    """Check that jobs record their optimizer steps, and too few steps warn."""
    with pytest.warns(UserWarning, match="AE trained for 2 optimizer steps"):
        results = _run()
    steps = {r["detector"]: r["optimizer_steps"] for r in results.records}
    # digits: about 90 training images per class, batches of 64, 1 epoch
    assert steps == {"AE": 2, "KNN": None}


def test_cached_only_returns_the_finished_jobs(tmp_path):
    """Check that cached_only runs nothing and returns what the cache holds."""
    assert len(_run(tmp_path, cached_only=True)) == 0
    _run(tmp_path, classes=[0])
    again = _run(tmp_path, cached_only=True)
    assert [(r["detector"], r["normal_class"]) for r in again.records] == [
        ("AE", 0),
        ("KNN", 0),
    ]
    assert all(r["cached"] for r in again.records)


def test_unreadable_cache_files_are_rerun_with_a_warning(tmp_path):
    """Check that truncated, empty or foreign cache files count as missing."""
    first = _run(tmp_path, classes=[0])
    files = sorted((tmp_path / "cache").glob("*.json"))
    assert len(files) == 2
    files[0].write_text('{"detector": "AE", "roc_au')  # truncated
    files[1].write_text("")  # empty
    with pytest.warns(UserWarning, match="unreadable benchmark cache file"):
        again = _run(tmp_path, classes=[0])
    assert [r["cached"] for r in again.records] == [False, False]
    assert [r["roc_auc"] for r in again.records] == [
        r["roc_auc"] for r in first.records
    ]
    # the rerun replaced the bad files: a third run is served from the cache
    assert all(r["cached"] for r in _run(tmp_path, classes=[0]).records)


def test_orphan_temporary_files_are_cleaned(tmp_path):
    """Check that a killed job's temporary file goes, a live process's stays."""
    import os

    cache = tmp_path / "cache"
    cache.mkdir()
    dead = cache / "AE-digits-0-s0-abc.json.999999999.tmp"
    alive = cache / f"AE-digits-0-s0-def.json.{os.getpid()}.tmp"
    dead.write_text("{")
    alive.write_text("{")
    _run(tmp_path, detectors={"KNN": make_pipeline(ImageFlattener(), KNN())})
    assert not dead.exists() and alive.exists()


def test_cache_key_covers_callback_parameters_and_source():
    """Check that a callback's own parameter and the code change the job key."""
    from skorch.callbacks import EarlyStopping

    from skanomaly.benchmark._keys import _job_key, _source_digest

    task = {"dataset": "digits", "normal_class": 0}
    a = _tiny_ae().set_params(callbacks=[EarlyStopping(patience=2)])
    b = _tiny_ae().set_params(callbacks=[EarlyStopping(patience=3)])
    assert _job_key("AE", a, task) != _job_key("AE", b, task)
    assert _job_key("AE", a, task) == _job_key("AE", clone(a), task)
    knn = make_pipeline(ImageFlattener(), KNN())
    assert _source_digest(a) != _source_digest(knn)


def test_cache_key_covers_the_helpers_detectors_share(monkeypatch):
    """Check that a change of skanomaly/detectors/_torch_utils.py changes the key."""
    before = benchmark_keys._source_digest(_tiny_ae())
    code_only = benchmark_keys._code_only

    def edited(source):  # as if the shared blur had been changed
        if b"def gaussian_blur" in source:
            source += b"\nEDITED = 1\n"
        return code_only(source)

    monkeypatch.setattr(benchmark_keys, "_code_only", edited)
    assert benchmark_keys._source_digest(_tiny_ae()) != before


def test_cache_key_covers_the_code_that_builds_the_data(monkeypatch):
    """Check that a change of the data sets' code changes the job key."""
    task = {"dataset": "textures", "normal_class": "brick"}
    before = benchmark_keys._job_key("AE", _tiny_ae(), task)
    assert len(benchmark_keys._data_digest()) == 12
    monkeypatch.setattr(benchmark_keys, "_data_digest", lambda: "changed")
    assert benchmark_keys._job_key("AE", _tiny_ae(), task) != before


def test_plots_leave_pyplot_and_threads_alone(tmp_path):
    """Check that plots and jobs change no process-wide state.

    Plotting neither switches matplotlib's backend nor keeps figures open; a
    job's torch thread count is restored after it.
    """
    import matplotlib
    import torch

    backend = matplotlib.get_backend()
    results = _run(classes=[0, 1], seeds=[0, 1])
    results.save(tmp_path, plots=True)
    assert list(tmp_path.glob("*.png"))
    assert matplotlib.get_backend() == backend
    if "matplotlib.pyplot" in __import__("sys").modules:
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []
    before = torch.get_num_threads()
    _run(classes=[0], n_jobs=1, detectors={"AE": _tiny_ae()})
    benchmark_jobs._run_job(
        "AE", _tiny_ae(), benchmark.load_task("digits", 0), 1, False
    )
    assert torch.get_num_threads() == before


SIGINT_SCRIPT = """
import signal, sys, time
from pathlib import Path
# as in a terminal: a process started in the background of a script inherits
# an ignored SIGINT, and Python then installs no KeyboardInterrupt handler
signal.signal(signal.SIGINT, signal.default_int_handler)
from skorch.callbacks import Callback
from skanomaly import ConvAutoEncoder
from skanomaly.benchmark import run_benchmark

class SlowBatches(Callback):
    def on_batch_end(self, net, **kwargs):
        Path(sys.argv[2]).touch()  # training has started
        time.sleep(0.2)

ae = ConvAutoEncoder(n_filters=4, depth=2, latent_dim=4, max_epochs=500,
                     batch_size=16, callbacks=[SlowBatches()])
run_benchmark({"AE": ae}, "digits", classes=[0], verbose=False,
              cache_dir=sys.argv[1])
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_to_a_benchmark_process_caches_nothing(tmp_path):
    """Check that a real Ctrl-C (SIGINT) during a job stops it uncached."""
    import signal
    import subprocess
    import time

    started = tmp_path / "started"
    process = subprocess.Popen(
        [sys.executable, "-c", SIGINT_SCRIPT, str(tmp_path / "cache"), str(started)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not started.exists():
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode != 0
    assert b"KeyboardInterrupt" in err
    assert not list((tmp_path / "cache").glob("*.json"))
    assert not list((tmp_path / "cache").glob("*.tmp"))


# ------------------------------------------------------ claims of the cache
def _claimed(tmp_path, owner, age=0.0):
    """Run KNN on class 0 once, then leave only a claim of its job by ``owner``."""
    knn = {"KNN": make_pipeline(ImageFlattener(), KNN())}
    first = _run(tmp_path, detectors=knn, classes=[0])
    (record,) = (tmp_path / "cache").glob("*.json")
    text = record.read_text()
    record.unlink()
    lock = record.with_suffix(".lock")
    lock.write_text(json.dumps(owner))
    if age:
        stamp = lock.stat().st_mtime - age
        os.utime(lock, (stamp, stamp))
    return first, knn, record, lock, text


def test_a_dead_process_claim_is_taken_over(tmp_path):
    """Check that the claim of a process no longer running does not block."""
    owner = {"host": socket.gethostname(), "pid": 999999999, "token": "dead"}
    first, knn, record, lock, _ = _claimed(tmp_path, owner)
    again = _run(tmp_path, detectors=knn, classes=[0])
    assert not again.records[0]["cached"]
    assert again.records[0]["scores"] == first.records[0]["scores"]
    assert record.exists() and not lock.exists()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [record.name]


def test_a_claim_not_refreshed_is_taken_over(tmp_path):
    """Check that a claim of another machine counts as stale once not refreshed."""
    import time

    owner = {"host": "another-machine", "pid": os.getpid(), "token": "far"}
    stale = benchmark_cache.STALE_AFTER_S + 1
    assert not benchmark_cache._is_stale(owner, time.time())
    assert not benchmark_cache._is_stale(None, time.time())  # being written
    assert benchmark_cache._is_stale(owner, time.time() - stale)
    _, knn, record, lock, _ = _claimed(tmp_path, owner, age=stale)
    assert not _run(tmp_path, detectors=knn, classes=[0]).records[0]["cached"]
    assert record.exists() and not lock.exists()


def test_a_live_claim_makes_the_job_wait_for_its_record(tmp_path, monkeypatch):
    """Check that a job claimed by a live process is loaded, not run, when done."""
    import threading

    monkeypatch.setattr(benchmark_cache, "POLL_S", 0.05)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "token": "live"}
    first, knn, record, lock, text = _claimed(tmp_path, owner)

    def finish():  # the owner writes the record and releases its claim
        record.write_text(text)
        lock.unlink()

    timer = threading.Timer(0.3, finish)
    timer.start()
    again = _run(tmp_path, detectors=knn, classes=[0])
    timer.join()
    assert again.records[0]["cached"]
    assert again.records[0]["scores"] == first.records[0]["scores"]


def test_breaking_a_stale_claim_keeps_a_fresh_one(tmp_path):
    """Check that a claim made after another was judged stale survives."""
    lock = tmp_path / "job.lock"
    lock.write_text(json.dumps({"host": "h", "pid": 1, "token": "new"}))
    benchmark_cache._break(lock, {"host": "h", "pid": 1, "token": "old"})
    assert json.loads(lock.read_text())["token"] == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["job.lock"]
    benchmark_cache._break(lock, {"host": "h", "pid": 1, "token": "new"})
    assert not list(tmp_path.iterdir())
    lock.write_text("")  # a fresh claim whose owner is still writing it
    benchmark_cache._break(lock, {"host": "h", "pid": 1, "token": "old"})
    assert lock.exists()


def _tiny_gan():
    from skanomaly import EncoderGAN

    return EncoderGAN(n_filters=2, latent_dim=4, max_epochs=1, batch_size=32)


def _raw_norm(detector, task):
    return np.linalg.norm(detector.encode(task.X_test), axis=1)


def test_rescore_adds_rows_of_the_same_fit(tmp_path):
    """Check that rescored variants are rows with their own scores, one fit."""
    from sklearn.metrics import roc_auc_score

    variants = {
        "norm": {"score": "latent_norm"},
        "residual": {"score": "residual"},
        "raw": _raw_norm,  # a callable: a diagnostic
    }
    results = _run(
        tmp_path,
        detectors={"GAN": _tiny_gan()},
        classes=[3],
        rescore={"GAN": variants},
    )
    assert results.detectors == ["GAN", "GAN [norm]", "GAN [residual]", "GAN [raw]"]
    base, norm, residual, raw = results.records
    assert norm["rescored_from"] == residual["rescored_from"] == "GAN"
    assert norm["fit_s"] == base["fit_s"]  # same fit, measured once
    for record, score in ((norm, "latent_norm"), (residual, "residual")):
        y, s = np.array(record["y_test"]), np.array(record["scores"])
        assert record["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-6)
        task = load_task("digits", 3, 0)
        fitted = _tiny_gan().set_params(random_state=0).fit(task.X_train)
        expected = fitted.rescore(task.X_test, score=score)
        np.testing.assert_allclose(s, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        raw["scores"], _raw_norm(fitted, task), rtol=1e-5, atol=1e-6
    )
    assert "GAN [norm]" in results.to_markdown()
    # a rerun loads the variants from the cache; other variants are another job
    again = _run(
        tmp_path, detectors={"GAN": _tiny_gan()}, classes=[3], rescore={"GAN": variants}
    )
    assert all(r["cached"] for r in again.records)
    other = _run(
        tmp_path,
        detectors={"GAN": _tiny_gan()},
        classes=[3],
        rescore={"GAN": {"norm": {"score": "latent_norm"}}},
    )
    assert not other.records[0]["cached"]


@pytest.mark.parametrize(
    "rescore, error, match",
    [
        ([("GAN", {})], TypeError, "must be a dict"),
        ({"other": {}}, ValueError, "not among the detectors"),
        ({"KNN": {"x": {"score": "a"}}}, ValueError, "cannot rescore"),
        ({"GAN": {"x": {"lr": 1.0}}}, ValueError, r"\['lr'\].*scoring parameters"),
        ({"GAN": {"x": "latent_norm"}}, TypeError, r"rescore\['GAN'\]"),
    ],
)
def test_bad_rescore_raises_clear_errors(rescore, error, match):
    detectors = {"GAN": _tiny_gan(), "KNN": make_pipeline(ImageFlattener(), KNN())}
    with pytest.raises(error, match=match):
        _run(detectors=detectors, rescore=rescore)


def test_records_hold_the_training_history():
    """Check that a deep detector's per-epoch losses reach its record."""
    ae = _tiny_ae().set_params(max_epochs=2)
    results = _run(
        detectors={"AE": ae, "KNN": make_pipeline(ImageFlattener(), KNN())}, classes=[0]
    )
    ae_record, knn_record = results.records
    assert [epoch["epoch"] for epoch in ae_record["history"]] == [1, 2]
    assert all(epoch["train_loss"] > 0 for epoch in ae_record["history"])
    assert knn_record["history"] is None
    json.dumps(ae_record["history"])  # plain JSON, no batches


def test_checkpoints_score_during_one_fit_without_changing_it(tmp_path):
    """Check learning-curve rows: the last equals the finished fit, bit for bit."""
    from sklearn.metrics import roc_auc_score

    gan = _tiny_gan().set_params(max_epochs=3)
    rescore = {"GAN": {"norm": {"score": "latent_norm"}, "raw": _raw_norm}}
    curve = _run(
        detectors={"GAN": gan},
        classes=[3],
        checkpoints={"GAN": [0, 2, 3]},
        rescore=rescore,
    )
    plain = _run(detectors={"GAN": gan}, classes=[3], rescore=rescore)
    record, reference = curve.records[0], plain.records[0]
    rows = record["checkpoints"]
    assert [r["epoch"] for r in rows] == [0, 2, 3]
    steps = [r["optimizer_steps"] for r in rows]
    assert steps[0] == 0 and steps[1] < steps[2]
    assert rows[0]["fit_s"] <= rows[1]["fit_s"] <= rows[2]["fit_s"] <= record["fit_s"]
    # scoring in between does not change the training: the fit scores as
    # the one without checkpoints, and the last checkpoint is that fit
    np.testing.assert_array_equal(record["scores"], reference["scores"])
    assert rows[-1]["roc_auc"] == reference["roc_auc"]
    assert set(rows[-1]["rescored"]) == {"norm", "raw"}
    assert rows[-1]["rescored"]["norm"] == pytest.approx(curve.records[1]["roc_auc"])
    # the untrained networks at epoch 0 score as max_epochs=0 does
    task = load_task("digits", 3, 0)
    untrained = _tiny_gan().set_params(max_epochs=0, random_state=0).fit(task.X_train)
    expected = roc_auc_score(task.y_test, untrained.decision_function(task.X_test))
    assert rows[0]["roc_auc"] == pytest.approx(expected, abs=1e-9)
    # cached with its checkpoints, under another key than without
    cached = _run(
        tmp_path,
        detectors={"GAN": gan},
        classes=[3],
        checkpoints={"GAN": [0, 2, 3]},
    )
    again = _run(
        tmp_path,
        detectors={"GAN": gan},
        classes=[3],
        checkpoints={"GAN": [0, 2, 3]},
    )
    assert again.records[0]["cached"] and not cached.records[0]["cached"]
    assert again.records[0]["checkpoints"] == cached.records[0]["checkpoints"]


@pytest.mark.parametrize(
    "checkpoints, match",
    [
        ({"other": [1]}, "not among the detectors"),
        ({"KNN": [1]}, "cannot be checkpointed"),
        ({"GAN": []}, "non-empty list of epochs"),
        ({"GAN": [1.5]}, "non-empty list of epochs"),
        ({"GAN": [-1]}, "non-empty list of epochs"),
    ],
)
def test_bad_checkpoints_raise_clear_errors(checkpoints, match):
    detectors = {"GAN": _tiny_gan(), "KNN": make_pipeline(ImageFlattener(), KNN())}
    with pytest.raises(ValueError, match=match):
        _run(detectors=detectors, checkpoints=checkpoints)


def test_utad_cannot_be_checkpointed():
    from skanomaly import UTAD

    with pytest.raises(ValueError, match="cannot be checkpointed"):
        _run(detectors={"UTAD": UTAD()}, checkpoints={"UTAD": [1]})


def test_source_digest_ignores_docstrings_and_comments():
    """Check that editing documentation keeps a job's key and editing code does not."""
    from skanomaly.benchmark._keys import _code_only

    code = b'"""Module."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # note\n'
    documented = (
        b'"""Module, reworded."""\n\n\ndef f(x):\n    """Other doc."""\n'
        b"    # a comment\n    return x + 1\n"
    )
    changed = b'"""Module."""\n\ndef f(x):\n    """Doc."""\n    return x + 2\n'
    assert _code_only(code) == _code_only(documented)
    assert _code_only(code) != _code_only(changed)
