"""EncoderGAN: ROC AUC of every score against training iterations, standard protocol.

For each normal class, EncoderGAN trains on all 6,000 training images of the
class; after chosen epochs (and before the first, the untrained networks) the
fit is paused, the training statistics of the scores are computed as ``fit``
computes them, and the whole 10,000-image test split is scored with every
score option (``all_scores``): the latent norm (the paper's), the Gaussian on
the code, the residual and the combined score. Evaluation does not draw random
numbers, so the training run is the one an uninterrupted fit makes; its time
is not counted in the fit seconds.

Variants: the paper's encoder (trained on generated images only) and the
library's departure, ``real_cycle_weight=1`` (the encoder also inverts the
generator on the real training images). PyOD KNN on pixels on the same split
is the baseline.

    python benchmarks/encoder_gan_curve.py                 # writes the report
    python benchmarks/encoder_gan_curve.py --classes 0,5 --variants paper
    python benchmarks/encoder_gan_curve.py --quick         # smoke run, prints

Each finished (class, variant) run is cached as JSON under
``benchmarks/_out/encoder_gan_curve``; reruns only run what is missing, and
the report covers what the cache holds, marking the rest as not run.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from pyod.models.knn import KNN
from sklearn.metrics import roc_auc_score
from skorch.callbacks import Callback

from skanomaly import EncoderGAN
from skanomaly.benchmark import load_task
from skanomaly.datasets import FASHION_MNIST_CLASSES
from skanomaly.detectors.encoder_gan.estimator import SCORES

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table, publish  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "benchmarks", "encoder_gan_curve.md")
PLOT = os.path.join(ROOT, "docs", "benchmarks", "encoder_gan_curve.png")
CACHE = os.path.join(HERE, "_out", "encoder_gan_curve")

#: Settings shared by every variant (CPU-sized networks).
COMMON = dict(n_filters=8, latent_dim=128, batch_size=64, lr=2e-4, random_state=0)
VARIANTS = {
    "paper": {},
    "real-cycle": dict(real_cycle_weight=1.0),
}
CHECKPOINTS = (0, 1, 2, 3, 4, 6, 8, 12)
CLASSES = (0, 5, 6)


class _Evaluate(Callback):
    """Scores the test split with every score option after chosen epochs."""

    def __init__(self, detector, X_train, X_test, y_test, checkpoints):
        self.detector = detector
        self.X_train, self.X_test, self.y_test = X_train, X_test, y_test
        self.checkpoints = checkpoints
        self.rows = []
        self.eval_seconds = 0.0
        self.start = None

    def __deepcopy__(self, memo):  # the detector copies its callbacks
        return self

    def evaluate(self, net, epoch):
        started = time.perf_counter()
        detector = self.detector
        detector.net_, detector.module_ = net, net.module_
        net.module_.eval()
        with torch.inference_mode():
            detector._fit_statistics(detector._check_images(self.X_train))
        scores = detector.all_scores(self.X_test)
        net.module_.train()
        steps = epoch * int(np.ceil(len(self.X_train) / detector.batch_size))
        fit_seconds = started - self.start - self.eval_seconds
        row = dict(epoch=epoch, iterations=steps, fit_seconds=fit_seconds)
        for name in (*SCORES, "latent_norm_raw"):
            row[name] = float(roc_auc_score(self.y_test, scores[name]))
        self.rows.append(row)
        self.eval_seconds += time.perf_counter() - started
        print(f"    epoch {epoch}: {row}", file=sys.stderr, flush=True)

    def on_train_begin(self, net, **kwargs):
        if self.start is None:
            self.start = time.perf_counter()
            if 0 in self.checkpoints:
                self.evaluate(net, 0)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch in self.checkpoints:
            self.evaluate(net, epoch)


def run_one(task, variant, checkpoints):
    params = {**COMMON, **VARIANTS[variant], "max_epochs": max(checkpoints)}
    detector = EncoderGAN(**params)
    evaluate = _Evaluate(detector, task.X_train, task.X_test, task.y_test, checkpoints)
    detector.set_params(callbacks=[evaluate])
    detector.fit(task.X_train)
    return dict(params={k: v for k, v in params.items()}, rows=evaluate.rows)


def knn_auc(task):
    X_train = task.X_train.reshape(len(task.X_train), -1)
    X_test = task.X_test.reshape(len(task.X_test), -1)
    knn = KNN().fit(X_train)
    return float(roc_auc_score(task.y_test, knn.decision_function(X_test)))


def _path(cls, variant):
    return os.path.join(CACHE, f"class{cls}_{variant}.json")


def run(classes, variants, checkpoints, n_train, n_test, cache):
    results = {}
    for cls in classes:
        task = load_task("fashion-mnist", cls, seed=0, n_train=n_train, n_test=n_test)
        for variant in variants:
            path = _path(cls, variant)
            if cache and os.path.exists(path):
                with open(path) as f:
                    results[cls, variant] = json.load(f)
                continue
            print(f"class {cls}, {variant}", file=sys.stderr, flush=True)
            started = time.perf_counter()
            record = run_one(task, variant, checkpoints)
            record["knn"] = knn_auc(task)
            record["wall_seconds"] = time.perf_counter() - started
            results[cls, variant] = record
            if cache:
                os.makedirs(CACHE, exist_ok=True)
                with open(path + ".tmp", "w") as f:
                    json.dump(record, f)
                os.replace(path + ".tmp", path)
    return results


def _plot(results, classes, variants):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [c for c in classes if any((c, v) in results for v in variants)]
    size = (4.2 * len(shown), 3.4)
    fig, axes = plt.subplots(1, len(shown), figsize=size, squeeze=False)
    styles = {"paper": "-", "real-cycle": "--"}
    colours = {"latent_norm": "C0", "latent_gaussian": "C1", "residual": "C2"}
    for ax, cls in zip(axes[0], shown):
        knn = None
        for variant in variants:
            record = results.get((cls, variant))
            if record is None:
                continue
            knn = record["knn"]
            steps = [r["iterations"] for r in record["rows"]]
            for score, colour in colours.items():
                ax.plot(
                    steps,
                    [r[score] for r in record["rows"]],
                    styles.get(variant, ":"),
                    color=colour,
                    marker="o",
                    ms=3,
                    label=f"{score} ({variant})",
                )
        if knn is not None:
            ax.axhline(knn, color="grey", lw=1, label="pixel KNN")
        ax.set_title(f"class {cls} ({FASHION_MNIST_CLASSES[cls]})")
        ax.set_xlabel("GAN iterations (batches of 64)")
        ax.set_ylim(0.3, 1.0)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test ROC AUC")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


def report(results, classes, variants, checkpoints, threads):
    lines = [
        "# EncoderGAN: ROC AUC against training iterations",
        "",
        "Fashion-MNIST one class vs rest, all 6,000 training images of the class,",
        "the whole 10,000-image test split, seed 0. Settings: "
        + ", ".join(f"`{k}={v}`" for k, v in COMMON.items() if k != "random_state")
        + f"; torch threads: {threads}.",
        "One iteration = one critic, one generator and one encoder step on a",
        "batch of 64; 94 iterations per epoch. Iteration 0",
        "is the untrained networks, scored the same way. Fit seconds exclude the",
        "evaluations; other benchmark jobs shared the two cores, so they are",
        "indicative. `latent_norm_raw` is the ROC AUC of the raw norm `||E(x)||`",
        "(high = anomalous), a diagnostic of the side anomalies fall on, not a score.",
        "",
    ]
    missing = [(c, v) for c in classes for v in variants if (c, v) not in results]
    if missing:
        lines += [
            "**Partial**: not run yet: "
            + ", ".join(f"class {c} {v}" for c, v in missing)
            + ".",
            "",
        ]
    columns = [*SCORES, "latent_norm_raw"]
    for cls in classes:
        for variant in variants:
            record = results.get((cls, variant))
            if record is None:
                continue
            lines += [
                f"## Class {cls} ({FASHION_MNIST_CLASSES[cls]}), {variant}"
                f" (pixel KNN {record['knn']:.3f})",
                "",
            ]
            header = ["iterations", "fit s", *columns]
            rows = [
                [
                    str(r["iterations"]),
                    f"{r['fit_seconds']:.0f}",
                    *[f"{r[c]:.3f}" for c in columns],
                ]
                for r in record["rows"]
            ]
            lines += [markdown_table(header, rows), ""]
    lines += ["![ROC AUC against iterations](encoder_gan_curve.png)", ""]
    wall = sum(r["wall_seconds"] for r in results.values())
    lines += environment_lines("python benchmarks/encoder_gan_curve.py", wall)
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default=",".join(map(str, CLASSES)))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run, prints")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    classes = [int(c) for c in args.classes.split(",")]
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; expected some of {list(VARIANTS)}")
    if args.quick:
        results = run(classes[:1], variants, (0, 1), 128, 256, cache=False)
        for key, record in results.items():
            print(key, record["rows"][-1], "knn", record["knn"])
        return
    if args.report_only:
        results = {
            (c, v): json.load(open(_path(c, v)))
            for c in classes
            for v in variants
            if os.path.exists(_path(c, v))
        }
    else:
        results = run(classes, variants, CHECKPOINTS, 6000, 10000, cache=True)
    _plot(results, classes, variants)
    publish(report(results, classes, variants, CHECKPOINTS, args.threads), DOC)


if __name__ == "__main__":
    main()
