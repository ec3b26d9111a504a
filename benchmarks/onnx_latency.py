"""Scoring latency of ONNX Runtime against PyTorch, and their agreement.

Each registered detector at its defaults (its network at the default width;
``max_epochs=1``, since training length does not change what scoring costs)
is fitted on the first ``--n-train`` training images of Fashion-MNIST class 0
(seed 0), exported with :func:`skanomaly.export.to_onnx`, and scores
``--n-test`` test images both ways with one thread each: PyTorch through the
detector (``decision_function``, or ``anomaly_map(X, return_scores=True)``
for detectors with maps, since the exported graph returns maps too), ONNX
Runtime through ``InferenceSession.run`` on ``prepare_images(detector, X)``
(validation included), in batches of ``--batch`` images. The two alternate,
``--repeats`` times; the report gives the median milliseconds per image, the
ratio (PyTorch / ONNX Runtime, > 1: ONNX Runtime faster) and the largest
difference of the scores relative to the largest score.

    python benchmarks/onnx_latency.py           # writes docs/benchmarks/onnx_latency.md
    python benchmarks/onnx_latency.py --quick   # smoke run, prints
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table, publish  # noqa: E402

from skanomaly import DETECTORS, BaseDeepDetector  # noqa: E402
from skanomaly.base import AnomalyMapMixin  # noqa: E402
from skanomaly.datasets import fetch_fashion_mnist  # noqa: E402
from skanomaly.export import prepare_images  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(os.path.dirname(HERE), "docs", "benchmarks", "onnx_latency.md")


def _detector(cls, quick):
    params = {"random_state": 0, "device": "cpu"}
    if quick:
        params.update(cls.presets.get("test", {}))
    if issubclass(cls, BaseDeepDetector):
        params["max_epochs"] = 1
    return cls(**params)


def _torch_scores(detector, X, batch):
    scores = []
    for start in range(0, len(X), batch):
        chunk = X[start : start + batch]
        if isinstance(detector, AnomalyMapMixin):
            scores.append(detector.anomaly_map(chunk, return_scores=True)[1])
        else:
            scores.append(detector.decision_function(chunk))
    return np.concatenate(scores)


def _onnx_scores(session, detector, X, batch):
    scores = []
    for start in range(0, len(X), batch):
        images = prepare_images(detector, X[start : start + batch])
        scores.append(session.run(None, {"images": images})[0])
    return np.concatenate(scores)


def measure(cls, X_train, X_test, batch, repeats, quick, tmp):
    import onnxruntime as ort

    detector = _detector(cls, quick).fit(X_train)
    path = detector.to_onnx(os.path.join(tmp, f"{cls.__name__}.onnx"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    _onnx_scores(session, detector, X_test[:batch], batch)  # warm-up
    _torch_scores(detector, X_test[:batch], batch)
    times = {"torch": [], "onnx": []}
    for _ in range(repeats):
        start = time.perf_counter()
        reference = _torch_scores(detector, X_test, batch)
        times["torch"].append(time.perf_counter() - start)
        start = time.perf_counter()
        exported = _onnx_scores(session, detector, X_test, batch)
        times["onnx"].append(time.perf_counter() - start)
    per_image = {k: 1000 * statistics.median(v) / len(X_test) for k, v in times.items()}
    difference = np.max(np.abs(exported - reference)) / np.max(np.abs(reference))
    return {
        "detector": cls.__name__,
        "torch_ms": per_image["torch"],
        "onnx_ms": per_image["onnx"],
        "ratio": per_image["torch"] / per_image["onnx"],
        "difference": float(difference),
        "mb": os.path.getsize(path) / 2**20,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detectors", default=None, help="comma-separated names")
    args = parser.parse_args()
    if args.quick:
        args.n_train, args.n_test, args.repeats = 100, 64, 1
    torch.set_num_threads(1)
    train = fetch_fashion_mnist(subset="train")
    test = fetch_fashion_mnist(subset="test")
    X_train = train.images[train.target == 0][: args.n_train]
    X_test = test.images[: args.n_test]
    chosen = args.detectors.split(",") if args.detectors else None
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cls in DETECTORS:
            if chosen is not None and cls.__name__ not in chosen:
                continue
            if cls._missing_dependencies():
                print(f"skipping {cls.__name__}: {cls._missing_dependencies()}")
                continue
            row = measure(
                cls, X_train, X_test, args.batch, args.repeats, args.quick, tmp
            )
            print(row, flush=True)
            rows.append(row)
    table = markdown_table(
        [
            "detector",
            "PyTorch ms/image",
            "ONNX Runtime ms/image",
            "ratio (PyTorch / ORT)",
            "largest score difference (relative)",
            "model MB",
        ],
        [
            [
                r["detector"],
                f"{r['torch_ms']:.2f}",
                f"{r['onnx_ms']:.2f}",
                f"{r['ratio']:.2f}",
                f"{r['difference']:.1e}",
                f"{r['mb']:.1f}",
            ]
            for r in rows
        ],
    )
    if args.quick:
        print(table)
        return
    command = "python benchmarks/onnx_latency.py"
    lines = [
        "# Scoring latency: ONNX Runtime against PyTorch",
        "",
        *environment_lines(command, time.perf_counter() - started),
        f"- Settings: each detector at its defaults with `max_epochs=1` (the "
        f"default network; training length does not change the cost of scoring), "
        f"fitted on the first {args.n_train} training images of Fashion-MNIST "
        f"class 0, seed 0; {args.n_test} test images scored in batches of "
        f"{args.batch}; one thread for PyTorch and for ONNX Runtime "
        f"(intra- and inter-op); median of {args.repeats} alternating repeats.",
        "- PyTorch: `decision_function`, or `anomaly_map(X, return_scores=True)` "
        "for detectors with maps (the exported graph returns maps too). ONNX "
        "Runtime: `prepare_images` then `InferenceSession.run` (scores, labels "
        "and maps).",
        "- Largest score difference: max |ONNX - PyTorch| over the test images, "
        "divided by the largest PyTorch score. Model MB: the `.onnx` file (memory "
        "banks and Gaussians are constants in it).",
        "",
        table,
        "",
    ]
    publish("\n".join(lines), DOC)


if __name__ == "__main__":
    main()
